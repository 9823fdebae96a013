// The motion-detect node against a real broker: frames of the simulated camera's scripted scenes (a person crossing)
// go in as camera-stream sends them; every frame passes on with msg.motion, start and end go to output 2 and are
// published QoS 1 on skycamTopics.motion(device), where a real subscriber receives them. A settings message applies
// sensitivity and mask at once; what is not a JPEG is refused (status, dead letter, done(err)) and the next frame works.
import assert from "node:assert/strict";
import type { FrameMessage, MotionEvent, SettingsMessage } from "../../nodes/lib/camera/types";
import { DEFAULT_CAMERA_SETTINGS } from "../../nodes/lib/camera/types";
import { skycamTopics } from "../../nodes/lib/contract";
import { DeadLetterFile } from "../../nodes/lib/dead-letter";
import { SIM_MOTION_SCRIPTS, SceneRenderer, motionSpans } from "../../nodes/lib/drivers/sim/motion-scenes";
import { JpegEncoder } from "../../nodes/lib/image/jpeg-encoder";
import motionDetect from "../../nodes/motion-detect/motion-detect";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import { FakeClock } from "../support/fake-clock";
import { TestClient } from "../support/mqtt";
import { deviceNode, helper, loadUntilOnline, startHarness, type Harness } from "../support/node-harness";
import { until } from "../support/until";
import { statusesOf } from "../support/statuses";

const nodes = [pifogDevice, motionDetect];
const W = 160;
const H = 120;
const FPS = 5;
const SECONDS = 17;
const MOTION = skycamTopics.motion("cam1");

/** The person script at 160×120, 5 fps, 17 s: [ms from its start, JPEG]; rendered once for every test. */
let scene: Array<{ t: number; jpeg: Buffer }> | null = null;
function personFrames(): Array<{ t: number; jpeg: Buffer }> {
  if (scene) return scene;
  const renderer = new SceneRenderer(W, H, () => 0.5);
  const encoder = new JpegEncoder(75);
  const byKey = new Map<string, Buffer>();
  scene = [];
  for (let t = 1000 / FPS; t <= SECONDS * 1000; t += 1000 / FPS) {
    const key = renderer.key(SIM_MOTION_SCRIPTS.person!, t)!;
    let jpeg = byKey.get(key);
    if (!jpeg) byKey.set(key, (jpeg = encoder.encode({ width: W, height: H, data: renderer.render(SIM_MOTION_SCRIPTS.person!, t) })));
    scene.push({ t, jpeg });
  }
  return scene;
}

function motionFlow(url: string) {
  return [
    deviceNode("cam1", url, { role: "camerapi" }),
    { id: "md", type: "motion-detect", z: "tab", device: "cfg-cam1", sensitivity: 50, minArea: 1, mask: "", settle: 2, wires: [["out"], ["events"]] },
    { id: "out", type: "helper", z: "tab" },
    { id: "events", type: "helper", z: "tab" },
    { id: "catcher", type: "catch", z: "tab", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper", z: "tab" },
    { id: "tab", type: "tab" },
  ];
}

describe("motion-detect node", function () {
  this.timeout(30_000);
  let h: Harness;
  let clock: FakeClock;
  let out: Array<FrameMessage & { motion: { score: number; active: boolean } }>;
  let events: Array<{ topic: string; payload: MotionEvent }>;
  let seq = 0;

  beforeEach(async () => {
    h = await startHarness();
    clock = new FakeClock(Date.UTC(2026, 5, 1, 12));
    h.useServices({ clock });
    await loadUntilOnline(h, nodes, motionFlow(h.url), "cam1");
    out = [];
    events = [];
    helper.getNode("out")!.on("input", (m: unknown) => out.push(m as (typeof out)[0]));
    helper.getNode("events")!.on("input", (m: unknown) => events.push(m as (typeof events)[0]));
  });
  afterEach(async () => {
    await h.close();
  });

  const frameMsg = (jpeg: Buffer, at: number): FrameMessage => ({ payload: jpeg, frame: { at, seq: ++seq, width: W, height: H, device: "cam1" } });

  /** Feeds the crossing as camera-stream would send it, starting at `from` (ms); a few frames at a time, as they
   * are detected (a backlog beyond 20 frames passes on undetected, by design). */
  async function feedCrossing(from: number): Promise<void> {
    const md = helper.getNode("md")!;
    const frames = personFrames();
    for (let i = 0; i < frames.length; i += 10) {
      const batch = frames.slice(i, i + 10);
      const target = out.length + batch.length;
      for (const f of batch) md.receive(frameMsg(f.jpeg, from + f.t) as never);
      await until(() => out.length >= target, `${target} frames through`, 10_000, () => out.length);
    }
  }

  it("passes every frame on with its motion, sends start and end on output 2 and publishes them QoS 1", async () => {
    const subscriber = await TestClient.connect(h.url, h.auth);
    const qos: number[] = [];
    subscriber.client.on("message", (topic, _p, packet) => {
      if (topic === MOTION) qos.push(packet.qos);
    });
    await subscriber.subscribe(MOTION);
    try {
      const from = clock.now();
      await feedCrossing(from);
      assert.equal(out.length, personFrames().length);
      assert.ok(out.every((m) => typeof m.motion.score === "number" && Buffer.isBuffer(m.payload) && m.frame.device === "cam1"));
      const [span] = motionSpans(SIM_MOTION_SCRIPTS.person!);
      assert.deepEqual(events.map((e) => [e.topic, e.payload.kind]), [[MOTION, "start"], [MOTION, "end"]]);
      const [start, end] = events.map((e) => e.payload);
      assert.ok(start!.at - from >= span!.start && start!.at - from <= span!.start + 1000, `start at ${start!.at - from} ms, the person at ${span!.start}`);
      assert.ok(end!.at - from >= span!.end, `end at ${end!.at - from} ms, the person gone at ${span!.end}`);
      assert.equal(end!.startedAt, start!.at);
      assert.equal(start!.device, "cam1");
      assert.ok(out.some((m) => m.motion.active) && !out.at(-1)!.motion.active);

      await until(() => qos.length >= 2, "two motion events on MQTT", 10_000, () => qos);
      const published = subscriber.received.filter((m) => m.topic === MOTION);
      assert.deepEqual(published.map((m) => subscriber.json<MotionEvent>(m)), [start, end], "the same events, as JSON");
      assert.deepEqual(qos, [1, 1], "QoS 1 (the subscriber asked for 1)");
      assert.ok(published.every((m) => !m.retain));
    } finally {
      await subscriber.end();
    }
  });

  it("applies a settings message's mask and sensitivity at once, without a redeploy", async () => {
    const md = helper.getNode("md")!;
    const settings = (s: Partial<SettingsMessage["settings"]>): SettingsMessage => ({ topic: "camera/settings", settings: { ...DEFAULT_CAMERA_SETTINGS, ...s } });

    md.receive(settings({ sensitivity: 50, minAreaPercent: 1, mask: [{ x: 0, y: 0.2, w: 1, h: 0.8 }] }) as never);
    await feedCrossing(clock.now());
    assert.equal(events.length, 0, "the mask covers where the person walks");

    md.receive(settings({ sensitivity: 1, minAreaPercent: 40, mask: [] }) as never);
    await feedCrossing(clock.now() + 20_000);
    assert.equal(events.length, 0, "too insensitive to see the crossing");

    md.receive(settings({ sensitivity: 50, minAreaPercent: 1, mask: [] }) as never);
    await feedCrossing(clock.now() + 40_000);
    assert.deepEqual(events.map((e) => e.payload.kind), ["start", "end"], "seen once the settings allow it");
    await h.client.waitFor(MOTION, (m) => m.payload.includes('"end"'));
    assert.deepEqual(h.client.received.filter((m) => m.topic === MOTION).map((m) => h.client.json<MotionEvent>(m).kind), ["start", "end"], "published only once seen");
  });

  it("refuses what is not a JPEG: red status, a dead letter, done(err) to Catch; the next frame still works", async () => {
    const md = helper.getNode("md")!;
    const caught: Array<{ error: { message: string } }> = [];
    helper.getNode("caught")!.on("input", (m: unknown) => caught.push(m as (typeof caught)[0]));
    const [first] = personFrames();
    md.receive(frameMsg(Buffer.from("hello, not a picture"), clock.now()) as never);
    md.receive(frameMsg(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5]), clock.now() + 200) as never);
    md.receive({ payload: "text", frame: { at: 1, seq: 1, width: W, height: H } } as never);
    await until(() => caught.length >= 3, "three errors caught", 10_000, () => caught.length);
    const messages = caught.map((c) => c.error.message);
    for (const expected of [/not a JPEG \(20 bytes/, /not a JPEG that decodes/, /msg.payload must be a JPEG frame \(a Buffer\), not string/]) {
      assert.ok(messages.some((m) => expected.test(m)), `${expected} in ${JSON.stringify(messages)}`);
    }
    assert.equal(statusesOf(md).at(-1)!.fill, "red");
    const letters = new DeadLetterFile(h.dataDir).read();
    assert.deepEqual(letters.map((l) => [l.node, l.type]), [["md", "motion-detect"], ["md", "motion-detect"], ["md", "motion-detect"]]);
    assert.ok(letters.some((l) => /not a JPEG that decodes/.test(l.error) && l.payload !== undefined));
    const errors = (md as unknown as { error: { getCalls(): Array<{ thisValue: unknown; args: unknown[] }> } }).error.getCalls().filter((c) => c.thisValue === md);
    assert.equal(errors.length, 3, "each through done(err): one error each");
    assert.equal(out.length, 0);

    md.receive(frameMsg(first!.jpeg, clock.now() + 400) as never);
    await until(() => out.length === 1, "the next frame through");
    assert.equal(out[0]!.motion.score, 0);
    assert.equal(out[0]!.frame.seq, seq);
  });
});
