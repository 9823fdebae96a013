// Home Assistant's documented MQTT discovery fields, per component, as data: what test/unit/homeassistant-discovery
// checks every config PiFog publishes against. Written from Home Assistant's documentation (2025.10 onwards):
//   https://www.home-assistant.io/integrations/mqtt/              discovery topic, device, origin, availability,
//                                                                  default_entity_id (object_id deprecated, removed 2026.4)
//   https://www.home-assistant.io/integrations/binary_sensor.mqtt/ https://www.home-assistant.io/integrations/sensor.mqtt/
//   https://www.home-assistant.io/integrations/button.mqtt/        https://www.home-assistant.io/integrations/image.mqtt/
//   https://www.home-assistant.io/integrations/event.mqtt/
//   https://www.home-assistant.io/integrations/sensor/#device-class (units per device class; Home Assistant core's
//   SensorDeviceClass / DEVICE_CLASS_UNITS / DEVICE_CLASS_STATE_CLASSES)
//   https://www.home-assistant.io/integrations/binary_sensor/#device-class
// Only the full names are listed: PiFog never abbreviates.

export type FieldType = "string" | "boolean" | "integer" | "number" | "string[]" | "object" | "object[]" | "string|null";

export interface FieldSpec {
  type: FieldType;
  required?: boolean;
  /** The values the documentation allows. */
  oneOf?: readonly (string | number)[];
  /** The fields of an object (or of each object of a list). */
  fields?: Readonly<Record<string, FieldSpec>>;
  /** An MQTT topic (no wildcards) / a Jinja template (`{{ … }}` or `{% … %}`). */
  topic?: boolean;
  template?: boolean;
}

export type HaDocComponent = "binary_sensor" | "sensor" | "button" | "image" | "event";

const DEVICE: Record<string, FieldSpec> = {
  configuration_url: { type: "string" },
  connections: { type: "object[]" },
  hw_version: { type: "string" },
  identifiers: { type: "string[]" },
  manufacturer: { type: "string" },
  model: { type: "string" },
  model_id: { type: "string" },
  name: { type: "string" },
  serial_number: { type: "string" },
  suggested_area: { type: "string" },
  sw_version: { type: "string" },
  via_device: { type: "string" },
};

const ORIGIN: Record<string, FieldSpec> = {
  name: { type: "string", required: true },
  sw_version: { type: "string" },
  support_url: { type: "string" },
};

const AVAILABILITY_ENTRY: Record<string, FieldSpec> = {
  topic: { type: "string", required: true, topic: true },
  payload_available: { type: "string" },
  payload_not_available: { type: "string" },
  value_template: { type: "string", template: true },
};

/** The fields every MQTT entity documents (availability, device, origin and the entity registry's). */
const COMMON: Record<string, FieldSpec> = {
  availability: { type: "object[]", fields: AVAILABILITY_ENTRY },
  availability_mode: { type: "string", oneOf: ["all", "any", "latest"] },
  availability_template: { type: "string", template: true },
  availability_topic: { type: "string", topic: true },
  payload_available: { type: "string" },
  payload_not_available: { type: "string" },
  default_entity_id: { type: "string" },
  device: { type: "object", fields: DEVICE },
  enabled_by_default: { type: "boolean" },
  encoding: { type: "string" },
  entity_category: { type: "string", oneOf: ["config", "diagnostic"] },
  entity_picture: { type: "string" },
  icon: { type: "string" },
  json_attributes_template: { type: "string", template: true },
  json_attributes_topic: { type: "string", topic: true },
  name: { type: "string|null" },
  object_id: { type: "string" },
  origin: { type: "object", fields: ORIGIN },
  qos: { type: "integer", oneOf: [0, 1, 2] },
  unique_id: { type: "string" },
};

export const BINARY_SENSOR_DEVICE_CLASSES = [
  "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door", "garage_door", "gas", "heat", "light",
  "lock", "moisture", "motion", "moving", "occupancy", "opening", "plug", "power", "presence", "problem", "running",
  "safety", "smoke", "sound", "tamper", "update", "vibration", "window",
] as const;

/** The sensor device classes PiFog could use, with the units Home Assistant documents for each (none: unitless) and
 * the state classes it allows. */
export const SENSOR_DEVICE_CLASSES: Readonly<Record<string, { units: readonly string[]; stateClasses: readonly string[] }>> = {
  temperature: { units: ["°C", "°F", "K"], stateClasses: ["measurement"] },
  humidity: { units: ["%"], stateClasses: ["measurement"] },
  atmospheric_pressure: { units: ["cbar", "bar", "hPa", "mmHg", "inHg", "kPa", "mbar", "Pa", "psi"], stateClasses: ["measurement"] },
  pressure: { units: ["cbar", "bar", "hPa", "mmHg", "inHg", "kPa", "mbar", "Pa", "psi"], stateClasses: ["measurement"] },
  battery: { units: ["%"], stateClasses: ["measurement"] },
  voltage: { units: ["V", "mV", "µV", "kV", "MV"], stateClasses: ["measurement"] },
  current: { units: ["A", "mA"], stateClasses: ["measurement"] },
  power: { units: ["mW", "W", "kW", "MW", "GW", "TW", "BTU/h"], stateClasses: ["measurement"] },
  duration: { units: ["d", "h", "min", "s", "ms", "µs"], stateClasses: ["measurement", "total", "total_increasing"] },
  illuminance: { units: ["lx"], stateClasses: ["measurement"] },
  signal_strength: { units: ["dB", "dBm"], stateClasses: ["measurement"] },
  enum: { units: [], stateClasses: [] },
  timestamp: { units: [], stateClasses: [] },
};

export const HA_COMPONENT_FIELDS: Readonly<Record<HaDocComponent, Readonly<Record<string, FieldSpec>>>> = {
  binary_sensor: {
    ...COMMON,
    device_class: { type: "string", oneOf: BINARY_SENSOR_DEVICE_CLASSES },
    expire_after: { type: "integer" },
    force_update: { type: "boolean" },
    off_delay: { type: "integer" },
    payload_off: { type: "string" },
    payload_on: { type: "string" },
    state_topic: { type: "string", required: true, topic: true },
    value_template: { type: "string", template: true },
  },
  sensor: {
    ...COMMON,
    device_class: { type: "string", oneOf: Object.keys(SENSOR_DEVICE_CLASSES) },
    expire_after: { type: "integer" },
    force_update: { type: "boolean" },
    last_reset_value_template: { type: "string", template: true },
    options: { type: "string[]" },
    suggested_display_precision: { type: "integer" },
    state_class: { type: "string", oneOf: ["measurement", "measurement_angle", "total", "total_increasing"] },
    state_topic: { type: "string", required: true, topic: true },
    unit_of_measurement: { type: "string" },
    value_template: { type: "string", template: true },
  },
  button: {
    ...COMMON,
    command_template: { type: "string", template: true },
    command_topic: { type: "string", required: true, topic: true },
    device_class: { type: "string", oneOf: ["identify", "restart", "update"] },
    payload_press: { type: "string" },
    retain: { type: "boolean" },
  },
  image: {
    ...COMMON,
    content_type: { type: "string" },
    image_encoding: { type: "string", oneOf: ["b64"] },
    image_topic: { type: "string", topic: true },
    url_template: { type: "string", template: true },
    url_topic: { type: "string", topic: true },
  },
  event: {
    ...COMMON,
    device_class: { type: "string", oneOf: ["button", "doorbell", "motion"] },
    event_types: { type: "string[]", required: true },
    state_topic: { type: "string", required: true, topic: true },
    value_template: { type: "string", template: true },
  },
};

function typeOk(value: unknown, type: FieldType): boolean {
  switch (type) {
    case "string":
      return typeof value === "string";
    case "string|null":
      return typeof value === "string" || value === null;
    case "boolean":
      return typeof value === "boolean";
    case "integer":
      return Number.isInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "string[]":
      return Array.isArray(value) && value.every((v) => typeof v === "string");
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
    case "object[]":
      return Array.isArray(value) && value.every((v) => typeof v === "object" && v !== null && !Array.isArray(v));
  }
}

/** Jinja's delimiters balanced, and something between them. */
function looksLikeTemplate(text: string): boolean {
  const opens = (text.match(/\{\{|\{%/g) ?? []).length;
  const closes = (text.match(/\}\}|%\}/g) ?? []).length;
  return opens > 0 && opens === closes;
}

function checkFields(where: string, value: Record<string, unknown>, spec: Readonly<Record<string, FieldSpec>>, problems: string[]): void {
  for (const [name, field] of Object.entries(spec)) {
    if (field.required && value[name] === undefined) problems.push(`${where}: ${name} is required`);
  }
  for (const [name, v] of Object.entries(value)) {
    const field = spec[name];
    if (!field) {
      problems.push(`${where}: ${name} is not a documented field`);
      continue;
    }
    if (!typeOk(v, field.type)) {
      problems.push(`${where}: ${name} must be ${field.type}, not ${JSON.stringify(v)}`);
      continue;
    }
    if (field.oneOf && !field.oneOf.includes(v as string | number)) problems.push(`${where}: ${name} ${JSON.stringify(v)} is not one of ${field.oneOf.join(", ")}`);
    if (field.topic && (typeof v !== "string" || v.length === 0 || /[+#]/.test(v))) problems.push(`${where}: ${name} must be a topic without wildcards`);
    if (field.template && (typeof v !== "string" || !looksLikeTemplate(v))) problems.push(`${where}: ${name} is not a template`);
    if (field.fields) {
      const items = field.type === "object[]" ? (v as Array<Record<string, unknown>>) : [v as Record<string, unknown>];
      items.forEach((item, i) => checkFields(field.type === "object[]" ? `${where}.${name}[${i}]` : `${where}.${name}`, item, field.fields!, problems));
    }
  }
}

/** What is wrong with a config payload for `component`, as Home Assistant documents it (empty: nothing). */
export function haConfigProblems(component: HaDocComponent, config: Record<string, unknown>): string[] {
  const problems: string[] = [];
  checkFields(component, config, HA_COMPONENT_FIELDS[component], problems);
  // the rules the documentation states in words
  if (config.availability !== undefined && config.availability_topic !== undefined) problems.push(`${component}: availability and availability_topic exclude each other`);
  if (config.device !== undefined) {
    const d = config.device as Record<string, unknown>;
    if (d.identifiers === undefined && d.connections === undefined) problems.push(`${component}.device: needs identifiers or connections`);
  }
  if (config.device !== undefined && config.unique_id === undefined) problems.push(`${component}: a device block needs unique_id`);
  if (typeof config.default_entity_id === "string" && !config.default_entity_id.startsWith(`${component}.`)) {
    problems.push(`${component}: default_entity_id must be <component>.<object id>, not ${config.default_entity_id}`);
  }
  if (component === "image") {
    const image = config.image_topic !== undefined;
    const url = config.url_topic !== undefined;
    if (image === url) problems.push("image: exactly one of image_topic and url_topic");
  }
  if (component === "sensor") {
    const deviceClass = config.device_class as string | undefined;
    const unit = config.unit_of_measurement as string | undefined;
    const stateClass = config.state_class as string | undefined;
    const known = deviceClass ? SENSOR_DEVICE_CLASSES[deviceClass] : undefined;
    if (known && unit !== undefined && !known.units.includes(unit)) problems.push(`sensor: ${unit} is not a unit of device class ${deviceClass}`);
    if (known && known.units.length > 0 && unit === undefined) problems.push(`sensor: device class ${deviceClass} needs a unit`);
    if (known && stateClass !== undefined && !known.stateClasses.includes(stateClass)) problems.push(`sensor: state class ${stateClass} is not allowed for ${deviceClass}`);
    if (deviceClass === "enum") {
      if (!Array.isArray(config.options) || config.options.length === 0) problems.push("sensor: an enum sensor needs options");
    } else if (config.options !== undefined) problems.push("sensor: options are for an enum sensor only");
  }
  if (component === "event" && Array.isArray(config.event_types) && config.event_types.length === 0) problems.push("event: event_types must not be empty");
  return problems;
}
