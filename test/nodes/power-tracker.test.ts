// The power-tracker node on a real broker: a power Pi's status and power messages in, the debounced
// connection (retained), status requests, the account store and TransitionEvents out; time is a FakeClock.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { AccountStore } from "../../nodes/lib/accounts/store";
import type { ConnectionState, PowerState, TransitionEvent } from "../../nodes/lib/contract";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import powerTracker from "../../nodes/power-tracker/power-tracker";
import { FakeClock } from "../support/fake-clock";
import { TestClient, type Received } from "../support/mqtt";
import { deviceNode, helper, startHarness, type Harness } from "../support/node-harness";
import { statusesOf } from "../support/statuses";

const nodes = [pifogDevice, powerTracker];
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();
const isOnline = (m: Received) => m.payload.includes('"online"');

function trackerFlow(url: string, extra: Record<string, unknown> = {}) {
  return [
    deviceNode("hub", url),
    { id: "pt", type: "power-tracker", z: "tab", device: "cfg-hub", devices: "", confirm: 5, wires: [["out"]], ...extra },
    { id: "out", type: "helper", z: "tab" },
    { id: "catcher", type: "catch", z: "tab", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper", z: "tab" },
    { id: "tab", type: "tab" },
  ];
}

describe("power-tracker node", () => {
  let h: Harness;
  let clock: FakeClock;
  let pings = 0;
  let out: TransitionEvent[];
  let caught: unknown[];

  /** Every message published before this has reached the hub's nodes. */
  async function barrier(): Promise<void> {
    const id = `barrier-${++pings}`;
    await h.client.publish("pifog/hub/command", JSON.stringify({ command: "ping", id }));
    await h.client.waitFor("pifog/hub/event", (m) => m.payload.includes(id));
  }

  async function load(extra: Record<string, unknown> = {}): Promise<void> {
    const since = h.client.received.length;
    await helper.load(nodes, trackerFlow(h.url, extra));
    await h.client.waitFor("pifog/hub/status", (m) => isOnline(m) && h.client.received.indexOf(m) >= since);
    out = [];
    caught = [];
    helper.getNode("out")!.on("input", (msg: unknown) => out.push((msg as { payload: TransitionEvent }).payload));
    helper.getNode("caught")!.on("input", (msg: unknown) => caught.push(msg));
    await barrier();
  }

  const powerState = (mains: "on" | "off", changedAt: number): string =>
    JSON.stringify({ device: "pp", mains, changedAt: iso(changedAt), battery: { voltage: 4.05, percent: 87, minutesLeft: null }, timestamp: iso(changedAt) } satisfies PowerState);
  const status = (state: "online" | "offline") =>
    JSON.stringify(state === "online"
      ? { state, device: "pp", role: "powerpi", addresses: [], bootTime: iso(T0), startedAt: iso(T0), version: "t", hardware: "sim", timestamp: iso(T0) }
      : { state, device: "pp" });
  const connections = (since = 0) =>
    h.client.received.filter((m, i) => i >= since && m.topic === "pifog/pp/connection").map((m) => h.client.json<ConnectionState>(m));
  const requests = (since = 0) => h.client.received.filter((m, i) => i >= since && m.topic === "pifog/pp/power/request");
  const withStore = <T>(fn: (s: AccountStore) => T): T => {
    const s = new AccountStore(h.dataDir);
    let result: T;
    try {
      result = fn(s);
    } catch (err) {
      s.close();
      throw err;
    }
    // password hashing is asynchronous: the store stays open until it is done
    if (result instanceof Promise) return result.finally(() => s.close()) as T;
    s.close();
    return result;
  };

  /** The power Pi as the hub first meets it: online, mains on since T0. */
  async function powerPiUp(): Promise<void> {
    await h.client.publish("pifog/pp/status", status("online"), { retain: true });
    await h.client.publish("pifog/pp/power", powerState("on", T0), { retain: true });
    await barrier();
  }

  beforeEach(async () => {
    h = await startHarness({ clientId: "pifog-pp-test" }); // plays the device (the harness client logs in as the runtime)
    clock = new FakeClock(T0 + 60_000);
    h.useServices({ clock });
  });
  afterEach(async () => {
    await h.close();
  });

  it("publishes the connection retained and records power and connection, with no transition for a first meeting", async () => {
    await load();
    await powerPiUp();
    const c = await h.client.waitFor("pifog/pp/connection");
    assert.deepEqual(h.client.json(c), { device: "pp", status: "connected", updated: iso(T0 + 60_000) });
    // retained: a dashboard that starts later has it at once
    const late = await TestClient.connect(h.url, h.auth);
    try {
      await late.subscribe("pifog/+/connection");
      const stored = await late.waitFor("pifog/pp/connection");
      assert.equal(stored.retain, true);
      assert.equal(late.json<ConnectionState>(stored).status, "connected");
    } finally {
      await late.end();
    }
    const d = withStore((s) => s.device("pp"));
    assert.deepEqual([d?.power, d?.powerUpdated, d?.connection, d?.connectionUpdated], ["on", T0, "connected", T0 + 60_000]);
    assert.deepEqual(out, []);
  });

  it("power lost and back: Off and On with the device's name and the power Pi's times", async () => {
    await withStore(async (s) => s.attachDevice((await s.createAccount("sam@example.com", "password1", ["sam@example.com"])).id, "pp", "Garage"));
    await load();
    await powerPiUp();
    await h.client.publish("pifog/pp/power/events", powerState("off", T0 + 30_000));
    await h.client.publish("pifog/pp/power", powerState("off", T0 + 30_000), { retain: true });
    await h.client.publish("pifog/pp/power/events", powerState("on", T0 + 90_000));
    await barrier();
    assert.deepEqual(out, [
      { device: "pp", name: "Garage", transition: "Off", connection: "connected", power: "off", at: iso(T0 + 30_000) },
      { device: "pp", name: "Garage", transition: "On", connection: "connected", power: "on", at: iso(T0 + 90_000) },
    ]);
    const d = withStore((s) => s.device("pp"));
    assert.deepEqual([d?.power, d?.powerUpdated], ["on", T0 + 90_000]);
  });

  it("a drop shorter than the delay: asks the Pi, gets its answer, and says nothing", async () => {
    await load();
    await powerPiUp();
    const since = h.client.received.length;
    await h.client.publish("pifog/pp/status", status("offline"), { retain: true });
    await h.client.waitFor("pifog/pp/power/request", () => true, 5000, false);
    clock.tick(2000);
    await h.client.publish("pifog/pp/power", powerState("on", T0)); // the Pi answers the request
    await barrier();
    clock.tick(60_000);
    await barrier();
    assert.deepEqual(out, []);
    assert.deepEqual(connections(since), []);
    assert.equal(requests(since).length, 1);
  });

  it("no answer within the delay: one Disconnected, published and stored; back: Connected", async () => {
    await load();
    await powerPiUp();
    const since = h.client.received.length;
    const wentAway = clock.now();
    await h.client.publish("pifog/pp/status", status("offline"), { retain: true });
    await h.client.waitFor("pifog/pp/power/request", () => true, 5000, false);
    clock.tick(4999);
    await barrier();
    assert.equal(out.length, 0, "not before the delay");
    clock.tick(1);
    const c = await h.client.waitFor("pifog/pp/connection", (m) => m.payload.includes("disconnected"), 5000, false);
    assert.deepEqual(h.client.json(c), { device: "pp", status: "disconnected", updated: iso(wentAway) });
    assert.deepEqual(out, [{ device: "pp", name: "pp", transition: "Disconnected", connection: "disconnected", power: "on", at: iso(wentAway) }]);
    assert.equal(withStore((s) => s.device("pp")?.connection), "disconnected");

    clock.tick(120_000);
    await h.client.publish("pifog/pp/status", status("online"), { retain: true });
    await barrier();
    assert.deepEqual(out.map((e) => [e.transition, e.connection, e.power]), [
      ["Disconnected", "disconnected", "on"],
      ["Connected", "connected", "on"],
    ]);
    assert.deepEqual(connections(since).map((s) => s.status), ["disconnected", "connected"]);
    // a dashboard that starts later sees the latest connection at once
    const late = await TestClient.connect(h.url, h.auth);
    try {
      await late.subscribe("pifog/+/connection");
      assert.equal(late.json<ConnectionState>(await late.waitFor("pifog/pp/connection")).status, "connected");
    } finally {
      await late.end();
    }
  });

  it("a flapping link sends no storm", async () => {
    await load();
    await powerPiUp();
    for (let i = 0; i < 10; i++) {
      await h.client.publish("pifog/pp/status", status("offline"), { retain: true });
      await barrier();
      clock.tick(3000);
      await h.client.publish("pifog/pp/status", status("online"), { retain: true });
      await barrier();
      clock.tick(3000);
    }
    clock.tick(60_000);
    await barrier();
    assert.deepEqual(out, []);
  });

  it("goes on from the store after a restart: a change missed meanwhile is sent, a known state is not", async () => {
    await load();
    await powerPiUp();
    await helper.unload();
    await h.client.publish("pifog/pp/power", powerState("off", T0 + 120_000), { retain: true });
    await load();
    await barrier();
    assert.deepEqual(out.map((e) => [e.transition, e.at]), [["Off", iso(T0 + 120_000)]]);
    await helper.unload();
    await load();
    clock.tick(60_000);
    await barrier();
    assert.deepEqual(out, [], "the same retained state again is not news");
  });

  it("follows only the configured devices", async () => {
    await load({ devices: "other" });
    await powerPiUp();
    clock.tick(10_000);
    await barrier();
    assert.equal(withStore((s) => s.device("pp")), null);
    assert.deepEqual(connections(), []);
  });

  it("a broken power message: red status, an error Catch nodes see, a dead letter; the node goes on", async () => {
    await load();
    await powerPiUp();
    await h.client.publish("pifog/pp/power/events", '{"mains":"maybe"}');
    await barrier();
    assert.equal(caught.length, 1);
    const letters = fs.readFileSync(path.join(h.dataDir, "dead-letter.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(letters.at(-1).topic, "pifog/pp/power/events");
    await h.client.publish("pifog/pp/power/events", powerState("off", T0 + 30_000));
    await barrier();
    assert.deepEqual(out.map((e) => e.transition), ["Off"]);
  });

  it("a cleared retained status or power (an empty payload) is no state: no error, no dead letter, no question, no change", async () => {
    await load();
    await powerPiUp();
    await h.client.waitFor("pifog/pp/connection");
    const since = h.client.received.length;
    await h.client.publish("pifog/pp/status", "", { retain: true });
    await h.client.publish("pifog/pp/power", "", { retain: true });
    await barrier();
    clock.tick(60_000);
    await barrier();
    assert.deepEqual(caught, []);
    const letters = path.join(h.dataDir, "dead-letter.jsonl");
    assert.equal(fs.existsSync(letters) ? fs.readFileSync(letters, "utf8") : "", "", "nothing dead-lettered");
    assert.deepEqual([requests(since).length, connections(since).length, out.length], [0, 0, 0], "no status request, no connection change, no transition");
    const d = withStore((s) => s.device("pp"));
    assert.deepEqual([d?.power, d?.connection], ["on", "connected"]);
  });

  it("refuses a bad device list or delay with a red status, and follows nothing", async () => {
    for (const extra of [{ devices: "pp, not/a/device" }, { confirm: -1 }, { confirm: "soon" }]) {
      await helper.load(nodes, trackerFlow(h.url, extra));
      const node = helper.getNode("pt")!;
      const shown = statusesOf(node);
      assert.equal(shown.at(-1)?.fill, "red", JSON.stringify(extra));
      await powerPiUp();
      assert.equal(withStore((s) => s.device("pp")), null, JSON.stringify(extra));
      await helper.unload();
    }
  });
});
