// The camera node (CameraPi) against a real broker and the simulated camera: a still on a message, PiFog's
// take-picture commands answered on /World/Fog/1/CameraPi/Event, the native picture, bad input, and no camera.
import assert from "node:assert/strict";
import * as jpeg from "jpeg-js";
import camera, { normaliseCamera, presetOf } from "../../nodes/camera/camera";
import { pythonTimestamp, type CameraPicture, type CompatPictureEvent } from "../../nodes/lib/contract";
import { DeadLetterFile } from "../../nodes/lib/dead-letter";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import { FakeClock } from "../support/fake-clock";
import type { Received } from "../support/mqtt";
import { translated } from "../support/messages";
import { deviceNode, helper, loadUntilOnline, startHarness, type Harness } from "../support/node-harness";
import { statusesOf } from "../support/statuses";

const nodes = [pifogDevice, camera];
const COMPAT_COMMAND = "/World/Fog/1/CameraPi/Command";
const COMPAT_EVENT = "/World/Fog/1/CameraPi/Event";
const PICTURE = "pifog/cp1/camera/picture";

function cameraFlow(url: string, node: Record<string, unknown> = {}, device: Record<string, unknown> = {}) {
  return [
    deviceNode("cp1", url, { role: "camerapi", compat: "CameraPi", ...device }),
    { id: "cam", type: "camera", z: "tab", device: "cfg-cp1", wires: [["out"]], ...node },
    { id: "out", type: "helper", z: "tab" },
    { id: "catcher", type: "catch", z: "tab", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper", z: "tab" },
    { id: "tab", type: "tab" },
  ];
}

interface Out {
  payload: Buffer;
  width: number;
  height: number;
  preset: string;
  device: string;
  timestamp: string;
  topic?: string;
  id?: unknown;
  error?: { message: string };
}

function next(id: string): Promise<Out> {
  return new Promise((resolve) => (helper.getNode(id) as unknown as NodeJS.EventEmitter).once("input", resolve));
}

const text = (m: Received) => m.payload.toString("utf8");

describe("camera node", () => {
  let h: Harness;
  let clock: FakeClock;
  beforeEach(async () => {
    h = await startHarness();
    clock = new FakeClock(Date.UTC(2026, 2, 28, 12, 34, 56, 789));
    h.useServices({ clock });
  });
  afterEach(async () => {
    await h.close();
  });

  it("normalises its settings and reads the preset a message asks for", () => {
    assert.deepEqual(normaliseCamera({}), { preset: "low", rotation: 0, timeoutMs: 10_000, publish: true, compat: true });
    assert.throws(() => normaliseCamera({ rotation: 90 }), /rotation 90 is not 0 or 180/);
    assert.throws(() => normaliseCamera({ preset: "huge" }), /preset "huge"/);
    assert.equal(presetOf({ payload: "HIGH" }, "low"), "high");
    assert.equal(presetOf({ preset: "low", payload: "high" }, "high"), "low");
    assert.equal(presetOf({ payload: 1774701296789 }, "high"), "high", "an inject's timestamp takes the node's preset");
    assert.throws(() => presetOf({ payload: "medium" }, "low"), /must be "low" or "high"/);
    assert.throws(() => presetOf({ payload: { a: 1 } }, "low"), /must be "low" or "high"/);
  });

  it("takes a 500×281 JPEG on \"low\" and sends it with its size, preset, device and time; publishes the native picture", async () => {
    await loadUntilOnline(h, nodes, cameraFlow(h.url), "cp1");
    const out = next("out");
    helper.getNode("cam")!.receive({ payload: "low" } as never);
    const msg = await out;
    assert.ok(Buffer.isBuffer(msg.payload));
    const decoded = jpeg.decode(msg.payload);
    assert.deepEqual([decoded.width, decoded.height], [500, 281]);
    assert.deepEqual([msg.width, msg.height, msg.preset, msg.device], [500, 281, "low", "cp1"]);
    assert.equal(msg.timestamp, new Date(clock.now()).toISOString());

    const native = JSON.parse(text(await h.client.waitFor(PICTURE))) as CameraPicture;
    assert.deepEqual([native.device, native.preset, native.width, native.height], ["cp1", "low", 500, 281]);
    assert.ok(Buffer.from(native.image, "base64").equals(msg.payload), "the same JPEG");
    const sent = h.client.received.find((m) => m.topic === PICTURE)!;
    assert.equal(sent.retain, false);
  });

  it("answers PiFog's take-picture-low-res with its picture event: same response-to id, a decodable JPEG, QoS 0", async () => {
    await loadUntilOnline(h, nodes, cameraFlow(h.url), "cp1");
    const out = next("out");
    const qos: number[] = [];
    h.client.client.on("message", (topic, _p, packet) => {
      if (topic === COMPAT_EVENT) qos.push(packet.qos);
    });
    await h.client.publish(COMPAT_COMMAND, JSON.stringify({ command: "take-picture-low-res", id: "123" }));
    const m = await h.client.waitFor(COMPAT_EVENT, (r) => text(r).includes("picture"));
    const event = JSON.parse(text(m)) as CompatPictureEvent;
    assert.equal(event.picture["response-to"], "123");
    assert.equal(event.picture.encoding, "data:image/jpg;base64");
    assert.equal(event.picture.timestamp, pythonTimestamp(new Date(clock.now())));
    const decoded = jpeg.decode(Buffer.from(event.picture.image, "base64"));
    assert.deepEqual([decoded.width, decoded.height], [500, 281]);
    assert.equal(m.retain, false);
    assert.deepEqual(qos, [0], "QoS 0, as PiFog (the test client subscribed with QoS 1)");
    const msg = await out;
    assert.equal(msg.id, "123");
    assert.equal(msg.preset, "low");
  });

  it("takes take-picture-high-res at 1900×1200 and answers a numeric id as it came", async () => {
    await loadUntilOnline(h, nodes, cameraFlow(h.url), "cp1");
    await h.client.publish(COMPAT_COMMAND, JSON.stringify({ command: "take-picture-high-res", id: 7 }));
    const event = JSON.parse(text(await h.client.waitFor(COMPAT_EVENT, (r) => text(r).includes("picture")))) as CompatPictureEvent;
    assert.equal(event.picture["response-to"], 7);
    const decoded = jpeg.decode(Buffer.from(event.picture.image, "base64"), { maxResolutionInMP: 10 });
    assert.deepEqual([decoded.width, decoded.height], [1900, 1200]);
  });

  it("takes a picture on pifog/<device>/command (the dashboard's and Slack's) and sends it on, with no PiFog event", async () => {
    await loadUntilOnline(h, nodes, cameraFlow(h.url), "cp1");
    const out = next("out");
    const events: string[] = [];
    await h.client.subscribe(COMPAT_EVENT);
    h.client.client.on("message", (topic) => {
      if (topic === COMPAT_EVENT) events.push(topic);
    });
    await h.client.publish("pifog/cp1/command", JSON.stringify({ command: "take-picture-low-res", id: "d-1", by: "dashboard:admin" }));
    const msg = await out;
    assert.deepEqual([msg.id, msg.preset, msg.topic], ["d-1", "low", "pifog/cp1/command"]);
    assert.equal((msg as Out & { by?: unknown }).by, "dashboard:admin");
    assert.deepEqual([jpeg.decode(msg.payload).width, jpeg.decode(msg.payload).height], [500, 281]);
    await h.client.waitFor(PICTURE);
    assert.deepEqual(events, [], "the PiFog event answers PiFog's own command topic only");
  });

  it("with PiFog compat and publishing off: no picture event and no native picture", async () => {
    await loadUntilOnline(h, nodes, cameraFlow(h.url, { compat: false, publish: false }), "cp1");
    await h.client.publish(COMPAT_COMMAND, JSON.stringify({ command: "take-picture-low-res", id: "n" }));
    await h.client.publish(COMPAT_COMMAND, JSON.stringify({ command: "ping", id: "after" }));
    await h.client.waitFor(COMPAT_EVENT, (r) => text(r).includes("after"));
    assert.equal(h.client.received.filter((r) => r.topic === COMPAT_EVENT && text(r).includes("picture")).length, 0);
    assert.equal(h.client.received.filter((r) => r.topic === PICTURE).length, 0);
  });

  it("fails bad input: red status, an error Catch nodes see, a dead-letter record, no picture", async () => {
    await loadUntilOnline(h, nodes, cameraFlow(h.url), "cp1");
    const caught = next("caught");
    const cam = helper.getNode("cam")!;
    cam.receive({ payload: "medium" } as never);
    const msg = await caught;
    assert.match(msg.error!.message, /msg\.payload must be "low" or "high"/);
    assert.equal(statusesOf(cam).at(-1)!.fill, "red");
    assert.equal(new DeadLetterFile(h.dataDir).read().length, 1);
    assert.equal(h.client.received.filter((r) => r.topic === PICTURE).length, 0);
  });

  it("off a Pi with hardware set to pi: grey 'not available', one warning, a failed message, no crash", async () => {
    // with the node's own message catalog, as the editor and the log show it to the user
    await loadUntilOnline(h, translated(nodes), cameraFlow(h.url, {}, { hardware: "pi" }), "cp1");
    const cam = helper.getNode("cam")!;
    const statuses = statusesOf(cam);
    assert.deepEqual(statuses.map((s) => s.fill), ["grey"]);
    const warnings = helper.log().args.filter((a) => JSON.stringify(a).match(/camera not available here \(.+\); set the device's hardware to sim to simulate it/));
    assert.equal(warnings.length, 1);
    const caught = next("caught");
    cam.receive({ payload: "low" } as never);
    assert.equal((await caught).error!.message, "Error: camera not available");
  });
});
