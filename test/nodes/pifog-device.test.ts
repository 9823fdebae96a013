import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { CompatConnected, DeviceStatus, PongEvent } from "../../nodes/lib/contract";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import { deviceNode, helper, loadUntilOnline, pingBarrier, startHarness, type Harness } from "../support/node-harness";
import deviceUser, { userOf, type DeviceUserNode } from "../support/device-user";
import doorSensor from "../../nodes/door-sensor/door-sensor";
import { EmbeddedBroker } from "../../nodes/lib/broker/embedded-broker";
import type { LinkUser, PifogDevice } from "../../nodes/lib/node-red/device";
import type { LinkView } from "../../nodes/lib/node-red/status";
import { freePort } from "../support/ports";
import { until } from "../support/until";


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

/** A user of the device as the device sees it, keeping every link state it is told. */
function fakeUser(id: string): LinkUser & { links: LinkView[] } {
  const links: LinkView[] = [];
  return { id, links, linkChanged: (l) => links.push(l) };
}

const online = (m: { payload: Buffer }) => m.payload.includes('"online"');
const offline = (m: { payload: Buffer }) => m.payload.includes('"offline"');

describe("pifog-device: its users", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it("with no node using it, stands for its Pi once the flows have started (the hub's device): online, answering ping", async () => {
    const since = h.client.received.length;
    await helper.load(pifogDevice, [deviceNode("d1", h.url)]);
    await h.client.waitFor("pifog/d1/status", (m) => online(m) && h.client.received.indexOf(m) >= since);
    await pingBarrier(h.client, "d1");
  });

  it("opens its link with its first user, keeps it through a restart, and closes it after the last one is removed", async () => {
    await loadUntilOnline(h, [pifogDevice, deviceUser], [deviceNode("d1", h.url), userOf("cfg-d1")], "d1");
    const device = helper.getNode("cfg-d1") as unknown as PifogDevice;
    const first = helper.getNode("user") as unknown as DeviceUserNode & { close(removed: boolean): Promise<void> };
    await until(() => first.links.at(-1)?.state === "connected", "the first user told it is connected");
    assert.equal(first.links[0]?.state, "connecting", "told at once, when it registered, where the link stands");

    const a = fakeUser("a");
    const b = fakeUser("b");
    device.register(b);
    assert.equal(b.links.at(-1)?.state, "connected", "a later user is told at once");
    await first.close(true);
    assert.equal(device.linkView.state, "connected", "another user is left");
    await device.deregister(b, false); // restarted by a deploy: it comes back
    device.register(b);
    assert.equal(device.linkView.state, "connected");

    let since = h.client.received.length;
    await device.deregister(b, true);
    await h.client.waitFor("pifog/d1/status", (m) => offline(m) && h.client.received.indexOf(m) >= since);
    await until(() => device.linkView.state === "closed", "the link closed after its last user");

    since = h.client.received.length;
    device.register(a);
    await h.client.waitFor("pifog/d1/status", (m) => online(m) && h.client.received.indexOf(m) >= since);
    await pingBarrier(h.client, "d1"); // and it answers again: the link's own subscriptions came back with it
    await device.deregister(a, true);
  });

  it("refuses a second claim on a GPIO line at deploy (red status, an error naming the holder); the first keeps working", async () => {
    await loadUntilOnline(
      h,
      [pifogDevice, doorSensor],
      [
        deviceNode("dp1", h.url),
        { id: "first", type: "door-sensor", device: "cfg-dp1", name: "front", debounce: 0, blink: false, leds: false },
        {
          id: "second",
          type: "door-sensor",
          device: "cfg-dp1",
          debounce: 0,
          blink: false,
          leds: false,
          doors: [{ id: "side", label: "S", pin: 5 }, { id: "back", label: "B", pin: 17 }],
        },
      ],
      "dp1",
    );
    type Spy = { getCalls(): Array<{ thisValue: unknown; args: unknown[] }> };
    const second = helper.getNode("second") as unknown as { error: Spy; status: Spy };
    const calls = (spy: Spy) => spy.getCalls().filter((c) => c.thisValue === second).map((c) => c.args[0]);
    assert.deepEqual(calls(second.status).at(-1), { fill: "red", shape: "ring", text: "GPIO 17 in use" });
    assert.match(String(calls(second.error).at(-1)), /GPIO 17 is already used by door-sensor "front" \(first\)/);

    const device = helper.getNode("cfg-dp1") as unknown as PifogDevice;
    const probe = device.driversFor("probe");
    const side = probe.gpioInput({ name: "probe-side", pin: 5, pull: "none", activeLow: false, debounceMs: 0 });
    await side.close(); // the refused node let go of what it had claimed before the refusal

    await h.client.waitFor("pifog/dp1/doors");
    await h.client.publish("pifog/dp1/sim/door1/set", "open");
    const change = await h.client.waitFor("pifog/dp1/door/door1", (m) => m.payload.includes('"open"'));
    assert.equal(h.client.json<{ state: string }>(change).state, "open", "the first node still reports its door");

    const first = helper.getNode("first") as unknown as { close(removed: boolean): Promise<void> };
    await first.close(true);
    // released before its close was done: the line can be claimed at once
    const again = probe.gpioInput({ name: "probe-17", pin: 17, pull: "none", activeLow: false, debounceMs: 0 });
    await again.close();
  });
});

describe("pifog-device: its users see the link, broker stopped and started", () => {
  let h: Harness;
  let port: number;
  beforeEach(async () => {
    port = await freePort();
    h = await startHarness({ port });
  });
  afterEach(async () => {
    await h.close();
  });

  it("tells every user as soon as the link is lost, unreachable and back; a door-sensor shows it, then its doors again", async () => {
    await loadUntilOnline(
      h,
      [pifogDevice, doorSensor, deviceUser],
      [
        deviceNode("dp1", h.url),
        { id: "doors", type: "door-sensor", device: "cfg-dp1", debounce: 0, blink: false, leds: false },
        userOf("cfg-dp1"),
      ],
      "dp1",
    );
    const doors = helper.getNode("doors") as unknown as { status: { getCalls(): Array<{ thisValue: unknown; args: [{ fill: string; text: string }] }> } };
    const user = helper.getNode("user") as unknown as DeviceUserNode;
    const shown = () => doors.status.getCalls().filter((c) => c.thisValue === doors).map((c) => c.args[0]);
    const last = () => shown().at(-1);
    const doorsText = /^F \S*closed · M /;
    await until(() => doorsText.test(last()?.text ?? ""), "the doors shown", 5000, last);
    await until(() => user.links.at(-1)?.state === "connected", "the user told it is connected");

    const before = shown().length;
    await h.broker.close();
    await until(() => user.links.at(-1)?.state === "unreachable", "the user told the broker is unreachable", 15_000, () => user.links);
    const states = user.links.map((l) => l.state);
    assert.deepEqual(states.slice(states.lastIndexOf("connected") + 1), ["reconnecting", "unreachable"]);
    const during = shown().slice(before);
    assert.deepEqual(during.map((s) => s.fill), ["yellow", "red"], "reconnecting, then unreachable: nothing else");
    assert.match(during[0]!.text, /reconnecting/);
    assert.match(during[1]!.text, /unreachable/);

    // the same runtime's broker again: its runtime user has the password the device link logs in with
    h.broker = await EmbeddedBroker.start({ port, host: "127.0.0.1", runtimePassword: h.auth.password });
    await until(() => user.links.at(-1)?.state === "connected", "the user told it is connected again", 15_000, () => user.links);
    await until(() => doorsText.test(last()?.text ?? ""), "the doors shown again", 5000, last);
  });
});
