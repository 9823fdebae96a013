import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { CompatConnected, DeviceStatus, PongEvent } from "../../nodes/lib/contract";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import { deviceNode, helper, startHarness, type Harness } from "../support/node-harness";

describe("pifog-device config node", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it("announces itself online, retained, with its addresses, boot time and version", async () => {
    await helper.load(pifogDevice, [deviceNode("d1", h.url, { role: "doorpi" })]);
    const m = await h.client.waitFor("pifog/d1/status");
    assert.equal(m.retain, false, "live delivery to a subscriber that was there already");
    const status = h.client.json<DeviceStatus>(m);
    assert.equal(status.state, "online");
    if (status.state !== "online") return;
    assert.equal(status.device, "d1");
    assert.equal(status.role, "doorpi");
    assert.equal(status.hardware, "sim");
    assert.ok(Array.isArray(status.addresses));
    assert.ok(!Number.isNaN(Date.parse(status.bootTime)));
    assert.match(status.version, /^\d+\.\d+\.\d+/);
  });

  it("says offline when it stops", async () => {
    await helper.load(pifogDevice, [deviceNode("d1", h.url)]);
    await h.client.waitFor("pifog/d1/status", (m) => m.payload.includes('"online"'));
    await helper.unload();
    const off = h.client.json<DeviceStatus>(await h.client.waitFor("pifog/d1/status", (m) => m.payload.includes('"offline"')));
    assert.deepEqual(off, { state: "offline", device: "d1" });
  });

  it("answers ping with pong and the same id", async () => {
    await helper.load(pifogDevice, [deviceNode("d1", h.url)]);
    await h.client.waitFor("pifog/d1/status", (m) => m.payload.includes('"online"'));
    await h.client.publish("pifog/d1/command", JSON.stringify({ command: "ping", id: "abc" }));
    const pong = h.client.json<PongEvent>(await h.client.waitFor("pifog/d1/event", (m) => m.payload.includes("pong")));
    assert.equal(pong.pong.id, "abc");
    assert.ok(!Number.isNaN(Date.parse(pong.pong.timestamp)));
  });

  it("speaks PiFog: connected on /World/Fog/1/<Pi>/Connection and pong on its Event", async () => {
    await helper.load(pifogDevice, [deviceNode("d1", h.url, { compat: "DoorPi" })]);
    const c = h.client.json<CompatConnected>(await h.client.waitFor("/World/Fog/1/DoorPi/Connection"));
    assert.match(c.connected.boot_time, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
    assert.equal(typeof c.connected.addresses, "string");
    await h.client.publish("/World/Fog/1/DoorPi/Command", JSON.stringify({ command: "ping", id: 123 }));
    const pong = h.client.json<PongEvent>(await h.client.waitFor("/World/Fog/1/DoorPi/Event", (m) => m.payload.includes("pong")));
    assert.equal(pong.pong.id, 123);
    assert.match(pong.pong.timestamp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
    await helper.unload();
    const bye = await h.client.waitFor("/World/Fog/1/DoorPi/Connection", (m) => m.payload.includes("disconnected"));
    assert.deepEqual(JSON.parse(bye.payload.toString()), { disconnected: { device: "d1" } });
  });

  it("records a command it cannot read and keeps answering", async () => {
    await helper.load(pifogDevice, [deviceNode("d1", h.url)]);
    await h.client.waitFor("pifog/d1/status", (m) => m.payload.includes('"online"'));
    await h.client.publish("pifog/d1/command", "{not json");
    await h.client.publish("pifog/d1/command", JSON.stringify({ command: "ping", id: "after" }));
    await h.client.waitFor("pifog/d1/event", (m) => m.payload.includes("after"));
    const letters = fs.readFileSync(path.join(h.dataDir, "dead-letter.jsonl"), "utf8");
    assert.match(letters, /not JSON/);
    assert.match(letters, /pifog\/d1\/command/);
  });

  it("uses the tab's or the runtime's PIFOG_DEVICE_ID when its id is left as ${PIFOG_DEVICE_ID}", async () => {
    process.env.PIFOG_DEVICE_ID = "from-env";
    h.useServices({ env: { PIFOG_DEVICE_ID: "from-env" } });
    try {
      await helper.load(pifogDevice, [deviceNode("${PIFOG_DEVICE_ID}", h.url)]);
      await h.client.waitFor("pifog/from-env/status", (m) => m.payload.includes('"online"'));
    } finally {
      delete process.env.PIFOG_DEVICE_ID;
    }
  });
});
