// The live-push node (CameraPi) and the live-relay node (hub) in Node-RED against a real broker, with a fake clock:
// live-push sends nothing until the hub asks on its retained control, then frames as QoS 0 at most at its fps, and
// stops when told or when the lease runs out; bad input is failed and recorded. live-relay answers a browser's
// connect with the cameras it may watch, to that browser only, and serves its route from the services; on start it
// tells a camera left streaming by a crashed hub to stop.
import assert from "node:assert/strict";
import livePush, { normaliseLivePush } from "../../nodes/live-push/live-push";
import liveRelay, { normaliseLiveRelay } from "../../nodes/live-relay/live-relay";
import { skycamTopics } from "../../nodes/lib/contract";
import { DeadLetterFile } from "../../nodes/lib/dead-letter";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import { FakeClock } from "../support/fake-clock";
import { translated } from "../support/messages";
import { deviceNode, helper, loadUntilOnline, pingBarrier, startHarness, type Harness } from "../support/node-harness";

const FRAME = skycamTopics.liveFrame("cp1");
const CONTROL = skycamTopics.liveControl("cp1");
const frameOf = (n: number) => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from(`frame ${n}`), Buffer.from([0xff, 0xd9])]);

function pushFlow(url: string, node: Record<string, unknown> = {}) {
  return [
    deviceNode("cp1", url, { role: "camerapi", compat: "CameraPi" }),
    { id: "push", type: "live-push", z: "tab", device: "cfg-cp1", fps: 5, wires: [], ...node },
    { id: "catcher", type: "catch", z: "tab", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper", z: "tab" },
    { id: "tab", type: "tab" },
  ];
}

describe("live-push node", () => {
  let h: Harness;
  let clock: FakeClock;
  let qos: number[];
  beforeEach(async () => {
    h = await startHarness();
    clock = new FakeClock(Date.UTC(2026, 5, 1, 12));
    h.useServices({ clock });
    qos = [];
    h.client.client.on("message", (topic, _p, packet) => {
      if (topic === FRAME) qos.push(packet.qos);
    });
  });
  afterEach(async () => {
    await h.close();
  });
  const frames = () => h.client.received.filter((m) => m.topic === FRAME).map((m) => m.payload.subarray(4, -2).toString());
  /** A frame into the node; resolves once it has handled it (what it sends goes out before the device's pong). */
  const feed = async (n: number) => {
    helper.getNode("push")!.receive({ payload: frameOf(n), frame: { at: clock.now(), seq: n, width: 16, height: 12, device: "cp1" } } as never);
    await pingBarrier(h.client, "cp1");
  };

  it("normalises its fps", () => {
    assert.deepEqual(normaliseLivePush({}), { fps: 5 });
    assert.deepEqual(normaliseLivePush({ fps: "12" }), { fps: 12 });
    assert.throws(() => normaliseLivePush({ fps: 0 }), /fps 0 is not 0.2..30/);
    assert.throws(() => normaliseLivePush({ fps: "lots" }), /fps lots/);
  });

  it("sends nothing until the hub asks, then QoS 0 frames at most at its fps; stops when told", async () => {
    await loadUntilOnline(h, [pifogDevice, livePush], pushFlow(h.url), "cp1");
    await feed(1);
    assert.deepEqual(frames(), [], "nobody asked: nothing sent");

    await h.client.publish(CONTROL, JSON.stringify({ stream: true, at: clock.now() }), { retain: true });
    await pingBarrier(h.client, "cp1");
    for (let n = 2; n <= 4; n++) {
      await feed(n);
      clock.tick(200);
    }
    await feed(5);
    await feed(6); // …0 ms after frame 5: too soon for 5 fps
    assert.deepEqual(frames(), ["frame 2", "frame 3", "frame 4", "frame 5"]);
    assert.deepEqual(qos, [0, 0, 0, 0]);
    assert.ok(h.client.received.filter((m) => m.topic === FRAME).every((m) => !m.retain));

    await h.client.publish(CONTROL, JSON.stringify({ stream: false, at: clock.now() }), { retain: true });
    await pingBarrier(h.client, "cp1");
    clock.tick(1000);
    await feed(7);
    assert.deepEqual(frames(), ["frame 2", "frame 3", "frame 4", "frame 5"], "told to stop: nothing more");
  });

  it("stops by itself when the hub's lease runs out (the hub went away without saying stop)", async () => {
    await h.client.publish(CONTROL, JSON.stringify({ stream: true, at: clock.now(), leaseMs: 60_000 }), { retain: true });
    await loadUntilOnline(h, [pifogDevice, livePush], pushFlow(h.url), "cp1");
    await pingBarrier(h.client, "cp1");
    await feed(1);
    assert.deepEqual(frames(), ["frame 1"], "the retained control is followed on start");
    clock.tick(60_000);
    await feed(2);
    assert.deepEqual(frames(), ["frame 1"]);
  });

  it("fails a frame that is not a JPEG (Catch sees it, a dead letter) and keeps going", async () => {
    await loadUntilOnline(h, translated([pifogDevice, livePush]), pushFlow(h.url), "cp1");
    const caught = new Promise<{ error: { message: string } }>((resolve) => (helper.getNode("caught") as unknown as NodeJS.EventEmitter).once("input", resolve));
    helper.getNode("push")!.receive({ payload: "<b>not a frame</b>" } as never);
    assert.match((await caught).error.message, /msg.payload must be a JPEG/);
    assert.equal(new DeadLetterFile(h.dataDir).read().length, 1);
    await h.client.publish(CONTROL, JSON.stringify({ stream: true, at: clock.now() }), { retain: true });
    await pingBarrier(h.client, "cp1");
    await feed(1);
    assert.deepEqual(frames(), ["frame 1"]);
  });
});

describe("live-relay node", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
    h.useServices({ clock: new FakeClock(Date.UTC(2026, 5, 1, 12)) });
  });
  afterEach(async () => {
    await h.close();
  });

  it("normalises its settings", () => {
    assert.deepEqual(normaliseLiveRelay({}), { maxViewersPerCamera: 4, graceMs: 10_000 });
    assert.deepEqual(normaliseLiveRelay({ maxViewers: "2", grace: "0.5" }), { maxViewersPerCamera: 2, graceMs: 500 });
    assert.throws(() => normaliseLiveRelay({ maxViewers: 0 }), /viewers per camera 0 is not 1..50/);
    assert.throws(() => normaliseLiveRelay({ grace: -1 }), /grace -1 s/);
  });

  it("is the runtime's relay while it runs; answers a browser's connect to that browser only, and nothing else", async () => {
    await loadUntilOnline(h, [pifogDevice, liveRelay], [
      deviceNode("hub", h.url, { role: "hub" }),
      { id: "relay", type: "live-relay", z: "tab", device: "cfg-hub", wires: [["out"]] },
      { id: "out", type: "helper", z: "tab" },
      { id: "tab", type: "tab" },
    ]);
    assert.equal(h.services.liveRelays.size, 1);
    const out = new Promise<{ topic: string; payload: { cameras: unknown[] }; socketid?: string }>((resolve) => (helper.getNode("out") as unknown as NodeJS.EventEmitter).once("input", resolve));
    helper.getNode("relay")!.receive({ payload: "group", socketid: "s1" } as never);
    helper.getNode("relay")!.receive({ payload: "connect", socketid: "s1" } as never);
    const msg = await out;
    assert.equal(msg.topic, "cameras");
    assert.equal(msg.socketid, "s1");
    // no dashboard person on this socket (and no identity directory here): no camera to watch
    assert.deepEqual(msg.payload, { cameras: [] });
    await helper.unload();
    assert.equal(h.services.liveRelays.size, 0, "gone with its node");
  });

  it("on start, tells a camera a crashed hub left streaming to stop, at once", async () => {
    const left = skycamTopics.liveControl("cp9");
    await h.client.publish(left, JSON.stringify({ stream: true, at: Date.UTC(2026, 5, 1, 11, 59, 30), leaseMs: 60_000 }), { retain: true });
    await h.client.subscribe(left);
    await loadUntilOnline(h, [pifogDevice, liveRelay], [
      deviceNode("hub", h.url, { role: "hub" }),
      { id: "relay", type: "live-relay", z: "tab", device: "cfg-hub", wires: [] },
      { id: "tab", type: "tab" },
    ]);
    const stop = await h.client.waitFor(left, (m) => (JSON.parse(m.payload.toString()) as { stream: boolean }).stream === false, 5_000);
    assert.equal(stop.retain, false, "delivered live to this subscriber; the broker keeps it retained for the camera");
    assert.deepEqual(JSON.parse(stop.payload.toString()), { stream: false, at: Date.UTC(2026, 5, 1, 12) });
  });
});
