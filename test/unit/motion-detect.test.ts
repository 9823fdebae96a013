// Motion detection on the simulated camera's scripted scenes: events where the script puts motion (a person
// crossing, a door opening), none on a static room, sensor noise or slowly changing light; a mask hides motion in its
// region; settings change the sensitivity live; the script is chosen over the sim bus. Frames come from the
// simulated stream on a fake clock, decoded with jpeg-js (the portable path). Each script is played and decoded once
// (at 160×120, the size motion is found at) and its frames shared by the tests that run detectors over them.
import assert from "node:assert/strict";
import { MotionDetector, grayFromJpeg, NotAJpegError, parseMask, thresholdOf, type FrameMeta, type Gray, type MotionOptions } from "../../nodes/lib/camera/motion";
import type { MotionEvent } from "../../nodes/lib/camera/types";
import { topics } from "../../nodes/lib/contract";
import { simDrivers } from "../../nodes/lib/drivers/factory";
import { SIM_MOTION_SCRIPTS, motionSpans } from "../../nodes/lib/drivers/sim/motion-scenes";
import { FakeClock } from "../support/fake-clock";
import { MemoryBus } from "../support/fake-sim-bus";

const W = 160;
const H = 120;

interface Recording {
  /** Each frame's small image and its time (ms from the script's start). */
  frames: Array<{ gray: Gray; meta: FrameMeta; t: number }>;
  bus: MemoryBus;
}

/** Plays `script` on the simulated stream for `seconds` at `fps` on a fake clock, each JPEG decoded once. */
async function record(script: string, seconds: number, fps: number): Promise<Recording> {
  const clock = new FakeClock(Date.UTC(2026, 5, 1));
  const bus = new MemoryBus("cam");
  const stream = simDrivers(bus, clock, mulberry(7), { motionScript: script }).cameraStream({ width: W, height: H, fps, rotation: 0 });
  const t0 = clock.now();
  const decoded = new Map<Buffer, Gray>(); // the stream sends an unchanged scene's JPEG again: decoded once
  const frames: Recording["frames"] = [];
  const off = stream.subscribe((frame) => {
    let gray = decoded.get(frame.jpeg);
    if (!gray) decoded.set(frame.jpeg, (gray = grayFromJpeg(frame.jpeg)));
    frames.push({ gray, meta: { at: frame.at, seq: frame.seq, width: frame.width, height: frame.height }, t: frame.at - t0 });
  });
  await Promise.resolve(); // the stream starts its camera after its (empty) previous stop
  for (let t = 0; t < seconds * 1000; t += 100) clock.tick(100);
  off();
  return { frames, bus };
}

const recordings = new Map<string, Promise<Recording>>();
/** One recording per script, length and rate, shared by the tests. */
function recorded(script: string, seconds: number, fps: number): Promise<Recording> {
  const key = `${script}|${seconds}|${fps}`;
  if (!recordings.has(key)) recordings.set(key, record(script, seconds, fps));
  return recordings.get(key)!;
}

/** Runs a detector over a recording; `change` applies new options before the first frame after `change.after` ms. */
function detect(rec: Recording, options: Partial<MotionOptions> = {}, change?: { after: number; options: Partial<MotionOptions> }) {
  const detector = new MotionDetector("cam", { settleMs: 2000, ...options });
  const events: Array<MotionEvent & { t: number }> = [];
  let changed = false;
  for (const { gray, meta, t } of rec.frames) {
    if (change && !changed && t > change.after) {
      detector.update(change.options);
      changed = true;
    }
    const r = detector.feed(gray, meta);
    if (r.event) events.push({ ...r.event, t });
  }
  return events;
}

function mulberry(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("motion detection on simulated scenes", function () {
  this.timeout(20_000);
  const person = () => recorded("person", 17, 5);

  it("a person crossing: one event starting within a few frames of the script's start, ending after it ends", async () => {
    const [span] = motionSpans(SIM_MOTION_SCRIPTS.person!);
    const rec = await person();
    assert.ok(rec.frames.length >= 84, `${rec.frames.length} frames`);
    const events = detect(rec);
    assert.deepEqual(events.map((e) => e.kind), ["start", "end"], JSON.stringify(events));
    const [start, end] = events;
    assert.ok(start!.t >= span!.start && start!.t <= span!.start + 5 * 200, `start at ${start!.t} ms, the person at ${span!.start}`);
    assert.ok(end!.t >= span!.end, `end at ${end!.t} ms, the person gone at ${span!.end}`);
    assert.equal(end!.startedAt, start!.at);
    assert.ok(end!.score >= 1 && end!.score >= start!.score);
    assert.ok(end!.box && end!.box.w > W / 2, `the box spans the walk: ${JSON.stringify(end!.box)}`);
    assert.equal(end!.device, "cam");
  });

  it("a door opening and shutting: an event for each, each starting as it moves", async () => {
    const spans = motionSpans(SIM_MOTION_SCRIPTS.door!);
    const events = detect(await recorded("door", 30, 5));
    const starts = events.filter((e) => e.kind === "start");
    const ends = events.filter((e) => e.kind === "end");
    assert.equal(starts.length, 2, JSON.stringify(events));
    for (const [i, span] of spans.entries()) {
      assert.ok(starts[i]!.t >= span.start && starts[i]!.t <= span.start + 1000, `start ${starts[i]!.t} for ${span.start}`);
      assert.ok(ends[i]!.t >= span.end, `end ${ends[i]!.t} after ${span.end}`);
    }
  });

  for (const [script, seconds, fps] of [["static", 10, 5], ["noise", 8, 5], ["slow-light", 60, 1]] as const) {
    it(`no motion on ${script}`, async () => {
      const rec = await recorded(script, seconds, fps);
      assert.ok(rec.frames.length >= seconds * fps - 1, `${rec.frames.length} frames`);
      const events = detect(rec);
      assert.deepEqual(events, []);
    });
  }

  it("a mask over where the person walks hides the motion", async () => {
    const rec = await person();
    assert.deepEqual(detect(rec, { mask: parseMask("0,0.2,1,0.8") }), []);
    // the same frames without the mask: the crossing is seen (the mask, not the frames, hid it)
    assert.deepEqual(detect(rec).map((e) => e.kind), ["start", "end"]);
  });

  it("settings change sensitivity at once: none at sensitivity 1 with 40 % area, then the crossing is seen", async () => {
    const rec = await person();
    assert.deepEqual(detect(rec, { sensitivity: 1, minAreaPercent: 40 }), [], "insensitive throughout: nothing");
    const events = detect(rec, { sensitivity: 1, minAreaPercent: 40 }, { after: 4000, options: { sensitivity: 50, minAreaPercent: 1 } });
    assert.deepEqual(events.map((e) => e.kind), ["start", "end"]);

    const quiet = detect(rec, {}, { after: 4000, options: { sensitivity: 1, minAreaPercent: 40 } });
    assert.deepEqual(quiet, []);
  });

  it("the script is chosen over the sim bus and the one playing is retained", async () => {
    const { bus } = await record("static", 2, 5);
    assert.deepEqual(bus.last(topics.simState("cam", "motion")), { topic: "pifog/cam/sim/motion", payload: "static", retain: true });
    bus.deliver(topics.simSet("cam", "motion"), "Person");
    assert.equal(bus.last(topics.simState("cam", "motion"))!.payload, "person");
    bus.deliver(topics.simSet("cam", "motion"), "dancing");
    assert.match(bus.warnings.at(-1)!, /"dancing" is not one of static, noise, slow-light, person, door, demo/);
  });

  it("maps sensitivity to a threshold, parses masks and refuses what is not a JPEG", () => {
    assert.ok(thresholdOf(100) < thresholdOf(50) && thresholdOf(50) < thresholdOf(1));
    assert.deepEqual(parseMask("0.1,0.2,0.3,0.4\n\n# a tree\n0 0 1 0.1"), [{ x: 0.1, y: 0.2, w: 0.3, h: 0.4 }, { x: 0, y: 0, w: 1, h: 0.1 }]);
    assert.throws(() => parseMask("0.5,0.5,2,1"), /mask line 1/);
    assert.throws(() => parseMask("a tree"), /not x,y,w,h/);
    assert.throws(() => grayFromJpeg(Buffer.from("hello")), NotAJpegError);
    assert.throws(() => grayFromJpeg(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3])), NotAJpegError);
  });
});
