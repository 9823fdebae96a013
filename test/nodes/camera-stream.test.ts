// The camera-stream node against a real broker and the simulated camera on a fake clock: frames go out as
// FrameMessages at the configured size and rate, a settings message changes size and rate without a redeploy, two
// camera-stream nodes of one device share its one stream, and a message that is not settings is refused.
import assert from "node:assert/strict";
import cameraStream from "../../nodes/camera-stream/camera-stream";
import { DEFAULT_CAMERA_SETTINGS, type FrameMessage, type SettingsMessage } from "../../nodes/lib/camera/types";
import { DeadLetterFile } from "../../nodes/lib/dead-letter";
import { jpegSize } from "../../nodes/lib/image/image";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import { advance } from "../support/clock-pump";
import { FakeClock } from "../support/fake-clock";
import { deviceNode, helper, loadUntilOnline, startHarness, type Harness } from "../support/node-harness";
import { until } from "../support/until";
import { translated } from "../support/messages";
import { statusesOf } from "../support/statuses";

const nodes = translated([pifogDevice, cameraStream]);

function streamFlow(url: string) {
  return [
    deviceNode("cam1", url, { role: "camerapi" }),
    { id: "cs1", type: "camera-stream", z: "tab", device: "cfg-cam1", width: 160, height: 120, fps: 5, rotation: 0, wires: [["out1"]] },
    // asks for another rate: the device's one stream runs at the first node's
    { id: "cs2", type: "camera-stream", z: "tab", device: "cfg-cam1", width: 160, height: 120, fps: 10, rotation: 0, wires: [["out2"]] },
    { id: "out1", type: "helper", z: "tab" },
    { id: "out2", type: "helper", z: "tab" },
    { id: "catcher", type: "catch", z: "tab", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper", z: "tab" },
    { id: "tab", type: "tab" },
  ];
}

describe("camera-stream node", function () {
  this.timeout(30_000);
  let h: Harness;
  let clock: FakeClock;
  beforeEach(async () => {
    h = await startHarness();
    clock = new FakeClock(Date.UTC(2026, 5, 1, 12));
    h.useServices({ clock });
  });
  afterEach(async () => {
    await h.close();
  });

  const collect = (id: string) => {
    const got: FrameMessage[] = [];
    helper.getNode(id)!.on("input", (msg: unknown) => got.push(msg as FrameMessage));
    return got;
  };
  const run = (ms: number) => advance(clock, ms, { stepMs: 100 });

  it("sends frames at its size and rate, shares one stream between two nodes, and changes both with a settings message", async () => {
    await loadUntilOnline(h, nodes, streamFlow(h.url), "cam1");
    const one = collect("out1");
    const two = collect("out2");
    const cs2 = helper.getNode("cs2")! as unknown as { warn: { getCalls(): Array<{ args: unknown[] }> } };
    const warnings = cs2.warn.getCalls().map((c) => String(c.args[0]));
    assert.ok(warnings.some((w) => /160×120 5 fps/.test(w)), `the second node says it runs at the shared stream's format: ${JSON.stringify(warnings)}`);

    const from = clock.now();
    await run(2000);
    await until(() => one.length >= 10 && two.length >= 10, "10 frames on each output", 10_000, () => [one.length, two.length]);
    assert.equal(one.length, 10, "5 fps for 2 s of the fake clock");
    for (const [i, m] of one.entries()) {
      assert.ok(Buffer.isBuffer(m.payload));
      assert.deepEqual(jpegSize(m.payload), { width: 160, height: 120 }, "a 160×120 JPEG");
      assert.deepEqual(m.frame, { at: from + (i + 1) * 200, seq: one[0]!.frame.seq + i, width: 160, height: 120, device: "cam1" });
    }
    // one stream: the second node gets the same frames (same times, sequence numbers and bytes), at 5 fps not 10
    assert.deepEqual(two.map((m) => m.frame), one.map((m) => m.frame));
    assert.ok(two.every((m, i) => m.payload.equals(one[i]!.payload)));

    const settings: SettingsMessage = { topic: "camera/settings", settings: { ...DEFAULT_CAMERA_SETTINGS, width: 320, height: 240, fps: 2, rotation: 0 } };
    const cs1 = helper.getNode("cs1")!;
    cs1.receive(settings as never);
    const statusText = () => String(statusesOf(cs1).at(-1)?.text);
    await until(() => statusText().includes("320×240 2 fps"), "the node to take the settings", 10_000, statusText);
    await new Promise((resolve) => setImmediate(resolve)); // the stream restarts once the old run has closed
    const seen = one.length;
    const at = clock.now();
    await run(3000);
    await until(() => one.length >= seen + 6 && two.length >= seen + 6, "6 frames at the new rate", 10_000, () => [one.length, two.length]);
    const after = one.slice(seen);
    assert.equal(after.length, 6, "2 fps for 3 s");
    for (const m of after) {
      assert.deepEqual([m.frame.width, m.frame.height], [320, 240]);
      assert.deepEqual(jpegSize(m.payload), { width: 320, height: 240 });
      assert.ok(m.frame.at > at);
    }
    assert.deepEqual(after.slice(1).map((m, i) => m.frame.at - after[i]!.frame.at), [500, 500, 500, 500, 500], "a frame every 500 ms");
    assert.ok(after.every((m, i) => i === 0 || m.frame.seq === after[i - 1]!.frame.seq + 1), "seq goes on");
    assert.deepEqual(two.slice(seen).map((m) => m.frame), after.map((m) => m.frame), "the other node's frames changed with it");
    assert.equal(helper.getNode("cs1"), cs1, "the same node: no redeploy");
  });

  it("refuses a message that is not settings, or settings it cannot run: red status, an error, a dead letter; frames go on", async () => {
    await loadUntilOnline(h, nodes, streamFlow(h.url), "cam1");
    const one = collect("out1");
    const caught: Array<{ error: { message: string } }> = [];
    helper.getNode("caught")!.on("input", (m: unknown) => caught.push(m as (typeof caught)[0]));
    const cs1 = helper.getNode("cs1")!;
    cs1.receive({ topic: "hello", payload: 1 } as never);
    cs1.receive({ topic: "camera/settings", settings: { ...DEFAULT_CAMERA_SETTINGS, width: 161, height: 120, fps: 5, rotation: 0 } } as never);
    await until(() => caught.length >= 2, "two errors caught");
    assert.match(caught[0]!.error.message, /expected a settings message/);
    assert.match(caught[1]!.error.message, /width 161 is not an even number/);
    const letters = new DeadLetterFile(h.dataDir).read();
    assert.deepEqual(letters.map((l) => [l.node, l.type]), [["cs1", "camera-stream"], ["cs1", "camera-stream"]]);
    assert.equal(statusesOf(cs1).at(-1)!.fill, "red");

    await run(1000);
    await until(() => one.length >= 5, "frames after the refusals", 10_000, () => one.length);
    assert.deepEqual([one.at(-1)!.frame.width, one.at(-1)!.frame.height], [160, 120], "the stream kept its format");
  });
});
