// Motion detection on the simulated camera's scripted scenes: events where the script puts motion (a person
// crossing, a door opening), none on a static room, sensor noise or slowly changing light; a mask hides motion in its
// region; settings change the sensitivity live; the script is chosen over the sim bus. Frames come from the
// simulated stream on a fake clock, decoded with jpeg-js (the portable path).
import assert from "node:assert/strict";
import { MotionDetector, grayFromJpeg, NotAJpegError, parseMask, thresholdOf, type MotionOptions } from "../../nodes/lib/camera/motion";
import type { MotionEvent } from "../../nodes/lib/camera/types";
import { topics } from "../../nodes/lib/contract";
import { simDrivers } from "../../nodes/lib/drivers/factory";
import { SIM_MOTION_SCRIPTS, motionSpans } from "../../nodes/lib/drivers/sim/motion-scenes";
import { FakeClock } from "../support/fake-clock";
import { MemoryBus } from "../support/fake-sim-bus";

const W = 160;
const H = 120;

/** Plays `script` for `seconds` at `fps` and runs every frame through a detector; returns its events. */
function play(script: string, seconds: number, fps: number, options: Partial<MotionOptions> = {}, during?: (t: number, d: MotionDetector) => void) {
  const clock = new FakeClock(Date.UTC(2026, 5, 1));
  const bus = new MemoryBus("cam");
  const stream = simDrivers(bus, clock, mulberry(7), { motionScript: script }).cameraStream({ width: W, height: H, fps, rotation: 0 });
  const detector = new MotionDetector("cam", { settleMs: 2000, ...options });
  const t0 = clock.now();
  const events: Array<MotionEvent & { t: number }> = [];
  let frames = 0;
  const off = stream.subscribe((frame) => {
    frames++;
    const r = detector.feed(grayFromJpeg(frame.jpeg), frame);
    if (r.event) events.push({ ...r.event, t: frame.at - t0 });
  });
  return {
    run: async () => {
      await Promise.resolve(); // the stream starts its camera after its (empty) previous stop
      for (let t = 0; t < seconds * 1000; t += 100) {
        during?.(t, detector);
        clock.tick(100);
      }
      off();
      return { events, frames, bus };
    },
  };
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
  this.timeout(60_000);

  it("a person crossing: one event starting within a few frames of the script's start, ending after it ends", async () => {
    const [span] = motionSpans(SIM_MOTION_SCRIPTS.person!);
    const { events, frames } = await play("person", 17, 5).run();
    assert.ok(frames >= 84, `${frames} frames`);
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
    const { events } = await play("door", 30, 5).run();
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
      const { events } = await play(script, seconds, fps).run();
      assert.deepEqual(events, []);
    });
  }

  it("a mask over where the person walks hides the motion", async () => {
    const { events } = await play("person", 17, 5, { mask: parseMask("0,0.2,1,0.8") }).run();
    assert.deepEqual(events, []);
  });

  it("settings change sensitivity at once: none at sensitivity 1 with 40 % area, then the crossing is seen", async () => {
    const { events } = await play("person", 17, 5, { sensitivity: 1, minAreaPercent: 40 }, (t, d) => {
      if (t === 4000) d.update({ sensitivity: 50, minAreaPercent: 1 });
    }).run();
    assert.deepEqual(events.map((e) => e.kind), ["start", "end"]);

    const quiet = await play("person", 17, 5, {}, (t, d) => {
      if (t === 4000) d.update({ sensitivity: 1, minAreaPercent: 40 });
    }).run();
    assert.deepEqual(quiet.events, []);
  });

  it("the script is chosen over the sim bus and the one playing is retained", async () => {
    const p = play("static", 2, 5);
    const run = p.run();
    const { events, bus } = await run;
    assert.deepEqual(events, []);
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
