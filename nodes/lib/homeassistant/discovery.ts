// Home Assistant MQTT discovery (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery): what each PiFog
// entity looks like to Home Assistant, as typed config payloads. A node describes its entities (`HaEntity`: the
// component, an object id, and the fields that say where its state is and how to read it); its device adds what every
// entity of the device shares (the device block, the origin, the availability from `pifog/<device>/status`, the unique
// id) and publishes each one retained on `<prefix>/<component>/<device>/<object id>/config` (./publisher.ts).
//
// Every template reads the payload PiFog publishes on that topic (nodes/lib/contract.ts): a change there is a change
// here, and test/unit/homeassistant-discovery.test.ts checks every config against Home Assistant's documented fields.
import {
  alertEventKinds,
  cameraTopics,
  compatTopics,
  haTopics,
  powerTopics,
  skycamTopics,
  topics,
  type PiName,
  type Topic,
} from "../contract";

/** The components PiFog's entities use. */
export type HaComponent = "binary_sensor" | "sensor" | "button" | "image" | "event";
export const HA_COMPONENTS: readonly HaComponent[] = ["binary_sensor", "sensor", "button", "image", "event"];

/** `availability` entries: Home Assistant marks the entity unavailable while the device's status says offline. */
export interface HaAvailability {
  topic: string;
  value_template?: string;
  payload_available?: string;
  payload_not_available?: string;
}

/** The `device` block: what groups the entities of one Pi in Home Assistant's device registry. */
export interface HaDevice {
  identifiers: string[];
  name: string;
  manufacturer?: string;
  model?: string;
  sw_version?: string;
  hw_version?: string;
  configuration_url?: string;
}

/** The `origin` block (`o`): who published the config, shown in Home Assistant's MQTT info. */
export interface HaOrigin {
  name: string;
  sw_version?: string;
  support_url?: string;
}

/** What the device adds to every entity of it. */
interface HaShared {
  unique_id: string;
  /** `<component>.<object id>`: the entity id Home Assistant gives it first (the successor of `object_id`). */
  default_entity_id: string;
  device: HaDevice;
  origin: HaOrigin;
  availability?: HaAvailability[];
}

/** The fields an entity of any component may carry besides its component's own. */
interface HaEntityFields {
  /** The entity's name within its device (Home Assistant shows "<device> <name>"). */
  name: string;
  entity_category?: "config" | "diagnostic";
  enabled_by_default?: boolean;
  icon?: string;
  qos?: 0 | 1 | 2;
  json_attributes_topic?: string;
  json_attributes_template?: string;
}

export type HaBinarySensorClass = "door" | "motion" | "occupancy" | "power" | "problem" | "connectivity" | "battery";
export type HaSensorClass = "temperature" | "humidity" | "atmospheric_pressure" | "pressure" | "battery" | "voltage" | "duration" | "enum";

export interface HaBinarySensorFields extends HaEntityFields {
  state_topic: string;
  value_template?: string;
  payload_on?: string;
  payload_off?: string;
  device_class?: HaBinarySensorClass;
}

export interface HaSensorFields extends HaEntityFields {
  state_topic: string;
  value_template?: string;
  device_class?: HaSensorClass;
  unit_of_measurement?: string;
  state_class?: "measurement" | "total" | "total_increasing";
  suggested_display_precision?: number;
  /** The states of an `enum` sensor. */
  options?: string[];
}

export interface HaButtonFields extends HaEntityFields {
  command_topic: string;
  payload_press?: string;
  retain?: boolean;
}

export interface HaImageFields extends HaEntityFields {
  image_topic: string;
  content_type?: string;
}

export interface HaEventFields extends HaEntityFields {
  state_topic: string;
  event_types: string[];
  value_template?: string;
}

export interface HaFieldsOf {
  binary_sensor: HaBinarySensorFields;
  sensor: HaSensorFields;
  button: HaButtonFields;
  image: HaImageFields;
  event: HaEventFields;
}

/** One entity as a node describes it. `always`: it has no availability (the device's online state itself, which must
 * say offline rather than be unavailable). */
export type HaEntity = { [C in HaComponent]: { component: C; objectId: string; fields: HaFieldsOf[C]; always?: true } }[HaComponent];

/** A config payload as it goes on the wire. */
export type HaConfig = { [C in HaComponent]: HaFieldsOf[C] & HaShared }[HaComponent];

/** The device an entity belongs to, as its pifog-device node knows it. */
export interface HaDeviceDescription {
  id: string;
  role: string;
  version: string;
  hardware: "pi" | "sim";
  compat?: PiName;
}

export interface DiscoveryMessage {
  topic: Topic<HaConfig | "">;
  payload: HaConfig;
}

/** Home Assistant's pattern for a discovery topic's node id and object id. */
const HA_ID = /^[A-Za-z0-9_-]+$/;

/** Whether a device id can be a discovery node id as it is (Home Assistant takes letters, digits, `_`, `-`: not `.`). */
export function isHaNodeId(device: string): boolean {
  return HA_ID.test(device) && device.length <= 64;
}

/** An object id from PiFog ids (a door id, a rule id may hold `.`): what Home Assistant takes, lower case. */
export function haObjectId(...parts: string[]): string {
  return parts
    .join("_")
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, "_");
}

/** The availability every entity of `device` shares: its retained status, `online` or `offline` (the last will). */
export function availabilityOf(device: string): HaAvailability[] {
  return [{ topic: topics.status(device), value_template: "{{ value_json.state }}", payload_available: "online", payload_not_available: "offline" }];
}

export function deviceBlock(d: HaDeviceDescription): HaDevice {
  return {
    identifiers: [`pifog_${d.id}`],
    name: d.id,
    manufacturer: "PiFog",
    model: d.compat ? `${d.compat} (${d.role})` : d.role || "PiFog device",
    sw_version: d.version,
    hw_version: d.hardware === "pi" ? "Raspberry Pi" : "simulated",
  };
}

/** The retained config message of one entity of `device`, under `prefix`. */
export function discoveryMessage(prefix: string, device: HaDeviceDescription, entity: HaEntity): DiscoveryMessage {
  const objectId = haObjectId(entity.objectId);
  const uniqueId = `pifog_${device.id}_${objectId}`;
  const payload = {
    ...entity.fields,
    unique_id: uniqueId,
    default_entity_id: `${entity.component}.${haObjectId(uniqueId)}`,
    device: deviceBlock(device),
    origin: { name: "PiFog", sw_version: device.version },
    ...(entity.always ? {} : { availability: availabilityOf(device.id) }),
  } as HaConfig;
  return { topic: haTopics.config(prefix, entity.component, device.id, objectId), payload };
}

// ---- PiFog's entities ----------------------------------------------------------------------------------

/** The device's online state as an entity of its own (connectivity: on while `pifog/<device>/status` says online, off
 * once it says offline or its last will does), for automations; every other entity is unavailable meanwhile. */
export function onlineEntity(device: string): HaEntity {
  const topic = topics.status(device);
  return {
    component: "binary_sensor",
    objectId: "online",
    always: true,
    fields: {
      name: "Online",
      device_class: "connectivity",
      entity_category: "diagnostic",
      state_topic: topic,
      value_template: "{{ value_json.state }}",
      payload_on: "online",
      payload_off: "offline",
      qos: 1,
      json_attributes_topic: topic,
      json_attributes_template:
        "{{ {'role': value_json.role, 'version': value_json.version, 'hardware': value_json.hardware, 'addresses': value_json.addresses, " +
        "'boot_time': value_json.bootTime, 'started_at': value_json.startedAt} | tojson }}",
    },
  };
}

/** A DoorPi's door: open/closed from `pifog/<device>/door/<door>`. */
export function doorEntity(device: string, door: string, label: string): HaEntity {
  const topic = topics.door(device, door);
  return {
    component: "binary_sensor",
    objectId: haObjectId("door", door),
    fields: {
      name: `Door ${label}`,
      device_class: "door",
      state_topic: topic,
      value_template: "{{ value_json.state }}",
      payload_on: "open",
      payload_off: "closed",
      qos: 1,
      json_attributes_topic: topic,
      json_attributes_template: "{{ {'door': value_json.door, 'label': value_json.label, 'changed_at': value_json.changedAt} | tojson }}",
    },
  };
}

/** What a StatusPi shows: go (every door open), maybe, stop (every door closed); unknown while the DoorPi is not heard. */
export function occupancyEntity(device: string): HaEntity {
  const topic = topics.occupancy(device);
  return {
    component: "sensor",
    objectId: "occupancy",
    fields: {
      name: "Occupancy",
      device_class: "enum",
      options: ["go", "maybe", "stop"],
      state_topic: topic,
      // "unknown" is Home Assistant's own state: `None` sets it
      value_template: "{{ value_json.occupancy if value_json.occupancy in ['go', 'maybe', 'stop'] else None }}",
      icon: "mdi:door",
      qos: 1,
      json_attributes_topic: topic,
      json_attributes_template: "{{ {'source': value_json.source, 'open': value_json.open, 'total': value_json.total} | tojson }}",
    },
  };
}

/** A StatusPi's Sense HAT readings, each a sensor on `pifog/<device>/environment` (EnvironmentState). */
export function environmentEntities(device: string): HaEntity[] {
  const topic = topics.environment(device);
  const value = (field: string) => `{{ value_json.${field} if value_json.${field} is number else None }}`;
  const sensor = (objectId: string, fields: Omit<HaSensorFields, "state_topic" | "state_class" | "qos">): HaEntity => ({
    component: "sensor",
    objectId,
    fields: { ...fields, state_topic: topic, state_class: "measurement", qos: 1 },
  });
  return [
    sensor("temperature", {
      name: "Temperature",
      device_class: "temperature",
      unit_of_measurement: "°C",
      suggested_display_precision: 1,
      value_template: value("temperature"),
      json_attributes_topic: topic,
      json_attributes_template: "{{ {'corrected': value_json.corrected, 'factor': value_json.factor} | tojson }}",
    }),
    sensor("humidity", { name: "Humidity", device_class: "humidity", unit_of_measurement: "%", suggested_display_precision: 0, value_template: value("humidity") }),
    sensor("pressure", {
      name: "Pressure",
      device_class: "atmospheric_pressure",
      unit_of_measurement: "hPa",
      suggested_display_precision: 1,
      value_template: value("pressure"),
    }),
    sensor("cpu_temperature", {
      name: "CPU temperature",
      device_class: "temperature",
      unit_of_measurement: "°C",
      entity_category: "diagnostic",
      value_template: value("cpuTemperature"),
    }),
    sensor("temperature_from_humidity", {
      name: "Temperature from humidity sensor",
      device_class: "temperature",
      unit_of_measurement: "°C",
      entity_category: "diagnostic",
      enabled_by_default: false,
      value_template: value("temperatureFromHumidity"),
    }),
    sensor("temperature_from_pressure", {
      name: "Temperature from pressure sensor",
      device_class: "temperature",
      unit_of_measurement: "°C",
      entity_category: "diagnostic",
      enabled_by_default: false,
      value_template: value("temperatureFromPressure"),
    }),
  ];
}

/** A power Pi's mains (`pifog/<device>/power`, PowerState) and, with a UPS, its battery. */
export function powerEntities(device: string, battery: boolean): HaEntity[] {
  const topic = powerTopics.state(device);
  const mains: HaEntity = {
    component: "binary_sensor",
    objectId: "mains",
    fields: {
      name: "Mains",
      device_class: "power",
      state_topic: topic,
      value_template: "{{ value_json.mains }}",
      payload_on: "on",
      payload_off: "off",
      qos: 1,
      json_attributes_topic: topic,
      json_attributes_template: "{{ {'changed_at': value_json.changedAt} | tojson }}",
    },
  };
  if (!battery) return [mains];
  // a reading without a battery (none fitted, the gauge failed) is `battery: null`: unknown, never 0
  const field = (name: string) => `{{ value_json.battery.${name} if value_json.battery and value_json.battery.${name} is number else None }}`;
  const sensor = (objectId: string, fields: Omit<HaSensorFields, "state_topic" | "qos">): HaEntity => ({
    component: "sensor",
    objectId,
    fields: { ...fields, state_topic: topic, qos: 1 },
  });
  return [
    mains,
    sensor("battery", { name: "Battery", device_class: "battery", unit_of_measurement: "%", state_class: "measurement", value_template: field("percent") }),
    sensor("battery_voltage", {
      name: "Battery voltage",
      device_class: "voltage",
      unit_of_measurement: "V",
      state_class: "measurement",
      suggested_display_precision: 2,
      entity_category: "diagnostic",
      value_template: field("voltage"),
    }),
    sensor("battery_time_left", {
      name: "Battery time left",
      device_class: "duration",
      unit_of_measurement: "min",
      state_class: "measurement",
      value_template: field("minutesLeft"),
    }),
  ];
}

/** An alert node's rules, each a problem sensor (on while one of its alerts is active, from the device's retained
 * `pifog/<device>/alerts/active`), and the device's alert events as an event entity. Rule ids are plain topic levels,
 * so they go into the templates as they are. */
export function alertEntities(device: string, rules: ReadonlyArray<{ id: string; label: string }>): HaEntity[] {
  const active = topics.alertsActive(device);
  const perRule = rules.map((rule): HaEntity => {
    const mine = `value_json.alerts | selectattr('rule', 'equalto', '${rule.id}') | list`;
    return {
      component: "binary_sensor",
      objectId: haObjectId("alert", rule.id),
      fields: {
        name: `Alert ${rule.label}`,
        device_class: "problem",
        state_topic: active,
        value_template: `{{ 'ON' if (${mine}) | length > 0 else 'OFF' }}`,
        qos: 1,
        json_attributes_topic: active,
        json_attributes_template: `{{ {'alerts': ${mine}} | tojson }}`,
      },
    };
  });
  const events: HaEntity = {
    component: "event",
    objectId: "alert_events",
    fields: {
      name: "Alerts",
      state_topic: topics.alertEvents(device),
      event_types: [...alertEventKinds],
      value_template:
        "{{ {'event_type': value_json.kind, 'alert': value_json.id, 'rule': value_json.rule, 'label': value_json.label, " +
        "'topic': value_json.topic, 'value': value_json.value, 'timestamp': value_json.timestamp} | tojson }}",
      icon: "mdi:alert",
      qos: 1,
    },
  };
  return [...perRule, events];
}

/** The door opener's button. Home Assistant cannot sign a native `open-door` (the door opener refuses unsigned ones), so
 * the button sends PiFog's compat command, which the broker lets only identities that may command the door publish:
 * a device with no PiFog name has no button. */
export function doorOpenerEntity(compat: PiName | undefined): HaEntity | null {
  if (!compat) return null;
  return {
    component: "button",
    objectId: "open_door",
    fields: {
      name: "Open door",
      command_topic: compatTopics.command(compat),
      payload_press: JSON.stringify({ command: "open-door", by: "homeassistant" }),
      qos: 1,
      retain: false,
      icon: "mdi:door-open",
    },
  };
}

/** The camera's latest still: raw JPEG, retained, on `pifog/<device>/camera/still`. */
export function cameraStillEntity(device: string): HaEntity {
  return {
    component: "image",
    objectId: "still",
    fields: { name: "Still", image_topic: cameraTopics.still(device), content_type: "image/jpeg", qos: 0 },
  };
}

/** Motion from `pifog/<device>/motion` (MotionEvent): on at `start`, off at `end`. */
export function motionEntity(device: string): HaEntity {
  const topic = skycamTopics.motion(device);
  return {
    component: "binary_sensor",
    objectId: "motion",
    fields: {
      name: "Motion",
      device_class: "motion",
      state_topic: topic,
      value_template: "{{ value_json.kind }}",
      payload_on: "start",
      payload_off: "end",
      qos: 1,
      json_attributes_topic: topic,
      json_attributes_template: "{{ {'score': value_json.score, 'box': value_json.box} | tojson }}",
    },
  };
}
