// Home Assistant discovery: every config PiFog can publish, checked against Home Assistant's documented fields for its
// component (test/support/homeassistant-schema.ts), and its templates rendered by Jinja2 against the payloads PiFog
// publishes on the topics they read (typed by the contract, so a change there fails here).
import assert from "node:assert/strict";
import {
  alertEntities,
  cameraStillEntity,
  discoveryMessage,
  doorEntity,
  doorOpenerEntity,
  environmentEntities,
  haObjectId,
  isHaNodeId,
  motionEntity,
  occupancyEntity,
  onlineEntity,
  powerEntities,
  type HaConfig,
  type HaDeviceDescription,
  type HaEntity,
} from "../../nodes/lib/homeassistant/discovery";
import {
  cameraTopics,
  compatTopics,
  isDiscoveryPrefix,
  parseCommand,
  powerTopics,
  skycamTopics,
  topics,
  type ActiveAlerts,
  type AlertEvent,
  type DeviceStatus,
  type DoorChange,
  type EnvironmentState,
  type OccupancyState,
  type PowerState,
} from "../../nodes/lib/contract";
import type { MotionEvent } from "../../nodes/lib/camera/types";
import { ConfigError, readConfig } from "../../nodes/lib/runtime/config";
import { haConfigProblems, type HaDocComponent } from "../support/homeassistant-schema";
import { jinjaMissing, renderAll } from "../support/jinja";

const device: HaDeviceDescription = { id: "doorpi", role: "doorpi", version: "1.2.3", hardware: "sim", compat: "DoorPi" };
const rules = [
  { id: "hot", label: "too hot" },
  { id: "cold.room", label: "cold room" },
];

/** Every entity every PiFog node announces. */
function allEntities(): HaEntity[] {
  return [
    doorEntity("doorpi", "door1", "F"),
    doorEntity("doorpi", "door2", "M"),
    occupancyEntity("doorpi"),
    ...environmentEntities("doorpi"),
    ...powerEntities("doorpi", true),
    ...alertEntities("doorpi", rules),
    doorOpenerEntity("ButtonPi")!,
    cameraStillEntity("doorpi"),
    motionEntity("doorpi"),
    onlineEntity("doorpi"),
  ];
}

const HA_TOPIC = /^(?<prefix>[^/]+)\/(?<component>\w+)\/(?<node>[a-zA-Z0-9_-]+)\/(?<object>[a-zA-Z0-9_-]+)\/config$/;

describe("Home Assistant discovery configs", () => {
  const messages = allEntities().map((e) => ({ entity: e, ...discoveryMessage("homeassistant", device, e) }));

  it("are each valid for their component as Home Assistant documents it", () => {
    for (const m of messages) {
      const problems = haConfigProblems(m.entity.component as HaDocComponent, m.payload as unknown as Record<string, unknown>);
      assert.deepEqual(problems, [], `${m.topic}`);
    }
  });

  it("go to <prefix>/<component>/<device id>/<object id>/config, with unique ids and entity ids of their own", () => {
    const uniques = new Set<string>();
    const entityIds = new Set<string>();
    for (const m of messages) {
      const match = HA_TOPIC.exec(m.topic);
      assert.ok(match, m.topic);
      assert.equal(match.groups!.prefix, "homeassistant");
      assert.equal(match.groups!.component, m.entity.component);
      assert.equal(match.groups!.node, "doorpi");
      assert.ok(!uniques.has(m.payload.unique_id), `unique id ${m.payload.unique_id} twice`);
      uniques.add(m.payload.unique_id);
      assert.ok(!entityIds.has(m.payload.default_entity_id), `entity id ${m.payload.default_entity_id} twice`);
      entityIds.add(m.payload.default_entity_id);
      assert.match(m.payload.default_entity_id, /^[a-z_]+\.[a-z0-9_]+$/);
    }
    // a rule id with a dot becomes an object id Home Assistant takes
    assert.ok(messages.some((m) => m.topic === "homeassistant/binary_sensor/doorpi/alert_cold_room/config"));
  });

  it("share one device block and origin, and are available while pifog/<device>/status says online", () => {
    for (const m of messages) {
      if (m.entity.objectId === "online") {
        // the online state itself is never unavailable: it says offline
        assert.equal(m.payload.availability, undefined);
        assert.equal((m.payload as unknown as Record<string, unknown>).state_topic, topics.status("doorpi"));
        continue;
      }
      assert.deepEqual(m.payload.device.identifiers, ["pifog_doorpi"]);
      assert.equal(m.payload.device.name, "doorpi");
      assert.equal(m.payload.device.sw_version, "1.2.3");
      assert.equal(m.payload.origin.name, "PiFog");
      assert.deepEqual(m.payload.availability, [
        { topic: topics.status("doorpi"), value_template: "{{ value_json.state }}", payload_available: "online", payload_not_available: "offline" },
      ]);
    }
  });

  it("name the topics the nodes publish on", () => {
    const byObject = new Map(messages.map((m) => [m.topic.split("/")[3], m.payload as HaConfig & Record<string, unknown>]));
    assert.equal(byObject.get("door_door1")!.state_topic, topics.door("doorpi", "door1"));
    assert.equal(byObject.get("occupancy")!.state_topic, topics.occupancy("doorpi"));
    assert.equal(byObject.get("temperature")!.state_topic, topics.environment("doorpi"));
    assert.equal(byObject.get("mains")!.state_topic, powerTopics.state("doorpi"));
    assert.equal(byObject.get("alert_hot")!.state_topic, topics.alertsActive("doorpi"));
    assert.equal(byObject.get("alert_events")!.state_topic, topics.alertEvents("doorpi"));
    assert.equal(byObject.get("motion")!.state_topic, skycamTopics.motion("doorpi"));
    assert.equal(byObject.get("still")!.image_topic, cameraTopics.still("doorpi"));
    // the button sends PiFog's command, which the door opener takes unsigned (the broker decides who may send it)
    const button = byObject.get("open_door")!;
    assert.equal(button.command_topic, compatTopics.command("ButtonPi"));
    assert.equal(parseCommand(String(button.payload_press)).command, "open-door");
  });

  it("give a door opener without a PiFog name no button (Home Assistant cannot sign a native open-door)", () => {
    assert.equal(doorOpenerEntity(undefined), null);
  });

  it("give a power Pi without a UPS only its mains", () => {
    assert.deepEqual(powerEntities("pp", false).map((e) => e.objectId), ["mains"]);
  });

  it("take only ids Home Assistant can take as node ids, and a prefix that is one level and not pifog's", () => {
    assert.equal(isHaNodeId("door-pi_1"), true);
    assert.equal(isHaNodeId("door.pi"), false);
    assert.equal(haObjectId("door", "Front.Door"), "door_front_door");
    assert.equal(isDiscoveryPrefix("homeassistant"), true);
    for (const bad of ["pifog", "home/assistant", "+", "#", "", "$SYS"]) assert.equal(isDiscoveryPrefix(bad), false, bad);
  });

  it("are on when PIFOG_HA_DISCOVERY names the prefix, off when it is unset; a prefix that is not one level is refused", () => {
    assert.equal(readConfig({ PIFOG_HA_DISCOVERY: "homeassistant" }, "/tmp").haDiscovery, "homeassistant");
    assert.equal(readConfig({ PIFOG_HA_DISCOVERY: " " }, "/tmp").haDiscovery, undefined);
    assert.equal(readConfig({}, "/tmp").haDiscovery, undefined);
    for (const bad of ["pifog", "home/assistant", "ha#"]) {
      assert.throws(() => readConfig({ PIFOG_HA_DISCOVERY: bad }, "/tmp"), (err: unknown) => err instanceof ConfigError && /PIFOG_HA_DISCOVERY/.test(err.message));
    }
  });

  describe("the checker itself", () => {
    const door = discoveryMessage("homeassistant", device, doorEntity("doorpi", "door1", "F")).payload as unknown as Record<string, unknown>;
    const temperature = discoveryMessage("homeassistant", device, environmentEntities("doorpi")[0]!).payload as unknown as Record<string, unknown>;
    it("refuses an undocumented field, a missing required one, a wrong type and a wrong device class", () => {
      assert.match(haConfigProblems("binary_sensor", { ...door, stat_topic: "x" }).join(), /stat_topic is not a documented field/);
      const { state_topic: _s, ...noState } = door;
      assert.match(haConfigProblems("binary_sensor", noState).join(), /state_topic is required/);
      assert.match(haConfigProblems("binary_sensor", { ...door, qos: "1" }).join(), /qos must be integer/);
      assert.match(haConfigProblems("binary_sensor", { ...door, device_class: "doors" }).join(), /not one of/);
      assert.match(haConfigProblems("binary_sensor", { ...door, state_topic: "pifog/+/doors" }).join(), /without wildcards/);
    });
    it("refuses a unit or state class the device class does not take", () => {
      assert.match(haConfigProblems("sensor", { ...temperature, unit_of_measurement: "%" }).join(), /not a unit of device class temperature/);
      assert.match(haConfigProblems("sensor", { ...temperature, state_class: "total_increasing" }).join(), /not allowed for temperature/);
      assert.match(haConfigProblems("sensor", { ...temperature, device_class: "enum" }).join(), /enum sensor needs options/);
    });
  });
});

describe("Home Assistant discovery templates, rendered by Jinja2 against PiFog's payloads", function () {
  const missing = jinjaMissing();
  before(function () {
    if (missing) {
      console.log(`      skipped: ${missing}`);
      this.skip();
    }
  });

  const at = "2026-12-07T08:00:00.000Z";
  const config = (entity: HaEntity) => discoveryMessage("homeassistant", device, entity).payload as HaConfig & Record<string, unknown>;
  const check = (cases: Array<{ template: unknown; payload: unknown; expect: string }>) => {
    const results = renderAll(cases.map((c) => ({ template: String(c.template), payload: typeof c.payload === "string" ? c.payload : JSON.stringify(c.payload) })));
    results.forEach((r, i) => {
      if (r instanceof Error) throw new Error(`${String(cases[i]!.template)}: ${r.message}`);
      assert.equal(r.trim(), cases[i]!.expect, String(cases[i]!.template));
    });
  };

  it("availability: online and offline, as the device's status and its last will say", () => {
    const online: DeviceStatus = { state: "online", device: "doorpi", role: "doorpi", addresses: [], bootTime: at, startedAt: at, version: "1", hardware: "sim", timestamp: at };
    const offline: DeviceStatus = { state: "offline", device: "doorpi" };
    const a = config(doorEntity("doorpi", "door1", "F")).availability![0]!;
    const o = config(onlineEntity("doorpi"));
    check([
      { template: a.value_template, payload: online, expect: a.payload_available! },
      { template: a.value_template, payload: offline, expect: a.payload_not_available! },
      { template: o.value_template, payload: online, expect: String(o.payload_on) },
      { template: o.value_template, payload: offline, expect: String(o.payload_off) },
    ]);
  });

  it("a door: open is on, closed is off; its attributes are JSON", () => {
    const c = config(doorEntity("doorpi", "door1", "F"));
    const open: DoorChange = { device: "doorpi", door: "door1", label: "F", state: "open", changedAt: at };
    check([
      { template: c.value_template, payload: open, expect: String(c.payload_on) },
      { template: c.value_template, payload: { ...open, state: "closed" }, expect: String(c.payload_off) },
    ]);
    const [attrs] = renderAll([{ template: String(c.json_attributes_template), payload: JSON.stringify(open) }]);
    assert.deepEqual(JSON.parse(String(attrs)), { door: "door1", label: "F", changed_at: at });
  });

  it("occupancy: one of its options, and None (unknown) while the DoorPi is not heard", () => {
    const c = config(occupancyEntity("doorpi"));
    const state = (occupancy: OccupancyState["occupancy"]): OccupancyState => ({ device: "statuspi", source: "doorpi", occupancy, open: 1, total: 2, timestamp: at });
    check([
      { template: c.value_template, payload: state("go"), expect: "go" },
      { template: c.value_template, payload: state("maybe"), expect: "maybe" },
      { template: c.value_template, payload: state("stop"), expect: "stop" },
      { template: c.value_template, payload: state("unknown"), expect: "None" },
    ]);
  });

  it("environment: each value as a number, a CPU temperature that could not be read as None", () => {
    const reading: EnvironmentState = {
      device: "statuspi", temperature: 21.37, corrected: true, temperatureFromHumidity: 30.1, temperatureFromPressure: 29.8,
      humidity: 40.5, pressure: 1013.2, cpuTemperature: 48.3, factor: 1.5, timestamp: at,
    };
    const byId = new Map(environmentEntities("statuspi").map((e) => [e.objectId, config(e)]));
    check([
      { template: byId.get("temperature")!.value_template, payload: reading, expect: "21.37" },
      { template: byId.get("humidity")!.value_template, payload: reading, expect: "40.5" },
      { template: byId.get("pressure")!.value_template, payload: reading, expect: "1013.2" },
      { template: byId.get("cpu_temperature")!.value_template, payload: reading, expect: "48.3" },
      { template: byId.get("cpu_temperature")!.value_template, payload: { ...reading, cpuTemperature: null }, expect: "None" },
      { template: byId.get("temperature_from_humidity")!.value_template, payload: reading, expect: "30.1" },
      { template: byId.get("temperature_from_pressure")!.value_template, payload: reading, expect: "29.8" },
    ]);
  });

  it("power: mains on/off, the battery's percent, volts and minutes, and None without a battery reading", () => {
    const state: PowerState = { device: "pp", mains: "off", changedAt: at, battery: { voltage: 3.91, percent: 76, minutesLeft: 95 }, timestamp: at };
    const byId = new Map(powerEntities("pp", true).map((e) => [e.objectId, config(e)]));
    const mains = byId.get("mains")!;
    check([
      { template: mains.value_template, payload: state, expect: String(mains.payload_off) },
      { template: mains.value_template, payload: { ...state, mains: "on" }, expect: String(mains.payload_on) },
      { template: byId.get("battery")!.value_template, payload: state, expect: "76" },
      { template: byId.get("battery_voltage")!.value_template, payload: state, expect: "3.91" },
      { template: byId.get("battery_time_left")!.value_template, payload: state, expect: "95" },
      { template: byId.get("battery_time_left")!.value_template, payload: { ...state, battery: { voltage: 4.1, percent: 99, minutesLeft: null } }, expect: "None" },
      { template: byId.get("battery")!.value_template, payload: { ...state, battery: null }, expect: "None" },
    ]);
  });

  it("alerts: a rule is on while one of its alerts is active; each event has an event type Home Assistant was told of", () => {
    const alert = {
      id: "a1", rule: "hot", label: "too hot", topic: "pifog/statuspi/environment/temperature", condition: "above" as const, threshold: 30,
      value: 31, lastValue: 31, raisedAt: at, lastValueAt: at, acknowledged: false,
    };
    const active: ActiveAlerts = { device: "doorpi", alerts: [alert], timestamp: at };
    const entities = alertEntities("doorpi", rules).map(config);
    const hot = entities.find((c) => c.unique_id.endsWith("alert_hot"))!;
    const cold = entities.find((c) => c.unique_id.endsWith("alert_cold_room"))!;
    check([
      { template: hot.value_template, payload: active, expect: "ON" },
      { template: cold.value_template, payload: active, expect: "OFF" },
      { template: hot.value_template, payload: { ...active, alerts: [] }, expect: "OFF" },
    ]);
    const [attrs] = renderAll([{ template: String(hot.json_attributes_template), payload: JSON.stringify(active) }]);
    assert.equal((JSON.parse(String(attrs)) as { alerts: unknown[] }).alerts.length, 1);
    const events = entities.find((c) => c.unique_id.endsWith("alert_events"))!;
    for (const kind of ["raised", "repeated", "acknowledged", "cleared"] as const) {
      const event: AlertEvent = { ...alert, kind, device: "doorpi", timestamp: at, repeats: 0 };
      const [rendered] = renderAll([{ template: String(events.value_template), payload: JSON.stringify(event) }]);
      const parsed = JSON.parse(String(rendered)) as { event_type: string; rule: string };
      assert.ok((events.event_types as string[]).includes(parsed.event_type), parsed.event_type);
      assert.equal(parsed.rule, "hot");
    }
  });

  it("motion: start is on, end is off", () => {
    const c = config(motionEntity("camerapi"));
    const start: MotionEvent = { kind: "start", device: "camerapi", at: 1, seq: 1, score: 12.5, box: { x: 1, y: 2, w: 3, h: 4 } };
    check([
      { template: c.value_template, payload: start, expect: String(c.payload_on) },
      { template: c.value_template, payload: { ...start, kind: "end", startedAt: 0 }, expect: String(c.payload_off) },
    ]);
  });
});
