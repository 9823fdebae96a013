import assert from "node:assert/strict";
import type { CompatDoorEvent, DoorChange, DoorsState } from "../../nodes/lib/contract";
import doorSensor from "../../nodes/door-sensor/door-sensor";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import { SafeState } from "../../nodes/lib/runtime/safe-state";
import { FakeClock } from "../support/fake-clock";
import { TestClient } from "../support/mqtt";
import { deviceNode, helper, loadUntilOnline, pingBarrier, startHarness, waitForEvent, type Harness } from "../support/node-harness";
import { translated } from "../support/messages";

const nodes = [pifogDevice, doorSensor];

function doorFlow(url: string, sensor: Record<string, unknown> = {}, device: Record<string, unknown> = {}) {
  return [
    deviceNode("dp1", url, { compat: "DoorPi", ...device }),
    { id: "doors", type: "door-sensor", device: "cfg-dp1", debounce: 20, blink: false, wires: [["out"]], ...sensor },
    { id: "out", type: "helper" },
  ];
}

describe("door-sensor node", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it("publishes every door's state at start, retained, natively and as PiFog's DoorPi event", async () => {
    await helper.load(nodes, doorFlow(h.url));
    const doors = h.client.json<DoorsState>(await h.client.waitFor("pifog/dp1/doors"));
    assert.equal(doors.doors.door1?.state, "closed");
    assert.equal(doors.doors.door1?.label, "F");
    assert.equal(doors.doors.door2?.label, "M");
    const one = h.client.json<DoorChange>(await h.client.waitFor("pifog/dp1/door/door2"));
    assert.equal(one.state, "closed");
    const compat = await h.client.waitFor("/World/Fog/1/DoorPi/Event");
    const event = h.client.json<CompatDoorEvent>(compat);
    assert.equal(event.state.door1, "closed");
    assert.equal(event.state.door2, "closed");
    assert.match(event.state.timestamp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);

    // a late subscriber still gets it: it was retained
    
    const late = await TestClient.connect(h.url, h.auth);
    await late.subscribe("pifog/dp1/doors", "/World/Fog/1/DoorPi/Event");
    const retained = await late.waitFor("pifog/dp1/doors");
    assert.equal(retained.retain, true);
    assert.equal((await late.waitFor("/World/Fog/1/DoorPi/Event")).retain, true);
    await late.end();
  });

  it("reports a flipped door after the debounce, with its LED following the door", async () => {
    await helper.load(nodes, doorFlow(h.url));
    await h.client.waitFor("pifog/dp1/doors");
    await h.client.waitFor("pifog/dp1/sim/door1-led", (m) => m.payload.toString() === "1");
    const out = helper.getNode("out")!;
    const sent = waitForEvent<{ payload: DoorsState; door: string }>(out, "input");

    await h.client.publish("pifog/dp1/sim/door1/set", "open");
    const change = h.client.json<DoorChange>(
      await h.client.waitFor("pifog/dp1/door/door1", (m) => m.payload.includes('"open"')),
    );
    assert.equal(change.state, "open");
    const doors = h.client.json<DoorsState>(await h.client.waitFor("pifog/dp1/doors", (m) => m.payload.includes('"open"')));
    assert.equal(doors.doors.door1?.state, "open");
    assert.equal(doors.doors.door2?.state, "closed");
    const compat = h.client.json<CompatDoorEvent>(
      await h.client.waitFor("/World/Fog/1/DoorPi/Event", (m) => m.payload.includes('"open"')),
    );
    assert.deepEqual([compat.state.door1, compat.state.door2], ["open", "closed"]);
    await h.client.waitFor("pifog/dp1/sim/door1-led", (m) => m.payload.toString() === "0");
    const msg = await sent;
    assert.ok(msg.payload.doors, "the node also sends the doors state on its output");
  });

  it("turns its LEDs off when the runtime fails, and keeps them off while the process ends", async () => {
    const safe = new SafeState();
    h.useServices({ safeState: safe });
    await helper.load(nodes, doorFlow(h.url));
    await h.client.waitFor("pifog/dp1/sim/door1-led", (m) => m.payload.toString() === "1");
    await h.client.waitFor("pifog/dp1/sim/door2-led", (m) => m.payload.toString() === "1");
    assert.equal(safe.size, 1);
    await Promise.all(safe.goSafe((name, err) => assert.fail(`${name}: ${String(err)}`)));
    await h.client.waitFor("pifog/dp1/sim/door1-led", (m) => m.payload.toString() === "0");
    await h.client.waitFor("pifog/dp1/sim/door2-led", (m) => m.payload.toString() === "0");

    // a door that opens and closes again meanwhile does not light them again
    await h.client.publish("pifog/dp1/sim/door1/set", "open");
    await h.client.waitFor("pifog/dp1/door/door1", (m) => m.payload.includes('"open"'));
    await h.client.publish("pifog/dp1/sim/door1/set", "closed");
    await h.client.waitFor("pifog/dp1/door/door1", (m) => m.payload.includes('"closed"'), 5000, false);
    const leds = h.client.received.filter((m) => m.topic === "pifog/dp1/sim/door1-led").map((m) => m.payload.toString());
    assert.equal(leds.at(-1), "0");
    await helper.unload();
    assert.equal(safe.size, 0, "deregistered on close");
  });

  it("ignores a bounce shorter than the debounce", async () => {
    // the debounce runs on the device's clock: a bounce of 299 ms of it, whatever the machine's load
    const clock = new FakeClock(Date.now());
    h.useServices({ clock });
    await loadUntilOnline(h, nodes, doorFlow(h.url, { debounce: 300 }), "dp1");
    await h.client.waitFor("pifog/dp1/doors");
    const flip = async (level: string) => {
      await h.client.publish("pifog/dp1/sim/door1/set", level);
      await pingBarrier(h.client, "dp1"); // the simulated input has sampled it
    };
    await flip("open");
    clock.tick(299);
    await flip("closed");
    clock.tick(10_000);
    await pingBarrier(h.client, "dp1"); // a door change published meanwhile has reached the test client
    const opened = h.client.received.filter((m) => m.topic === "pifog/dp1/door/door1" && m.payload.includes('"open"'));
    assert.equal(opened.length, 0);

    // and the same flip held for the debounce is reported: the bounce, not the clock, was ignored
    await flip("open");
    clock.tick(300);
    await h.client.waitFor("pifog/dp1/door/door1", (m) => m.payload.includes('"open"'));
  });

  it("reads LOW as closed when told so", async () => {
    await helper.load(nodes, doorFlow(h.url, { closedLevel: "0" }));
    await h.client.waitFor("pifog/dp1/doors");
    await h.client.publish("pifog/dp1/sim/door2/set", "0");
    const doors = h.client.json<DoorsState>(await h.client.waitFor("pifog/dp1/doors", () => true, 5000));
    assert.equal(doors.doors.door2?.state, "closed");
    await h.client.publish("pifog/dp1/sim/door2/set", "1");
    const opened = h.client.json<DoorsState>(await h.client.waitFor("pifog/dp1/doors", (m) => m.payload.includes('"open"')));
    assert.equal(opened.doors.door2?.state, "open");
  });

  it("takes any number of doors with their own ids and labels", async () => {
    const doors = [
      { id: "front", label: "Front", pin: 5, ledPin: null },
      { id: "back", label: "Back", pin: 6, ledPin: null },
      { id: "garage", label: "Garage", pin: 13, ledPin: null },
    ];
    await helper.load(nodes, doorFlow(h.url, { doors, compat: false }));
    const state = h.client.json<DoorsState>(await h.client.waitFor("pifog/dp1/doors"));
    assert.deepEqual(Object.keys(state.doors), ["front", "back", "garage"]);
    await h.client.publish("pifog/dp1/sim/garage/set", "open");
    await h.client.waitFor("pifog/dp1/door/garage", (m) => m.payload.includes('"open"'));
    assert.equal(h.client.received.some((m) => m.topic === "/World/Fog/1/DoorPi/Event"), false, "compat off: no PiFog event");
  });

  it("refuses a door list with a repeated id, with an error and no crash", async () => {
    const doors = [
      { id: "door1", label: "A", pin: 5 },
      { id: "door1", label: "B", pin: 6 },
    ];
    await loadUntilOnline(h, nodes, doorFlow(h.url, { doors }), "dp1");
    const node = helper.getNode("doors")!;
    const statuses = (node as unknown as { status: { getCalls(): Array<{ args: [unknown] }> } }).status.getCalls().map((c) => c.args[0]);
    assert.deepEqual(statuses, [{ fill: "red", shape: "ring", text: 'door id "door1" is used twice' }], "the editor shows why");
    const errors = helper.log().args
      .map((a) => a[0] as { level?: number; id?: string; msg?: unknown })
      .filter((e) => e.level === 20 && e.id === "doors")
      .map((e) => String(e.msg));
    assert.deepEqual(errors, ['door id "door1" is used twice'], "one error in the log, saying which id");
    await pingBarrier(h.client, "dp1"); // anything the node published has arrived
    assert.equal(h.client.received.some((m) => m.topic === "pifog/dp1/doors"), false, "no doors state from a refused list");
  });

  it("off a Pi with hardware set to pi, shows GPIO not available and keeps the runtime up", async () => {
    // with the node's own message catalog, as the editor and the log show it to the user
    await helper.load(translated(nodes), doorFlow(h.url, {}, { hardware: "pi" }));
    const node = helper.getNode("doors")!;
    const statuses = (node as unknown as { status: { getCalls(): Array<{ args: [unknown] }> } }).status.getCalls().map((c) => c.args[0]);
    assert.deepEqual(statuses, [{ fill: "grey", shape: "ring", text: "GPIO not available" }]);
    const warnings = helper.log().args
      .map((a) => a[0] as { level?: number; id?: string; msg?: unknown })
      .filter((e) => e.level === 30 && e.id === "doors")
      .map((e) => String(e.msg));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? "", /^GPIO not available here \(.+\); set the device's hardware to sim to simulate it$/);
    // the device itself still announces
    await h.client.waitFor("pifog/dp1/status", (m) => m.payload.includes('"online"'));
  });

  it("republishes the current state on any input", async () => {
    await helper.load(nodes, doorFlow(h.url));
    await h.client.waitFor("pifog/dp1/doors");
    const before = h.client.received.filter((m) => m.topic === "pifog/dp1/doors").length;
    helper.getNode("doors")!.receive({ payload: "refresh" });
    await h.client.waitFor("pifog/dp1/doors", () => h.client.received.filter((m) => m.topic === "pifog/dp1/doors").length > before, 5000, false);
  });
});
