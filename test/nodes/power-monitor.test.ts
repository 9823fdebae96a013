import assert from "node:assert/strict";
import type { Node, NodeAPI, NodeDef } from "node-red";
import { RUNTIME_USER } from "../../nodes/lib/broker/client-guard";
import { EmbeddedBroker } from "../../nodes/lib/broker/embedded-broker";
import type { PowerState } from "../../nodes/lib/contract";
import { simDrivers } from "../../nodes/lib/drivers/factory";
import type { SimBus } from "../../nodes/lib/drivers/sim/sim-bus";
import { DeviceLink } from "../../nodes/lib/mqtt/device-link";
import { servicesOf } from "../../nodes/lib/services";
import type { LinkUser, PifogDevice } from "../../nodes/lib/node-red/device";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import powerMonitor, { normalisePowerMonitor } from "../../nodes/power-monitor/power-monitor";
import { advanceUntil } from "../support/clock-pump";
import { FakeClock } from "../support/fake-clock";
import { TestClient, type Received } from "../support/mqtt";
import { translated } from "../support/messages";
import { deviceNode, helper, pingBarrier, startHarness, type Harness } from "../support/node-harness";
import { freePort } from "../support/ports";
import { until } from "../support/until";

const nodes = [pifogDevice, powerMonitor];
const HUB_PASSWORD = "hub-runtime-secret";

function powerFlow(url: string, monitor: Record<string, unknown> = {}, device: Record<string, unknown> = {}) {
  return [
    deviceNode("pp1", url, { role: "powerpi", ...device }),
    { id: "power", type: "power-monitor", device: "cfg-pp1", debounce: 20, ups: "upslite-v1.2", poll: 60, wires: [["out"]], ...monitor },
    { id: "out", type: "helper" },
  ];
}

const isPower = (m: Received) => m.topic === "pifog/pp1/power";
const isEvent = (m: Received) => m.topic === "pifog/pp1/power/events";
const parse = (m: Received) => JSON.parse(m.payload.toString("utf8")) as PowerState;

/** Waits (real time) until `test` holds. */

/** What the node sends on its output. */
function outputs(): Array<{ payload: PowerState; event: boolean }> {
  const seen: Array<{ payload: PowerState; event: boolean }> = [];
  (helper.getNode("out") as unknown as NodeJS.EventEmitter).on("input", (msg: { payload: PowerState; event: boolean }) => seen.push(msg));
  return seen;
}

describe("power-monitor node", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it("publishes its state, retained, and the first reading as an event at start, with the battery", async () => {
    const before = Date.now();
    await helper.load(nodes, powerFlow(h.url));
    const state = h.client.json<PowerState>(await h.client.waitFor("pifog/pp1/power"));
    assert.equal(state.device, "pp1");
    assert.equal(state.mains, "on");
    assert.ok(Date.parse(state.changedAt) >= before - 5 && Date.parse(state.changedAt) <= Date.now());
    assert.equal(state.battery?.percent, 100, "the simulated battery starts full");
    assert.ok(state.battery!.voltage > 4 && state.battery!.voltage <= 4.2);
    assert.equal(state.battery?.minutesLeft, null, "on the mains: no time left to tell");
    const event = h.client.json<PowerState>(await h.client.waitFor("pifog/pp1/power/events"));
    assert.deepEqual({ ...event, timestamp: "" }, { ...state, timestamp: "" });

    const late = await TestClient.connect(h.url, h.auth);
    await late.subscribe("pifog/pp1/power");
    const retained = await late.waitFor("pifog/pp1/power");
    assert.equal(retained.retain, true);
    assert.equal(late.json<PowerState>(retained).mains, "on");
    await late.end();
  });

  it("reports mains off from the simulator as an event and as the retained state, with the time it changed", async () => {
    await helper.load(nodes, powerFlow(h.url));
    const out = outputs();
    await h.client.waitFor("pifog/pp1/power/events");
    const offAt = Date.now();
    await h.client.publish("pifog/pp1/sim/mains/set", "off");
    const off = parse(await h.client.waitFor("pifog/pp1/power/events", (m) => parse(m).mains === "off"));
    const changed = Date.parse(off.changedAt);
    assert.ok(changed >= offAt && changed <= Date.now(), `changedAt ${off.changedAt} is when the mains went`);
    assert.ok(off.battery && off.battery.percent > 99, "the battery with it");
    const state = parse(await h.client.waitFor("pifog/pp1/power", (m) => parse(m).mains === "off"));
    assert.equal(state.changedAt, off.changedAt);

    await h.client.publish("pifog/pp1/sim/mains/set", "on");
    const on = parse(await h.client.waitFor("pifog/pp1/power/events", (m) => parse(m).mains === "on" && Date.parse(parse(m).changedAt) > changed));
    assert.equal(on.battery?.minutesLeft, null);
    const events = h.client.received.filter(isEvent).map((m) => parse(m).mains);
    assert.deepEqual(events, ["on", "off", "on"], "one event per change, in order");
    await until(() => out.filter((m) => m.event).length === 3, "three events on the output");
    assert.deepEqual(out.filter((m) => m.event).map((m) => m.payload.mains), ["on", "off", "on"]);
  });

  it("ignores a flicker shorter than the debounce", async () => {
    // the debounce runs on the device's clock: a flicker of 299 ms of it, whatever the machine's load
    const clock = new FakeClock(Date.now());
    h.useServices({ clock });
    await helper.load(nodes, powerFlow(h.url, { debounce: 300 }));
    const events = () => h.client.received.filter(isEvent).map((m) => parse(m).mains);
    await advanceUntil(clock, () => events().length === 1, "the event at start", { stepMs: 10 });
    const mains = async (word: string) => {
      await h.client.publish("pifog/pp1/sim/mains/set", word);
      await pingBarrier(h.client, "pp1"); // the simulated input has sampled it
    };
    await mains("off");
    clock.tick(299);
    await mains("on");
    clock.tick(10_000);
    assert.deepEqual(events(), ["on"]);
    // a cut held for the debounce is the next event: the flicker made none before it (events go out in order)
    await mains("off");
    await advanceUntil(clock, () => events().length >= 2, "the cut's event", { stepMs: 10 });
    assert.deepEqual(events(), ["on", "off"]);
  });

  it("answers every request at once, unconditionally, and makes no event of it", async () => {
    await helper.load(nodes, powerFlow(h.url));
    await h.client.waitFor("pifog/pp1/power");
    await h.client.waitFor("pifog/pp1/power/events");
    for (let i = 1; i <= 2; i++) {
      const count = h.client.received.filter(isPower).length;
      await h.client.publish("pifog/pp1/power/request", i === 1 ? "{}" : "");
      await h.client.waitFor("pifog/pp1/power", () => h.client.received.filter(isPower).length > count, 5000, false);
    }
    const answers = h.client.received.filter(isPower).map(parse);
    assert.equal(answers.length, 3);
    assert.ok(answers.every((s) => s.mains === "on" && s.changedAt === answers[0]!.changedAt), "the same state each time");
    assert.equal(h.client.received.filter(isEvent).length, 1, "a request is not a change");

    // an input message does the same
    const count = h.client.received.filter(isPower).length;
    helper.getNode("power")!.receive({ payload: "now" });
    await h.client.waitFor("pifog/pp1/power", () => h.client.received.filter(isPower).length > count, 5000, false);
  });

  it("publishes a battery that visibly moved at the next poll, and no battery without a UPS", async () => {
    await helper.load(nodes, powerFlow(h.url, { poll: 1 }));
    await h.client.waitFor("pifog/pp1/power");
    await h.client.publish("pifog/pp1/sim/battery/set", "42.5");
    // on the mains it charges on from there
    const moved = parse(await h.client.waitFor("pifog/pp1/power", (m) => Math.floor(parse(m).battery?.percent ?? 0) === 42));
    assert.equal(moved.mains, "on");
    assert.equal(h.client.received.filter(isEvent).length, 1, "the battery alone is not a power event");
    await helper.unload();

    h.client.received.length = 0;
    await helper.load(nodes, powerFlow(h.url, { ups: "none" }));
    const state = parse(await h.client.waitFor("pifog/pp1/power"));
    assert.equal(state.battery, null);
  });

  it("estimates the minutes left on battery from the charge's trend, by the injected clock", async () => {
    const clock = new FakeClock(Date.now());
    h.useServices({ clock });
    const pump = setInterval(() => clock.tick(0), 5); // timers due now run; time moves only when the test says
    /** Sets the simulated mains and waits until the device has it (its debounce then waits on the fake clock). */
    const flipMains = async (word: string) => {
      const seen = h.client.received.length;
      await h.client.publish("pifog/pp1/sim/mains/set", word);
      await h.client.waitFor("pifog/pp1/sim/mains", (m) => h.client.received.indexOf(m) >= seen && m.payload.toString() === word);
    };
    try {
      await helper.load(nodes, powerFlow(h.url, { debounce: 200 }));
      await h.client.waitFor("pifog/pp1/power");
      await flipMains("off");
      clock.tick(200);
      const off = parse(await h.client.waitFor("pifog/pp1/power", (m) => parse(m).mains === "off"));
      assert.equal(off.changedAt, new Date(Date.parse(off.timestamp)).toISOString());
      assert.equal(off.battery?.minutesLeft, null, "one reading is no trend");
      clock.tick(60_000);
      await h.client.waitFor("pifog/pp1/power", (m) => (parse(m).battery?.percent ?? 100) < 100);
      clock.tick(60_000);
      const trend = parse(await h.client.waitFor("pifog/pp1/power", (m) => typeof parse(m).battery?.minutesLeft === "number"));
      // the simulator drains full to empty in 240 min: after 2 min, some 238 left
      assert.ok(Math.abs(trend.battery!.minutesLeft! - 238) <= 1, `minutes left: ${trend.battery!.minutesLeft}`);
      assert.equal(trend.changedAt, off.changedAt, "a poll does not move the time of the change");

      await flipMains("on");
      clock.tick(200);
      const on = parse(await h.client.waitFor("pifog/pp1/power/events", (m) => parse(m).mains === "on" && Date.parse(parse(m).changedAt) > Date.parse(off.changedAt)));
      assert.equal(on.battery?.minutesLeft, null, "charging: no time left to tell");
    } finally {
      clearInterval(pump);
    }
  });

  it("off a Pi with hardware set to pi: grey 'not available', a warning, nothing published, no crash", async () => {
    // with the node's own message catalog, as the editor and the log show it to the user
    await helper.load(translated(nodes), powerFlow(h.url, {}, { hardware: "pi" }));
    await h.client.waitFor("pifog/pp1/status", (m) => m.payload.includes('"online"'));
    const logged = helper.log().args.map((a) => JSON.stringify(a)).join("\n");
    assert.match(logged, /mains GPIO not available here \(.+\); set the device's hardware to sim to simulate it/);
    const node = helper.getNode("power")!;
    const spy = (node as unknown as { status: { getCalls(): Array<{ args: Array<{ fill: string; text: string }> }> } }).status;
    const calls = spy.getCalls().map((c) => c.args[0]);
    assert.deepEqual(calls.at(-1), { fill: "grey", shape: "ring", text: "GPIO not available" });
    await pingBarrier(h.client, "pp1"); // anything the node published has arrived
    assert.equal(h.client.received.filter((m) => m.topic.startsWith("pifog/pp1/power")).length, 0);
  });

  it("refuses a config it cannot use, saying why", () => {
    assert.deepEqual(normalisePowerMonitor({}), { pin: 4, onLevel: 1, pull: "down", debounceMs: 200, ups: null, pollMs: 60_000 });
    assert.equal(normalisePowerMonitor({ mainsHigh: false, ups: "upslite-v1.3", poll: "5" }).onLevel, 0);
    assert.throws(() => normalisePowerMonitor({ pin: 60 }), /mains GPIO 60 is not 0\.\.53/);
    assert.throws(() => normalisePowerMonitor({ ups: "apc" }), /UPS "apc" is not none, upslite-v1\.2, upslite-v1\.3/);
    assert.throws(() => normalisePowerMonitor({ poll: 0 }), /poll period 0 s/);
    assert.throws(() => normalisePowerMonitor({ debounce: -1 }), /debounce -1 ms/);
  });

  describe("while the broker cannot be reached", () => {
    /**
     * A stand-in for the pifog-device config node: a real device link, but its simulator's set topics come from
     * the test in process, so the mains can be flipped while the network is down (as a real mains does).
     */
    class LocalSim {
      private handlers = new Map<string, Set<(payload: Buffer) => void>>();
      subscribe(topic: string, handler: (payload: Buffer) => void): () => void {
        const set = this.handlers.get(topic) ?? new Set();
        set.add(handler);
        this.handlers.set(topic, set);
        return () => set.delete(handler);
      }
      set(input: string, payload: string): void {
        for (const handler of this.handlers.get(`pifog/pp1/sim/${input}/set`) ?? []) handler(Buffer.from(payload));
      }
    }

    function offlineDevice(sim: LocalSim) {
      return function register(RED: NodeAPI): void {
        function OfflineDevice(this: Node & PifogDevice, config: NodeDef & { deviceId: string; broker: string }) {
          RED.nodes.createNode(this, config);
          const clock = servicesOf(RED).clock;
          const link = new DeviceLink({
            url: config.broker,
            device: config.deviceId,
            role: "powerpi",
            hardware: "sim",
            version: "test",
            addresses: () => [],
            bootTime: new Date(clock.now()),
            clock,
            // it logs in to the hub's broker as that broker's runtime user
            username: RUNTIME_USER,
            password: HUB_PASSWORD,
          });
          const bus: SimBus = {
            device: config.deviceId,
            subscribe: (topic, handler) => sim.subscribe(topic, handler),
            publish: (topic, payload, retain) => void link.publishEncoded(topic, payload, { qos: 1, retain }).catch(() => undefined),
            warn: () => undefined,
          };
          const drivers = simDrivers(bus, clock);
          Object.assign(this, {
            deviceId: config.deviceId, role: "powerpi", compat: undefined, link, drivers, brokerUrl: config.broker, brokerAuth: {},
            linkView: { state: "unreachable", text: "broker unreachable" },
            register: (user: LinkUser) => user.linkChanged({ state: "unreachable", text: "broker unreachable" }),
            deregister: async () => undefined,
            driversFor: () => drivers,
          });
          link.on("error", () => undefined); // refused connections: the point of the test
          link.start();
          this.on("close", (done: () => void) => void link.close().then(done, done));
        }
        RED.nodes.registerType("pifog-device", OfflineDevice as unknown as Parameters<NodeAPI["nodes"]["registerType"]>[1]);
      };
    }

    let hub: EmbeddedBroker | null = null;
    afterEach(async () => {
      await helper.unload();
      await hub?.close();
      hub = null;
    });

    it("keeps every event on disk, across a restart, and delivers each once, in order, with its original time", async () => {
      const port = await freePort();
      const url = `mqtt://127.0.0.1:${port}`; // nothing listens there yet: the router is down
      const flow = [
        { id: "cfg-pp1", type: "pifog-device", deviceId: "pp1", broker: url },
        { id: "power", type: "power-monitor", device: "cfg-pp1", debounce: 20, ups: "upslite-v1.2", poll: 60, wires: [["out"]] },
        { id: "out", type: "helper" },
      ];
      const made: PowerState[] = [];
      const start = async (sim: LocalSim) => {
        await helper.load([offlineDevice(sim), powerMonitor], flow);
        const out = outputs();
        return async (count: number) => {
          await until(() => out.filter((m) => m.event).length >= count, `${count} events made`);
          made.push(...out.filter((m) => m.event).slice(count - 1, count).map((m) => m.payload));
        };
      };

      let sim = new LocalSim();
      let waitMade = await start(sim);
      await waitMade(1); // the reading at start
      const flips = ["off", "on", "off", "on"];
      for (const [i, word] of flips.entries()) {
        sim.set("mains", word);
        await waitMade(i + 2);
      }
      // Node-RED (or the Pi) restarts with the events still undelivered
      await helper.unload();
      sim = new LocalSim();
      waitMade = await start(sim);
      await waitMade(1);
      sim.set("mains", "off");
      await waitMade(2);

      assert.deepEqual(made.map((s) => s.mains), ["on", "off", "on", "off", "on", "on", "off"]);
      assert.equal(made[5]!.changedAt, made[4]!.changedAt, "after the restart the mains had not changed: its time is kept");
      for (let i = 1; i < made.length; i++) assert.ok(made[i]!.timestamp >= made[i - 1]!.timestamp, "made in order");

      // the network comes back
      hub = await EmbeddedBroker.start({ port, host: "127.0.0.1", runtimePassword: HUB_PASSWORD });
      hub.hold(); // nothing is routed before the hub's subscriber is there
      const listener = await TestClient.connect(url, hub.runtimeCredentials);
      try {
        await listener.subscribe("pifog/pp1/power/events", "pifog/pp1/power");
        hub.release();
        await until(() => listener.received.filter(isEvent).length >= made.length, `${made.length} events delivered`, 20_000);
        await listener.waitFor("pifog/pp1/power", (m) => parse(m).changedAt === made.at(-1)!.changedAt);
        // every event acknowledged (nothing left to send again), and whatever the device sent before has arrived
        await until(() => (helper.getNode("power") as unknown as { outbox: { size: number } | null }).outbox?.size === 0, "every event acknowledged");
        await listener.subscribe("pifog/pp1/event");
        await pingBarrier(listener, "pp1");
        const delivered = listener.received.filter(isEvent).map(parse);
        assert.deepEqual(delivered, made, "each event once, in order, exactly as made (original times)");
        assert.ok(made.every((s) => Date.parse(s.timestamp) < Date.now()));
        // the retained state comes after the events it sums up
        const lastIndex = (test: (m: Received) => boolean) => listener.received.reduce((at, m, i) => (test(m) ? i : at), -1);
        const lastEvent = lastIndex(isEvent);
        const lastState = lastIndex(isPower);
        assert.ok(lastState > lastEvent, "the state follows the events");
        assert.equal(parse(listener.received[lastState]!).mains, "off");
      } finally {
        await listener.end();
      }
    });
  });
});
