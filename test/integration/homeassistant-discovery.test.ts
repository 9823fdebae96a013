// Home Assistant discovery end to end on a real broker: a flow of PiFog nodes on simulated Pis with PIFOG_HA_DISCOVERY
// set puts one retained config per entity under homeassistant/…, each valid for its component, available by the
// device's status, and reading (rendered by Jinja2, as Home Assistant does) the payloads the nodes really published;
// the button really opens the door; a node removed by a deploy takes its entities away, the device's switch takes
// them all; without PIFOG_HA_DISCOVERY nothing is published there.
import assert from "node:assert/strict";
import alert from "../../nodes/alert/alert";
import camera from "../../nodes/camera/camera";
import doorOpener from "../../nodes/door-opener/door-opener";
import doorSensor from "../../nodes/door-sensor/door-sensor";
import motionDetect from "../../nodes/motion-detect/motion-detect";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import powerMonitor from "../../nodes/power-monitor/power-monitor";
import senseEnv from "../../nodes/sense-env/sense-env";
import statusMatrix from "../../nodes/status-matrix/status-matrix";
import type { HaConfig } from "../../nodes/lib/homeassistant/discovery";
import { cameraTopics } from "../../nodes/lib/contract";
import { haConfigProblems, type HaDocComponent } from "../support/homeassistant-schema";
import { jinjaMissing, renderAll } from "../support/jinja";
import { TestClient, type Received } from "../support/mqtt";
import { deviceNode, helper, startHarness, type Harness } from "../support/node-harness";
import { until } from "../support/until";

const nodes = [pifogDevice, doorSensor, statusMatrix, senseEnv, alert, doorOpener, powerMonitor, camera, motionDetect];

const EXPECTED = [
  "binary_sensor/dp1/door_door1",
  "binary_sensor/dp1/door_door2",
  "sensor/dp1/occupancy",
  "sensor/dp1/temperature",
  "sensor/dp1/humidity",
  "sensor/dp1/pressure",
  "sensor/dp1/cpu_temperature",
  "sensor/dp1/temperature_from_humidity",
  "sensor/dp1/temperature_from_pressure",
  "binary_sensor/dp1/alert_hot",
  "event/dp1/alert_events",
  "button/bp1/open_door",
  "binary_sensor/bp1/mains",
  "sensor/bp1/battery",
  "sensor/bp1/battery_voltage",
  "sensor/bp1/battery_time_left",
  "image/bp1/still",
  "binary_sensor/bp1/motion",
  "binary_sensor/dp1/online",
  "binary_sensor/bp1/online",
].map((t) => `homeassistant/${t}/config`);

function fogFlow(url: string, o: { withDoors?: boolean; discovery?: boolean } = {}) {
  return [
    { id: "tab", type: "tab" },
    deviceNode("dp1", url, { role: "doorpi" }),
    deviceNode("bp1", url, { role: "buttonpi", compat: "ButtonPi", ...(o.discovery === false ? { haDiscovery: false } : {}) }),
    ...(o.withDoors === false ? [] : [{ id: "doors", type: "door-sensor", z: "tab", device: "cfg-dp1", blink: false, compat: false, wires: [] }]),
    { id: "matrix", type: "status-matrix", z: "tab", device: "cfg-dp1", source: "dp1", compat: false, wires: [] },
    { id: "env", type: "sense-env", z: "tab", device: "cfg-dp1", interval: 3600, factor: 1.5, values: false, compat: false, wires: [] },
    {
      id: "al",
      type: "alert",
      z: "tab",
      device: "cfg-dp1",
      compat: false,
      rules: [{ id: "hot", label: "too hot", topic: "pifog/dp1/environment", path: "temperature", condition: "above", threshold: 100 }],
      wires: [],
    },
    { id: "opener", type: "door-opener", z: "tab", device: "cfg-bp1", pulse: 0.2, wires: [] },
    { id: "power", type: "power-monitor", z: "tab", device: "cfg-bp1", ups: "upslite-v1.2", poll: 3600, wires: [] },
    { id: "cam", type: "camera", z: "tab", device: "cfg-bp1", wires: [[]] },
    { id: "md", type: "motion-detect", z: "tab", device: "cfg-bp1", wires: [[], []] },
  ];
}

/** The retained messages a new subscriber to `filter` gets, by topic (what Home Assistant finds when it starts), once
 * `count` of them are in (the broker streams them after the SUBACK) and a marker published after them is back. */
async function retainedUnder(h: Harness, filter: string, count = 0): Promise<Map<string, Buffer>> {
  const reader = await TestClient.connect(h.url, h.auth);
  try {
    await reader.subscribe(filter);
    const retained = () => reader.received.filter((m) => m.retain && m.topic !== "test/mark");
    await until(() => retained().length >= count, `${count} retained messages under ${filter}`, 10_000, () => retained().map((m) => m.topic));
    const mark = `mark-${Math.random()}`;
    await reader.subscribe("test/mark");
    await reader.publish("test/mark", mark, { qos: 1 });
    await reader.waitFor("test/mark", (m) => m.payload.toString() === mark);
    return new Map(retained().map((m) => [m.topic, m.payload]));
  } finally {
    await reader.end();
  }
}

/** helper.setFlows waits only 300 ms for the flows to start: on a busy machine the deploy goes on after it gives up. */
async function redeploy(flow: unknown[]): Promise<void> {
  try {
    await (helper as unknown as { setFlows(flow: unknown[], type: "nodes"): Promise<void> }).setFlows(flow, "nodes");
  } catch (err) {
    if (!/timeout waiting event/.test((err as Error).message)) throw err;
  }
}

const latest = (h: Harness, topic: string): Received | undefined => [...h.client.received].reverse().find((m) => m.topic === topic);

describe("Home Assistant discovery from a running flow (real broker, simulated Pis)", function () {
  this.timeout(60_000);
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it("publishes every entity's config retained, valid for its component and available by the device's status", async () => {
    h.useServices({ env: { PIFOG_HA_DISCOVERY: "homeassistant" } });
    await helper.load(nodes, fogFlow(h.url));
    await until(() => EXPECTED.every((t) => latest(h, t)?.payload.length), "every config", 20_000, () => EXPECTED.filter((t) => !latest(h, t)));
    const retained = await retainedUnder(h, "homeassistant/#", EXPECTED.length);
    assert.deepEqual([...retained.keys()].sort(), [...EXPECTED].sort(), "exactly these, retained");
    for (const [topic, payload] of retained) {
      const config = JSON.parse(payload.toString()) as HaConfig & Record<string, unknown>;
      const component = topic.split("/")[1] as HaDocComponent;
      assert.deepEqual(haConfigProblems(component, config), [], topic);
      const device = topic.split("/")[2]!;
      // every entity is available by the device's status, but the device's online state, which reads it
      assert.equal(config.availability?.[0]?.topic ?? config.state_topic, `pifog/${device}/status`);
      assert.deepEqual(config.device.identifiers, [`pifog_${device}`]);
    }
  });

  it("whose templates read what the nodes published: doors, occupancy, environment, power, availability", async function () {
    const missing = jinjaMissing();
    if (missing) {
      console.log(`      skipped: ${missing}`);
      this.skip();
    }
    h.useServices({ env: { PIFOG_HA_DISCOVERY: "homeassistant" } });
    await helper.load(nodes, fogFlow(h.url));
    await until(() => EXPECTED.every((t) => latest(h, t)?.payload.length), "every config", 20_000);
    // the StatusPi has heard the DoorPi's doors
    await h.client.waitFor("pifog/dp1/occupancy", (m) => m.payload.toString().includes('"stop"'), 10_000);
    const checks: Array<{ topic: string; template: string; payload: string; accept: (s: string) => boolean; what: string }> = [];
    for (const topic of EXPECTED) {
      const config = JSON.parse(latest(h, topic)!.payload.toString()) as HaConfig & Record<string, unknown>;
      const availability = config.availability?.[0];
      if (availability) {
        const status = latest(h, availability.topic);
        assert.ok(status, `a status on ${availability.topic}`);
        checks.push({ topic, template: availability.value_template!, payload: status.payload.toString(), accept: (s) => s === availability.payload_available, what: "available" });
      }
      const stateTopic = config.state_topic as string | undefined;
      if (!stateTopic || typeof config.value_template !== "string") continue;
      const state = latest(h, stateTopic);
      if (!state) continue; // motion and alert events come only when something happens
      const payload = state.payload.toString();
      const numeric = typeof config.unit_of_measurement === "string";
      const accept =
        topic.startsWith("homeassistant/binary_sensor/")
          ? (s: string) => s === (config.payload_on ?? "ON") || s === (config.payload_off ?? "OFF")
          : Array.isArray(config.options)
            ? (s: string) => (config.options as string[]).includes(s)
            : numeric
              ? (s: string) => Number.isFinite(Number(s)) || s === "None" // a value the payload has as null: unknown
              : () => true;
      checks.push({ topic, template: config.value_template, payload, accept, what: `a state from ${stateTopic}` });
    }
    const results = renderAll(checks);
    results.forEach((r, i) => {
      const c = checks[i]!;
      if (r instanceof Error) throw new Error(`${c.topic}: ${r.message}`);
      assert.ok(c.accept(r.trim()), `${c.topic}: ${c.what} rendered "${r}" from ${c.payload.slice(0, 200)}`);
    });
    // the doors as the simulator has them (closed), and the occupancy of two closed doors
    const rendered = (topic: string) => results[checks.findIndex((c) => c.topic === topic && c.what.startsWith("a state"))];
    assert.equal(rendered("homeassistant/binary_sensor/dp1/door_door1/config"), "closed");
    assert.equal(rendered("homeassistant/sensor/dp1/occupancy/config"), "stop");
    assert.equal(rendered("homeassistant/binary_sensor/bp1/mains/config"), "on");
    assert.equal(rendered("homeassistant/binary_sensor/bp1/online/config"), "online");
    for (const value of ["dp1/temperature", "dp1/humidity", "dp1/pressure", "bp1/battery", "bp1/battery_voltage"]) {
      const r = rendered(`homeassistant/sensor/${value}/config`);
      assert.ok(Number.isFinite(Number(r)), `${value} is a number, not ${String(r)}`);
    }
  });

  it("its button opens the door; a still goes to the image entity's topic as raw JPEG, retained", async () => {
    h.useServices({ env: { PIFOG_HA_DISCOVERY: "homeassistant" } });
    await helper.load(nodes, fogFlow(h.url));
    const button = await h.client.waitFor("homeassistant/button/bp1/open_door/config", (m) => m.payload.length > 0, 20_000);
    const config = JSON.parse(button.payload.toString()) as { command_topic: string; payload_press: string };
    // what Home Assistant sends when the button is pressed (it logs in as an operator: see the broker's test)
    await h.client.publish(config.command_topic, config.payload_press, { qos: 1 });
    await h.client.waitFor("pifog/bp1/sim/door", (m) => m.payload.toString() === "1", 10_000);
    await h.client.waitFor("pifog/bp1/sim/door", (m) => m.payload.toString() === "0", 10_000);

    helper.getNode("cam")!.receive({ payload: "low" });
    const still = await h.client.waitFor(cameraTopics.still("bp1"), () => true, 20_000);
    assert.deepEqual([...still.payload.subarray(0, 2)], [0xff, 0xd8], "a JPEG");
    const retained = await retainedUnder(h, cameraTopics.still("bp1"));
    assert.ok(retained.get(cameraTopics.still("bp1"))?.equals(still.payload), "the latest still is retained");
  });

  it("a node removed by a deploy takes its entities away; the device's switch takes them all", async () => {
    h.useServices({ env: { PIFOG_HA_DISCOVERY: "homeassistant" } });
    await helper.load(nodes, fogFlow(h.url));
    await until(() => EXPECTED.every((t) => latest(h, t)?.payload.length), "every config", 20_000);
    const doors = ["homeassistant/binary_sensor/dp1/door_door1/config", "homeassistant/binary_sensor/dp1/door_door2/config"];

    await redeploy(fogFlow(h.url, { withDoors: false }));
    for (const t of doors) await h.client.waitFor(t, (m) => m.payload.length === 0, 10_000);
    let retained = await retainedUnder(h, "homeassistant/#", EXPECTED.length - doors.length);
    assert.deepEqual([...retained.keys()].sort(), EXPECTED.filter((t) => !doors.includes(t)).sort(), "the doors are gone, the rest stay");

    await redeploy(fogFlow(h.url, { withDoors: false, discovery: false }));
    await until(async () => {
      retained = await retainedUnder(h, "homeassistant/+/bp1/#");
      return retained.size === 0;
    }, "bp1's configs cleared", 10_000);
    const dp1 = EXPECTED.filter((t) => t.split("/")[2] === "dp1" && !doors.includes(t));
    retained = await retainedUnder(h, "homeassistant/#", dp1.length);
    assert.deepEqual([...retained.keys()].sort(), dp1.sort(), "dp1's stay");
  });

  it("clears a config it finds under its device that no node announces, and what a restarted node no longer has", async () => {
    // the broker in this process, as the runtime's own: the device finds the retained configs before it is connected
    h.useServices({ embedded: true, env: { PIFOG_HA_DISCOVERY: "homeassistant" } });
    // left by a node removed while the runtime was down
    const stale = "homeassistant/sensor/dp1/old_value/config";
    await h.client.publish(stale, JSON.stringify({ name: "old", state_topic: "pifog/dp1/old", unique_id: "pifog_dp1_old_value" }), { qos: 1, retain: true });
    await helper.load(nodes, fogFlow(h.url));
    await h.client.waitFor(stale, (m) => m.payload.length === 0, 10_000);
    await until(() => EXPECTED.every((t) => latest(h, t)?.payload.length), "every config", 20_000);

    // the door sensor restarted by a deploy with one door only: the other door goes, the kept one stays
    const flow = fogFlow(h.url).map((n) =>
      (n as { id: string }).id === "doors" ? { ...n, doors: [{ id: "door1", label: "F", pin: 17, ledPin: 27 }] } : n,
    );
    await redeploy(flow);
    await h.client.waitFor("homeassistant/binary_sensor/dp1/door_door2/config", (m) => m.payload.length === 0, 10_000);
    const retained = await retainedUnder(h, "homeassistant/+/dp1/#", EXPECTED.filter((t) => t.split("/")[2] === "dp1").length - 1);
    assert.ok(retained.has("homeassistant/binary_sensor/dp1/door_door1/config"));
    assert.ok(!retained.has("homeassistant/binary_sensor/dp1/door_door2/config"));
    assert.ok(!retained.has(stale));
  });

  it("publishes nothing for Home Assistant without PIFOG_HA_DISCOVERY", async () => {
    await helper.load(nodes, fogFlow(h.url));
    await h.client.waitFor("pifog/bp1/power", () => true, 20_000);
    await h.client.waitFor("pifog/dp1/doors", () => true, 20_000);
    helper.getNode("cam")!.receive({ payload: "low" });
    await h.client.waitFor("pifog/bp1/camera/picture", () => true, 20_000);
    assert.deepEqual((await retainedUnder(h, "homeassistant/#")).size, 0);
    assert.equal(h.client.received.some((m) => m.topic.startsWith("homeassistant/") || m.topic === cameraTopics.still("bp1")), false);
  });
});
