import assert from "node:assert/strict";
import { pythonTimestamp, type CompatEnvironmentEvent, type EnvironmentState } from "../../nodes/lib/contract";
import type { EnvReading } from "../../nodes/lib/drivers/types";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import senseEnv, { correctedTemperature, normaliseSenseEnv, type SenseEnvDef } from "../../nodes/sense-env/sense-env";
import { FakeClock } from "../support/fake-clock";
import { TestClient, type Received } from "../support/mqtt";
import { deviceNode, helper, startHarness, waitForEvent, type Harness } from "../support/node-harness";
import { statusesOf } from "../support/statuses";

const nodes = [pifogDevice, senseEnv];

function envFlow(url: string, sensor: Record<string, unknown> = {}, device: Record<string, unknown> = {}) {
  return [
    deviceNode("sp1", url, { compat: "StatusPi", ...device }),
    { id: "watch", type: "status", z: "tab", scope: ["env"], wires: [["statuses"]] },
    { id: "statuses", type: "helper", z: "tab" },
    { id: "env", type: "sense-env", z: "tab", device: "cfg-sp1", interval: 60, factor: 1.5, values: true, compat: true, wires: [["out"]], ...sensor },
    { id: "out", type: "helper", z: "tab" },
    { id: "catcher", type: "catch", z: "tab", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper", z: "tab" },
    { id: "tab", type: "tab" },
  ];
}

type Msg = { topic: string; payload: EnvironmentState };

/** Every message the node sends, in order, and a way to wait for the n-th. */
function outputs(): { list: Msg[]; nth: (n: number) => Promise<Msg> } {
  const list: Msg[] = [];
  const waiting: Array<{ n: number; resolve: (m: Msg) => void }> = [];
  (helper.getNode("out") as unknown as NodeJS.EventEmitter).on("input", (m: Msg) => {
    list.push(m);
    for (const w of waiting.filter((w) => w.n === list.length)) w.resolve(m);
  });
  return {
    list,
    nth: (n) =>
      list.length >= n
        ? Promise.resolve(list[n - 1]!)
        : new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no reading #${n}; got ${list.length}`)), 10_000);
            waiting.push({ n, resolve: (m) => (clearTimeout(timer), resolve(m)) });
          }),
  };
}

const text = (m: Received) => m.payload.toString("utf8");

describe("sense-env node", () => {
  let h: Harness;
  let clock: FakeClock;

  beforeEach(async () => {
    h = await startHarness();
    clock = new FakeClock(Date.UTC(2026, 5, 1, 12, 0, 0));
    h.useServices({ clock });
  });
  afterEach(async () => {
    await h.close();
  });

  /** Holds the simulated sensors at these values and waits until the simulator has them. */
  async function simulate(values: Record<string, number>): Promise<void> {
    for (const [name, value] of Object.entries(values)) {
      await h.client.publish(`pifog/sp1/sim/${name}/set`, String(value), { retain: true });
    }
    for (const [name, value] of Object.entries(values)) {
      await h.client.waitFor(`pifog/sp1/sim/${name}`, (m) => text(m) === String(value));
    }
  }

  it("publishes a reading at start, retained with QoS 1: native JSON, each value as a plain number, and PiFog's event", async () => {
    await helper.load(nodes, envFlow(h.url));
    const state = h.client.json<EnvironmentState>(await h.client.waitFor("pifog/sp1/environment"));
    assert.equal(state.device, "sp1");
    assert.equal(state.factor, 1.5);
    assert.equal(state.corrected, true);
    assert.equal(state.timestamp, new Date(clock.now()).toISOString());
    for (const key of ["temperature", "temperatureFromHumidity", "temperatureFromPressure", "humidity", "pressure", "cpuTemperature"] as const) {
      assert.equal(typeof state[key], "number", key);
    }
    assert.ok(state.temperature < state.temperatureFromHumidity, "the CPU-warmed reading is corrected downwards");

    const plain = async (name: string) => text(await h.client.waitFor(`pifog/sp1/environment/${name}`));
    assert.equal(await plain("temperature"), String(state.temperature));
    assert.equal(await plain("temperature-from-humidity"), String(state.temperatureFromHumidity));
    assert.equal(await plain("temperature-from-pressure"), String(state.temperatureFromPressure));
    assert.equal(await plain("humidity"), String(state.humidity));
    assert.equal(await plain("pressure"), String(state.pressure));
    assert.equal(await plain("cpu-temperature"), String(state.cpuTemperature));
    assert.match(await plain("pressure"), /^\d+(\.\d+)?$/, "a plain number, IoTitan style");

    const event = h.client.json<CompatEnvironmentEvent>(await h.client.waitFor("/World/Fog/1/StatusPi/Event"));
    assert.deepEqual(Object.keys(event), ["state"]);
    assert.deepEqual(Object.keys(event.state).sort(), ["humidity", "pressure", "temperature_from_humidity", "temperature_from_pressure", "timestamp"]);
    assert.equal(event.state.humidity, state.humidity);
    assert.equal(event.state.temperature_from_humidity, state.temperatureFromHumidity);
    assert.equal(event.state.temperature_from_pressure, state.temperatureFromPressure);
    assert.equal(event.state.pressure, state.pressure);
    assert.equal(event.state.timestamp, pythonTimestamp(new Date(clock.now())));
    assert.match(event.state.timestamp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);

    // a late subscriber gets all of it: it was retained
    const late = await TestClient.connect(h.url, h.auth);
    await late.subscribe("pifog/sp1/environment", "pifog/sp1/environment/temperature", "/World/Fog/1/StatusPi/Event");
    assert.equal((await late.waitFor("pifog/sp1/environment")).retain, true);
    assert.equal((await late.waitFor("pifog/sp1/environment/temperature")).retain, true);
    assert.equal((await late.waitFor("/World/Fog/1/StatusPi/Event")).retain, true);
    await late.end();
  });

  it("reads again every 60 s by default, and sends each reading on its output", async () => {
    await helper.load(nodes, envFlow(h.url, { interval: "" }));
    const out = outputs();
    const first = await out.nth(1);
    assert.equal(first.topic, "pifog/sp1/environment");
    clock.tick(59_999);
    clock.tick(1);
    const second = await out.nth(2);
    clock.tick(60_000);
    const third = await out.nth(3);
    const times = [first, second, third].map((m) => Date.parse(m.payload.timestamp));
    assert.deepEqual([times[1]! - times[0]!, times[2]! - times[1]!], [60_000, 60_000]);
    assert.equal(out.list.length, 3, "one reading per interval");
    await h.client.waitFor("pifog/sp1/environment", (m) => h.client.json<EnvironmentState>(m).timestamp === third.payload.timestamp);
  });

  it("takes its interval from the editor", async () => {
    await helper.load(nodes, envFlow(h.url, { interval: 5 }));
    const out = outputs();
    const first = await out.nth(1);
    clock.tick(5_000);
    const second = await out.nth(2);
    assert.equal(Date.parse(second.payload.timestamp) - Date.parse(first.payload.timestamp), 5_000);
  });

  it("corrects the temperature for the CPU's heat: t − (t_cpu − t) / factor, with the raw readings beside it", async () => {
    await helper.load(nodes, envFlow(h.url));
    const out = outputs();
    await out.nth(1);
    // values the simulated day never reaches, so seeing them proves the simulator took them
    await simulate({ temperature: 40, "cpu-temperature": 55, humidity: 60.5, pressure: 1001.5, "temperature-from-pressure": 39.25 });
    clock.tick(60_000);
    const { payload: state } = await out.nth(2);
    assert.equal(state.temperature, 30, "40 − (55 − 40) / 1.5");
    assert.equal(correctedTemperature(40, 55, 1.5), 30);
    assert.deepEqual(
      [state.temperatureFromHumidity, state.temperatureFromPressure, state.humidity, state.pressure, state.cpuTemperature, state.corrected],
      [40, 39.25, 60.5, 1001.5, 55, true],
    );
    await h.client.waitFor("pifog/sp1/environment/temperature", (m) => text(m) === "30");
    await h.client.waitFor("pifog/sp1/environment/temperature-from-humidity", (m) => text(m) === "40");
    await h.client.waitFor("pifog/sp1/environment/cpu-temperature", (m) => text(m) === "55");
    // PiFog's event carries the raw readings only, at the time of the reading
    const event = h.client.json<CompatEnvironmentEvent>(
      await h.client.waitFor("/World/Fog/1/StatusPi/Event", (m) => m.payload.includes('"humidity":60.5')),
    );
    assert.deepEqual(event, {
      state: {
        humidity: 60.5,
        temperature_from_humidity: 40,
        temperature_from_pressure: 39.25,
        pressure: 1001.5,
        timestamp: pythonTimestamp(new Date(clock.now())),
      },
    });
  });

  it("uses the factor from the editor", async () => {
    await helper.load(nodes, envFlow(h.url, { factor: "3" }));
    const out = outputs();
    await out.nth(1);
    await simulate({ temperature: 41, "cpu-temperature": 56 });
    helper.getNode("env")!.receive({ payload: "now" });
    const { payload: state } = await out.nth(2);
    assert.equal(state.temperature, 36, "41 − (56 − 41) / 3");
    assert.equal(state.factor, 3);
  });

  it("with PiFog's event and the plain values turned off, publishes only the native reading", async () => {
    await helper.load(nodes, envFlow(h.url, { compat: false, values: false }));
    const out = outputs();
    await out.nth(1);
    await h.client.waitFor("pifog/sp1/environment");
    await h.client.waitFor("pifog/sp1/status", (m) => m.payload.includes('"online"'));
    // a marker published after the reading: by the time it arrives, anything the node published has too
    await h.client.publish("test/marker", "1");
    await h.client.waitFor("test/marker");
    assert.equal(h.client.received.some((m) => m.topic === "/World/Fog/1/StatusPi/Event"), false);
    assert.equal(h.client.received.some((m) => m.topic.startsWith("pifog/sp1/environment/")), false);
  });

  it("a failed read: red status and an error Catch nodes see; the next interval reads again", async () => {
    await helper.load(nodes, envFlow(h.url));
    const out = outputs();
    await out.nth(1);
    const node = helper.getNode("env") as unknown as { sensor: { read: () => Promise<EnvReading> } };
    const real = node.sensor.read.bind(node.sensor);
    node.sensor.read = () => Promise.reject(new Error("Remote I/O error"));

    const caught = waitForEvent<{ error: { message: string }; topic: string }>(helper.getNode("caught")!, "input");
    const red = new Promise<{ status: { fill: string; text: string } }>((resolve) =>
      (helper.getNode("statuses") as unknown as NodeJS.EventEmitter).on("input", (m: { status: { fill: string; text: string } }) => {
        if (m.status.fill === "red") resolve(m);
      }),
    );
    clock.tick(60_000);
    const err = await caught;
    assert.match(err.error.message, /Remote I\/O error/);
    assert.equal(err.topic, "pifog/sp1/environment");
    assert.match((await red).status.text, /sense-env\.status\.read-error|Remote I\/O error/);

    node.sensor.read = real;
    clock.tick(60_000);
    const again = await out.nth(2);
    assert.equal(Date.parse(again.payload.timestamp), clock.now());
  });

  it("without a CPU temperature, publishes the raw temperature marked uncorrected, warning once", async () => {
    await helper.load(nodes, envFlow(h.url));
    const out = outputs();
    await out.nth(1);
    const node = helper.getNode("env") as unknown as { cpu: { read: () => Promise<number> } };
    node.cpu.read = () => Promise.reject(new Error("ENOENT: thermal_zone0"));
    await simulate({ temperature: 40 });
    clock.tick(60_000);
    const { payload: state } = await out.nth(2);
    assert.deepEqual([state.temperature, state.corrected, state.cpuTemperature], [40, false, null]);
    clock.tick(60_000);
    await out.nth(3);
    const warnings = helper.log().args.map((a) => JSON.stringify(a)).filter((l) => /sense-env\.errors\.cpu|CPU temperature not available/.test(l));
    assert.equal(warnings.length, 1);
    await h.client.waitFor("pifog/sp1/environment", (m) => h.client.json<EnvironmentState>(m).corrected === false);
  });

  it("off a Pi with hardware set to pi: grey 'not available', one warning, nothing published, no crash", async () => {
    await helper.load(nodes, envFlow(h.url, {}, { hardware: "pi" }));
    await h.client.waitFor("pifog/sp1/status", (m) => m.payload.includes('"online"'));
    clock.tick(120_000);
    helper.getNode("env")!.receive({ payload: "now" });
    await h.client.publish("test/marker", "1");
    await h.client.waitFor("test/marker");
    assert.equal(h.client.received.some((m) => m.topic.startsWith("pifog/sp1/environment")), false);
    assert.equal(h.client.received.some((m) => m.topic === "/World/Fog/1/StatusPi/Event"), false);
    const logged = helper.log().args.map((a) => JSON.stringify(a));
    assert.equal(logged.filter((l) => /sense-env\.errors\.unavailable|environment sensors not available/.test(l)).length, 1);
    assert.equal(clock.pending, 0, "no interval left running");
    const env = helper.getNode("env")!;
    const shown = statusesOf(env).map((s) => s.fill);
    assert.deepEqual(shown, ["grey"]);
    assert.match(statusesOf(env)[0]!.text, /sense-env\.status\.unavailable|not available/);
  });

  it("normalises its config once: defaults, and a message a user can act on", () => {
    const def = (over: Partial<SenseEnvDef>) => ({ id: "n", type: "sense-env", name: "", z: "", device: "d", interval: "", factor: "", compat: true, values: true, ...over }) as SenseEnvDef;
    assert.deepEqual(normaliseSenseEnv(def({})), { intervalMs: 60_000, factor: 1.5, compat: true, values: true });
    assert.deepEqual(normaliseSenseEnv(def({ interval: "2.5", factor: 2, compat: false })), { intervalMs: 2_500, factor: 2, compat: false, values: true });
    assert.throws(() => normaliseSenseEnv(def({ factor: 0 })), /correction factor 0/);
    assert.throws(() => normaliseSenseEnv(def({ factor: "x" })), /correction factor x/);
    assert.throws(() => normaliseSenseEnv(def({ interval: 0 })), /interval 0 s is not 1\.\.86400/);
  });

  it("a bad factor in the editor: red status, an error, and no readings", async () => {
    await helper.load(nodes, envFlow(h.url, { factor: "-1" }));
    await h.client.waitFor("pifog/sp1/status", (m) => m.payload.includes('"online"'));
    await h.client.publish("test/marker", "1");
    await h.client.waitFor("test/marker");
    assert.equal(h.client.received.some((m) => m.topic === "pifog/sp1/environment"), false);
    const logged = helper.log().args.map((a) => JSON.stringify(a)).join("\n");
    assert.match(logged, /correction factor -1/);
    assert.deepEqual(statusesOf(helper.getNode("env")!), [{ fill: "red", shape: "ring", text: "correction factor -1 must be in (0, 100]" }]);
  });

  it("stops reading when the flow stops", async () => {
    await helper.load(nodes, envFlow(h.url));
    await outputs().nth(1);
    assert.equal(clock.pending, 1, "the interval");
    await helper.unload();
    assert.equal(clock.pending, 0);
  });
});
