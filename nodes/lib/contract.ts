// The wire, in one place: every topic PiFog publishes or subscribes to, and the type of every payload.
// No other module builds a topic string. The README's "Topic tree" section documents this file.
import type { CameraSettings, ClipRecord, HealthReport, HealthState, LiveControl, MotionEvent, SettingsApplied } from "./camera/types";
import type { HaComponent, HaConfig } from "./homeassistant/discovery";

export const NATIVE_ROOT = "pifog";
/** The original PiFog scheme, leading slash included. */
export const COMPAT_ROOT = "/World/Fog/1";

export type PiName = "DoorPi" | "StatusPi" | "CameraPi" | "ButtonPi" | "SensorPi";
export const PI_NAMES: readonly PiName[] = ["DoorPi", "StatusPi", "CameraPi", "ButtonPi", "SensorPi"];

export type DoorState = "open" | "closed";
export type Occupancy = "go" | "maybe" | "stop" | "unknown";

declare const payloadOf: unique symbol;
/**
 * A topic one may publish to, carrying the type of its payload: `publish(topic, payload)` takes only that type, so a
 * wrong payload is a tsc error. Only the builders below make one; a filter (`+`, `#`) stays a plain string.
 */
export type Topic<P> = string & { readonly [payloadOf]: P };
/** A payload that goes on the wire as it is (a plain number as text, a word, bytes); anything else is JSON. */
export type PlainPayload = string | Buffer;

/** The payload type a topic builder's topics carry. */
export type PayloadOf<T> = T extends Topic<infer P> ? P : never;

function topic<P>(text: string): Topic<P> {
  return text as Topic<P>;
}

/** The bytes of a payload: text and bytes as they are, anything else as JSON. */
export function encodePayload<P>(payload: P): string | Buffer {
  return typeof payload === "string" || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
}

/** Native topics: `pifog/<device>/...`. A device id is one topic level: no `/`, `+`, `#`. */
export const topics = {
  status: (device: string) => topic<DeviceStatus>(`${NATIVE_ROOT}/${device}/status`),
  anyStatus: () => `${NATIVE_ROOT}/+/status`,
  command: (device: string) => topic<Command>(`${NATIVE_ROOT}/${device}/command`),
  event: (device: string) => topic<DeviceEvent>(`${NATIVE_ROOT}/${device}/event`),
  doors: (device: string) => topic<DoorsState>(`${NATIVE_ROOT}/${device}/doors`),
  door: (device: string, door: string) => topic<DoorChange>(`${NATIVE_ROOT}/${device}/door/${door}`),
  occupancy: (device: string) => topic<OccupancyState>(`${NATIVE_ROOT}/${device}/occupancy`),
  /** A stats node's window statistics for one source topic: all of the source topic's levels follow `stats/`. */
  stats: (device: string, source: string) => topic<WindowStats>(`${NATIVE_ROOT}/${device}/stats/${source}`),
  anyStats: () => `${NATIVE_ROOT}/+/stats/#`,
  /** Alert events (raised, repeated, acknowledged, cleared) of a device's alert nodes. */
  alertEvents: (device: string) => topic<AlertEvent>(`${NATIVE_ROOT}/${device}/alerts/events`),
  /** The device's active alerts, retained. */
  alertsActive: (device: string) => topic<ActiveAlerts>(`${NATIVE_ROOT}/${device}/alerts/active`),
  /** Acknowledge an alert: `{"id":"<alert id>"}`. */
  alertAck: (device: string) => topic<AlertAck>(`${NATIVE_ROOT}/${device}/alerts/ack`),
  anyAlerts: () => `${NATIVE_ROOT}/+/alerts/#`,
  simSet: (device: string, input: string) => topic<string>(`${NATIVE_ROOT}/${device}/sim/${input}/set`),
  /** What a simulated input or output is at: its level or word, as text. */
  simState: (device: string, input: string) => topic<string>(`${NATIVE_ROOT}/${device}/sim/${input}`),
  /** A simulated LED matrix's frame: 64 [r,g,b] triples, row by row. */
  simMatrix: (device: string) => topic<Array<[number, number, number]>>(`${NATIVE_ROOT}/${device}/sim/matrix`),
  environment: (device: string) => topic<EnvironmentState>(`${NATIVE_ROOT}/${device}/environment`),
  /** One environment value as a plain number (IoTitan style), e.g. `pifog/statuspi/environment/temperature` ← `21.3`. */
  environmentValue: (device: string, value: EnvironmentValue) => topic<number>(`${NATIVE_ROOT}/${device}/environment/${value}`),
} as const;

/** Power (detectordag): a power Pi's mains and battery, and the hub's view of each device's connection. */
export const powerTopics = {
  /** Retained QoS 1: the power Pi's latest PowerState. */
  state: (device: string) => topic<PowerState>(`${NATIVE_ROOT}/${device}/power`),
  /** QoS 1, not retained: every change, in order, with its original time (delivered late after an outage). */
  events: (device: string) => topic<PowerState>(`${NATIVE_ROOT}/${device}/power/events`),
  anyEvents: () => `${NATIVE_ROOT}/+/power/events`,
  anyState: () => `${NATIVE_ROOT}/+/power`,
  /** Any message here makes the power Pi publish its state at once (detectordag's status/request). */
  request: (device: string) => topic<Record<string, never>>(`${NATIVE_ROOT}/${device}/power/request`),
  /** Retained QoS 1: the hub's debounced connection status of a device (ConnectionState). */
  connection: (device: string) => topic<ConnectionState>(`${NATIVE_ROOT}/${device}/connection`),
  anyConnection: () => `${NATIVE_ROOT}/+/connection`,
} as const;

/** The fog's trust on the wire (issue 11). The level `$ca` is no device id, so no device's topics can ever hold it. */
export const trustTopics = {
  /** Retained QoS 1: the local CA's revocation list (PEM), published by the hub's broker itself (no client may) and
   * readable by all; a Pi takes it only when the CA signed it and never goes back to an older one. */
  crl: () => topic<string>(`${NATIVE_ROOT}/$ca/crl`),
} as const;

/** Home cameras (issue 13, Pi In The Sky): motion, settings, live video, stored clips. Shapes in ./camera/types.ts. */
export const skycamTopics = {
  /** QoS 1, not retained, from the camera Pi: motion start and end. */
  motion: (device: string) => topic<MotionEvent>(`${NATIVE_ROOT}/${device}/motion`),
  anyMotion: () => `${NATIVE_ROOT}/+/motion`,
  /** Retained QoS 1, from the hub: the camera's settings (a device reads its own). */
  config: (device: string) => topic<CameraSettings>(`${NATIVE_ROOT}/${device}/camera/config`),
  /** Retained QoS 1, from the Pi: the settings version it applied. */
  applied: (device: string) => topic<SettingsApplied>(`${NATIVE_ROOT}/${device}/camera/applied`),
  anyApplied: () => `${NATIVE_ROOT}/+/camera/applied`,
  /** Retained QoS 1, from the hub: whether it wants the live stream now. */
  liveControl: (device: string) => topic<LiveControl>(`${NATIVE_ROOT}/${device}/camera/live/control`),
  /** QoS 0, from the Pi while live is on: one JPEG frame per message (raw bytes). */
  liveFrame: (device: string) => topic<Buffer>(`${NATIVE_ROOT}/${device}/camera/live/frame`),
  anyLiveFrame: () => `${NATIVE_ROOT}/+/camera/live/frame`,
  /** QoS 1, from the hub's clip store: an item (clip or still) it has stored. */
  stored: (hub: string) => topic<ClipRecord>(`${NATIVE_ROOT}/${hub}/clips/stored`),
} as const;

/** Every device's health (issue 13): its reports, and the hub's judgement of them. */
export const healthTopics = {
  /** QoS 1, retained, from every role: its health report. */
  report: (device: string) => topic<HealthReport>(`${NATIVE_ROOT}/${device}/health`),
  anyReport: () => `${NATIVE_ROOT}/+/health`,
  /** Retained QoS 1, from the hub: healthy / unhealthy. */
  state: (device: string) => topic<HealthState>(`${NATIVE_ROOT}/${device}/health/state`),
  anyState: () => `${NATIVE_ROOT}/+/health/state`,
} as const;

/** Home Assistant's default MQTT discovery prefix (PIFOG_HA_DISCOVERY names the one in use). */
export const DEFAULT_DISCOVERY_PREFIX = "homeassistant";

/** A discovery prefix PiFog takes: one plain topic level, never PiFog's own root (a device's discovery topics must not
 * reach into another device's `pifog/<device>/…`). */
export function isDiscoveryPrefix(prefix: string): boolean {
  return isTopicLevel(prefix) && prefix !== NATIVE_ROOT;
}

/** Home Assistant MQTT discovery: `<prefix>/<component>/<node id>/<object id>/config`, retained, from the device whose
 * id is the node id (nodes/lib/homeassistant/discovery.ts makes the payloads). An empty payload removes the entity. */
export const haTopics = {
  config: (prefix: string, component: HaComponent, node: string, object: string) =>
    topic<HaConfig | "">(`${prefix}/${component}/${node}/${object}/config`),
  /** Every discovery config of one node id (what its device finds again on the broker, and clears if nobody owns it). */
  nodeConfigs: (prefix: string, node: string) => `${prefix}/+/${node}/+/config`,
} as const;

/** What each Pi says on its PiFog `Event` topic: its own events, and a pong for every Pi. */
export interface CompatEvents {
  DoorPi: CompatDoorEvent;
  StatusPi: CompatEnvironmentEvent;
  CameraPi: CompatPictureEvent;
  ButtonPi: CompatCommandExecuted;
  SensorPi: never;
}
export type CompatEventOf<P extends PiName> = CompatEvents[P] | PongEvent;

/** `pifog/<device>/event`: answers to commands. */
export type DeviceEvent = PongEvent | DoorOpenEvent;

/** PiFog-compatible topics: `/World/Fog/1/<Pi>/<Kind>`. */
export const compatTopics = {
  event: <P extends PiName>(pi: P) => topic<CompatEventOf<P>>(`${COMPAT_ROOT}/${pi}/Event`),
  connection: (pi: PiName) => topic<CompatConnected | CompatDisconnected>(`${COMPAT_ROOT}/${pi}/Connection`),
  command: (pi: PiName) => topic<Command>(`${COMPAT_ROOT}/${pi}/Command`),
  notify: (pi: PiName) => `${COMPAT_ROOT}/${pi}/Notify`,
} as const;

const TOPIC_LEVEL = /^[A-Za-z0-9_.-]{1,64}$/;
/** A device id, door id or input name must be a single, plain topic level. */
export function isTopicLevel(value: string): boolean {
  return TOPIC_LEVEL.test(value);
}

// ---- native payloads ------------------------------------------------------------------------------

export interface NetworkAddress {
  iface: string;
  address: string;
}

/** `pifog/<device>/status`, retained QoS 1; the last will is the `offline` form. */
export type DeviceStatus =
  | {
      state: "online";
      device: string;
      role: string;
      compat?: PiName;
      addresses: NetworkAddress[];
      bootTime: string;
      startedAt: string;
      version: string;
      hardware: "pi" | "sim";
      timestamp: string;
    }
  | { state: "offline"; device: string };

export interface DoorReading {
  label: string;
  state: DoorState;
  changedAt: string;
}

/** `pifog/<device>/doors`, retained QoS 1: every door of a DoorPi at once. */
export interface DoorsState {
  device: string;
  doors: Record<string, DoorReading>;
  timestamp: string;
}

/** `pifog/<device>/door/<door>`, retained QoS 1: one door. */
export interface DoorChange extends DoorReading {
  device: string;
  door: string;
}

/** `pifog/<device>/occupancy`, retained QoS 1: what a StatusPi shows. */
export interface OccupancyState {
  device: string;
  source: string;
  occupancy: Occupancy;
  open: number;
  total: number;
  timestamp: string;
}

/** `pifog/<device>/command` and the compat `…/Command`. */
export interface Command {
  command: string;
  id?: string | number;
  /** Who the sender says asked (e.g. `{"command":"open-door","id":…,"by":"dashboard:operator"}`): a claim, never proof. */
  by?: string;
  /** Who sent it, as the path tells: the embedded broker stamps `mqtt:<client id>` on every command it routes (see
   * `stampCommand`); a device link passes it on only when it is on that broker in its own process, where nobody
   * else can have written it. */
  from?: string;
  /** Who sent it, as the embedded broker checked it (its certificate, password or anonymous address); stamped with
   * `from` and, like it, only proof on that broker in the receiver's own process. */
  sender?: CommandSender;
}

/** The identity the embedded broker authenticated for a command's sender. */
export interface CommandSender {
  kind: "device" | "user" | "anonymous";
  /** The device id, the user name, or the anonymous client's address. */
  name: string;
  /** The device's or the user's role. */
  role?: string;
}

/** `pifog/<device>/event`: answers to commands. */
export interface PongEvent {
  pong: { id: string | number | null; timestamp: string };
}

/** The values a StatusPi's environment reading also publishes one by one, each as a plain number. */
export type EnvironmentValue =
  | "temperature"
  | "temperature-from-humidity"
  | "temperature-from-pressure"
  | "humidity"
  | "pressure"
  | "cpu-temperature";

/** `pifog/<device>/environment`, retained QoS 1: a StatusPi's Sense HAT readings. */
export interface EnvironmentState {
  device: string;
  /** °C: the temperature from humidity corrected for the CPU's heat, `t − (t_cpu − t) / factor`;
   * the raw temperature from humidity when the CPU temperature could not be read (`corrected` false). */
  temperature: number;
  corrected: boolean;
  /** °C, raw, from the HTS221 (PiFog's `temperature_from_humidity`). */
  temperatureFromHumidity: number;
  /** °C, raw, from the LPS25H (PiFog's `temperature_from_pressure`). */
  temperatureFromPressure: number;
  /** %RH. */
  humidity: number;
  /** hPa. */
  pressure: number;
  /** °C, or null when it could not be read. */
  cpuTemperature: number | null;
  factor: number;
  timestamp: string;
}

/** Each value of an environment reading under its own topic name; a value that is missing is left out. */
export function environmentValues(state: EnvironmentState): Array<[EnvironmentValue, number]> {
  const values: Array<[EnvironmentValue, number | null]> = [
    ["temperature", state.temperature],
    ["temperature-from-humidity", state.temperatureFromHumidity],
    ["temperature-from-pressure", state.temperatureFromPressure],
    ["humidity", state.humidity],
    ["pressure", state.pressure],
    ["cpu-temperature", state.cpuTemperature],
  ];
  return values.filter((v): v is [EnvironmentValue, number] => typeof v[1] === "number" && Number.isFinite(v[1]));
}

// ---- PiFog-compatible payloads ----------------------------------------------------------------------

export interface CompatDoorEvent {
  state: { door1: DoorState; door2: DoorState; timestamp: string };
}
export interface CompatConnected {
  connected: { boot_time: string; addresses: string; timestamp: string };
}
export interface CompatDisconnected {
  disconnected: { device: string };
}

/** Python's `str(datetime.now())` in local time, e.g. `2016-03-28 12:34:56.789012`, as PiFog sent it. */
export function pythonTimestamp(date: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return (
    `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ` +
    `${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}.${p(date.getMilliseconds(), 3)}000`
  );
}

/** `eth0: 10.0.0.5, wlan0: 10.0.0.6` as PiFog joined them. */
export function compatAddresses(addresses: NetworkAddress[]): string {
  return addresses.map((a) => `${a.iface}: ${a.address}`).join(", ");
}

/** `/World/Fog/1/StatusPi/Event`, retained QoS 1: PiFog's raw Sense HAT readings. */
export interface CompatEnvironmentEvent {
  state: {
    humidity: number;
    temperature_from_humidity: number;
    temperature_from_pressure: number;
    pressure: number;
    timestamp: string;
  };
}

export function compatEnvironmentEvent(
  reading: { humidity: number; temperatureFromHumidity: number; temperatureFromPressure: number; pressure: number },
  at: Date,
): CompatEnvironmentEvent {
  return {
    state: {
      humidity: reading.humidity,
      temperature_from_humidity: reading.temperatureFromHumidity,
      temperature_from_pressure: reading.temperatureFromPressure,
      pressure: reading.pressure,
      timestamp: pythonTimestamp(at),
    },
  };
}

export function compatDoorEvent(doors: Record<string, DoorReading>, at: Date): CompatDoorEvent {
  return {
    state: {
      door1: doors.door1?.state ?? "closed",
      door2: doors.door2?.state ?? "closed",
      timestamp: pythonTimestamp(at),
    },
  };
}

// ---- parsing what arrives -------------------------------------------------------------------------

export class PayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PayloadError";
  }
}

/**
 * An empty payload: what a client publishes (retained) to clear a retained topic, and what a subscriber then
 * receives. It means "no state", never bad input: a node that reads state forgets it and records nothing.
 */
export function isCleared(payload: Buffer | string): boolean {
  return payload.length === 0;
}

export function parseJson(payload: Buffer | string): unknown {
  const text = typeof payload === "string" ? payload : payload.toString("utf8");
  try {
    return JSON.parse(text);
  } catch {
    throw new PayloadError(`not JSON: ${text.slice(0, 60)}`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function parseDeviceStatus(payload: Buffer | string): DeviceStatus {
  const v = parseJson(payload);
  if (!isRecord(v) || (v.state !== "online" && v.state !== "offline") || typeof v.device !== "string") {
    throw new PayloadError("device status needs state online|offline and device");
  }
  return v as DeviceStatus;
}

/** Door states in order of door id: from a native `doors` payload. */
export function parseDoorsState(payload: Buffer | string): DoorsState {
  const v = parseJson(payload);
  if (!isRecord(v) || !isRecord(v.doors)) throw new PayloadError("doors state needs a doors object");
  for (const [id, reading] of Object.entries(v.doors)) {
    if (!isRecord(reading) || (reading.state !== "open" && reading.state !== "closed")) {
      throw new PayloadError(`door ${id} needs state open|closed`);
    }
  }
  return v as unknown as DoorsState;
}

/** A compat DoorPi event; as in PiFog, any value other than "open" counts as closed. */
export function parseCompatDoorEvent(payload: Buffer | string): [DoorState, DoorState] {
  const v = parseJson(payload);
  if (!isRecord(v) || !isRecord(v.state) || !("door1" in v.state) || !("door2" in v.state)) {
    throw new PayloadError("DoorPi event needs state.door1 and state.door2");
  }
  const asState = (s: unknown): DoorState => (s === "open" ? "open" : "closed");
  return [asState(v.state.door1), asState(v.state.door2)];
}

/** Compat connection: `connected` → true, `disconnected` → false. */
export function parseCompatConnection(payload: Buffer | string): boolean {
  const v = parseJson(payload);
  if (isRecord(v) && "connected" in v) return true;
  if (isRecord(v) && "disconnected" in v) return false;
  throw new PayloadError("Connection message needs connected or disconnected");
}

export function parseCommand(payload: Buffer | string): Command {
  const v = parseJson(payload);
  if (!isRecord(v) || typeof v.command !== "string") throw new PayloadError("command needs a command name");
  const id = v.id;
  if (id !== undefined && typeof id !== "string" && typeof id !== "number") {
    throw new PayloadError("command id must be a string or a number");
  }
  if (typeof id === "string" && id.length > 128) throw new PayloadError("command id must be at most 128 characters");
  const command: Command = { command: v.command.slice(0, 64), id };
  // `by` and `from` are only kept when they are text; neither was part of PiFog's commands
  if (typeof v.by === "string") command.by = v.by.slice(0, 128);
  if (typeof v.from === "string") command.from = v.from.slice(0, 160);
  const sender = v.sender;
  if (isRecord(sender) && (sender.kind === "device" || sender.kind === "user" || sender.kind === "anonymous") && typeof sender.name === "string") {
    command.sender = { kind: sender.kind, name: sender.name.slice(0, 128) };
    if (typeof sender.role === "string") command.sender.role = sender.role.slice(0, 32);
  }
  return command;
}

// ---- commands and their senders on the embedded broker (who may publish what: broker/acl.ts) -----------------

/** A command topic, native (`pifog/<device>/command`) or PiFog's (`/World/Fog/1/<Pi>/Command`). */
export function isCommandTopic(topic: string): boolean {
  const l = topic.split("/");
  if (l.length === 3 && l[0] === NATIVE_ROOT && l[2] === "command") return true;
  return topic.startsWith(`${COMPAT_ROOT}/`) && l.length === 6 && l[5] === "Command";
}

/** Who sent a message over MQTT, as the broker knows it. */
export function mqttSender(clientId: string | null): string {
  return clientId ? `mqtt:${clientId.slice(0, 128)}` : "mqtt";
}

/**
 * A command's payload with `from` set to its MQTT sender (whatever `from` it carried is overwritten), or null when
 * the payload is not a JSON object (the receiver refuses it anyway). The embedded broker calls this on every command.
 */
export function stampCommand(payload: Buffer, clientId: string | null, sender?: CommandSender): Buffer | null {
  let v: unknown;
  try {
    v = JSON.parse(payload.toString("utf8"));
  } catch {
    return null;
  }
  if (!isRecord(v)) return null;
  const { sender: _claimed, ...rest } = v;
  return Buffer.from(JSON.stringify({ ...rest, from: mqttSender(clientId), ...(sender ? { sender } : {}) }));
}

// ---- telemetry: statistics and alerts (IoTitan) -------------------------------------------------------

/** IoTitan's outputs, one level below the input topic, as its scripts published them. */
export const iotitanTopics = {
  /** The window's mean as a plain number (Python float repr), e.g. `iotitan/home/up_bed1/dht11/temperature/average`. */
  average: (source: string) => topic<PlainPayload>(`${source}/average`),
  /** The value that crossed a threshold, as a plain payload. */
  alert: (source: string) => topic<PlainPayload>(`${source}/alert`),
} as const;

const levelsOf = (topic: string) => topic.split("/");

/** A topic some alert node published: `…/alert` or `pifog/<device>/alerts/…`. Alert nodes never take these. */
export function isAlertOutput(topic: string): boolean {
  const l = levelsOf(topic);
  return l[l.length - 1] === "alert" || (l.length > 3 && l[0] === NATIVE_ROOT && l[2] === "alerts");
}

/** A topic some stats or alert node published: `…/average`, `…/alert`, `pifog/<device>/stats/…`,
 * `pifog/<device>/alerts/…`. Stats nodes never take these, so they never average their own outputs. */
export function isTelemetryOutput(topic: string): boolean {
  const l = levelsOf(topic);
  return isAlertOutput(topic) || l[l.length - 1] === "average" || (l.length > 3 && l[0] === NATIVE_ROOT && l[2] === "stats");
}

/** A valid MQTT topic filter: non-empty levels of any text, `+` alone in a level, `#` alone and last. */
export function isTopicFilter(filter: string): boolean {
  if (filter.length === 0 || filter.length > 65535 || filter.includes("\u0000")) return false;
  const l = levelsOf(filter);
  return l.every((level, i) =>
    level.includes("#") ? level === "#" && i === l.length - 1 : !level.includes("+") || level === "+",
  );
}

/** Python's `repr(float)` (what IoTitan's `str(mean)` published): `23.0`, `22.966666666666665`, `1e-05`, `1e+16`. */
export function pythonFloat(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  // toExponential() without digits gives the shortest digits that read back as x, as Python's repr does
  const [mantissa = "", expText = "0"] = x.toExponential().split("e");
  const exp = Number(expText);
  const digits = mantissa.replace("-", "").replace(".", "");
  let body: string;
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    body = `${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  } else if (exp < 0) {
    body = `0.${"0".repeat(-exp - 1)}${digits}`;
  } else if (digits.length <= exp + 1) {
    body = `${digits}${"0".repeat(exp + 1 - digits.length)}.0`;
  } else {
    body = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  }
  return x < 0 ? `-${body}` : body;
}

/** `pifog/<device>/stats/<topic>`, retained QoS 1: one source topic's statistics over one tumbling window. */
export interface WindowStats {
  device: string;
  /** The source topic. */
  topic: string;
  windowStart: string;
  windowEnd: string;
  count: number;
  min: number;
  max: number;
  mean: number;
  /** Sample standard deviation (n − 1, as IoTitan's pandas `describe()`); null for a single reading. */
  stddev: number | null;
  first: number;
  last: number;
  firstAt: string;
  lastAt: string;
}

export type AlertCondition = "above" | "below";
export type AlertEventKind = "raised" | "repeated" | "acknowledged" | "cleared";
export const alertEventKinds: readonly AlertEventKind[] = ["raised", "repeated", "acknowledged", "cleared"];

/** One alert that is raised and not yet cleared. */
export interface ActiveAlert {
  /** The alert's id, new for every raise: what an acknowledgement names. */
  id: string;
  /** The rule's id and its label. */
  rule: string;
  label: string;
  /** The source topic. */
  topic: string;
  condition: AlertCondition;
  threshold: number;
  /** The value that raised the alert. */
  value: number;
  /** The latest value seen on the topic. */
  lastValue: number;
  raisedAt: string;
  lastValueAt: string;
  acknowledged: boolean;
  acknowledgedAt?: string;
  acknowledgedBy?: string;
}

/** `pifog/<device>/alerts/events`, QoS 1: what happened to an alert. */
export interface AlertEvent extends ActiveAlert {
  kind: AlertEventKind;
  device: string;
  /** When this event happened. */
  timestamp: string;
  /** How many times it has been repeated (`repeated`). */
  repeats: number;
  clearedAt?: string;
  /** Why a `cleared` happened: the value went back (past the hysteresis), or the rule is gone or changed. */
  reason?: "value" | "rule-removed";
}

/** `pifog/<device>/alerts/active`, retained QoS 1: every active alert of the device, oldest first. */
export interface ActiveAlerts {
  device: string;
  alerts: ActiveAlert[];
  timestamp: string;
}

/** `pifog/<device>/alerts/ack`: `{"id":"…","by":"…"}`; `{"ack":"…"}` and a bare id are taken too. */
export interface AlertAck {
  id: string;
  by?: string;
}

export function parseAlertAck(payload: Buffer | string): AlertAck {
  const text = (typeof payload === "string" ? payload : payload.toString("utf8")).trim();
  if (!text.startsWith("{")) {
    if (/^[A-Za-z0-9_.:@-]{1,128}$/.test(text)) return { id: text };
    throw new PayloadError("an acknowledgement needs an alert id");
  }
  const v = parseJson(text);
  const id = isRecord(v) ? (v.id ?? v.ack) : undefined;
  if (typeof id !== "string" || id.length === 0 || id.length > 128) throw new PayloadError("an acknowledgement needs an alert id");
  const by = isRecord(v) && typeof v.by === "string" ? v.by.slice(0, 128) : undefined;
  return by === undefined ? { id } : { id, by };
}

// ---- power (detectordag) ---------------------------------------------------------------------------

export type MainsState = "on" | "off";

export interface BatteryReading {
  /** Volts. */
  voltage: number;
  /** State of charge, 0..100 %. */
  percent: number;
  /** Estimated minutes left on battery while the mains is off; null when charging or unknown. */
  minutesLeft: number | null;
}

/** `pifog/<device>/power` (retained) and each `pifog/<device>/power/events` message, QoS 1. */
export interface PowerState {
  device: string;
  mains: MainsState;
  /** When the mains last changed, as the power Pi saw it (ISO): the event time an e-mail reports. */
  changedAt: string;
  battery: BatteryReading | null;
  /** When this message was made (ISO); for an event delivered late, still its original time. */
  timestamp: string;
}

export type ConnectionStatus = "connected" | "disconnected";

/** `pifog/<device>/connection`, retained QoS 1: the hub's debounced view. */
export interface ConnectionState {
  device: string;
  status: ConnectionStatus;
  /** When it changed (ISO). */
  updated: string;
}

/** The four transitions detectordag e-mails about. */
export type PowerTransition = "On" | "Off" | "Connected" | "Disconnected";

/** What the hub's power tracker sends on to the e-mail node (msg.payload). */
export interface TransitionEvent {
  device: string;
  /** The device's name from the account store (falls back to its id). */
  name: string;
  transition: PowerTransition;
  /** The device's state after the transition, as detectordag's (connection, power) pair. */
  connection: ConnectionStatus;
  power: MainsState;
  /** When it happened (ISO): the event's time, not the time of sending. */
  at: string;
}

export function parsePowerState(payload: Buffer | string): PowerState {
  const v = parseJson(payload);
  if (!isRecord(v) || (v.mains !== "on" && v.mains !== "off") || typeof v.device !== "string" || typeof v.changedAt !== "string") {
    throw new PayloadError("power state needs device, mains on|off and changedAt");
  }
  return v as unknown as PowerState;
}

// ---- the front door (ButtonPi) --------------------------------------------------------------------

/** How an open-door attempt reached the door opener: a flow message, the native command topic, PiFog's. */
export type DoorOpenVia = "flow" | "native" | "compat" | (string & {});
export type DoorOpenOutcome = "opened" | "refused";
/** Why an attempt was refused: a pulse is running, the cooldown after one, no GPIO here, the audit could not be written,
 * the asker is not allowed (e.g. a Slack user not on the slack-app's list, or a signer whose role may not open the door);
 * and for a native command, its signature (nodes/lib/identity/signing.ts): none, not matching the payload, its nonce
 * seen before, its time outside ±60 s, its certificate revoked or not from this fog's CA, or no CA on this Pi at all. */
export type DoorRefusal =
  | "busy"
  | "cooldown"
  | "unavailable"
  | "audit-failed"
  | "not-allowed"
  | "unsigned"
  | "tampered"
  | "replayed"
  | "stale"
  | "revoked"
  | "untrusted"
  | "no-ca";
/** An opened door whose pulse was cut short: the runtime failed (an error escaped: every output went safe before the
 * process exited) or the node stopped (a deploy, a shutdown). `closedAt` says when the output went LOW. */
export type DoorAbort = "aborted";

/** One open-door attempt, as the door opener reports and audits it. */
export interface DoorOpenResult {
  device: string;
  command: "open-door";
  id: string | number | null;
  /** Who asked, as the path it arrived on tells: the flow's message (the operator gate's session, the Slack user),
   * or for MQTT the sender `mqtt:<client id>` (`mqtt` when the broker is not this runtime's own). Never the payload. */
  by: string | null;
  /** Who an MQTT sender says asked (its payload's `by`), kept for the record; not verified. */
  claimedBy?: string;
  via: DoorOpenVia;
  result: DoorOpenOutcome;
  reason?: DoorRefusal | DoorAbort;
  /** The refusal in words, when there is more to say than the reason (a signature's). */
  detail?: string;
  /** A signed native command: the signer's certificate CN, once the signature checked out. */
  signedBy?: string;
  /** With reason "aborted": what cut the pulse short. */
  abortedBy?: "failure" | "stop";
  /** How long the output was (or was to be) held HIGH. */
  pulseMs: number;
  /** When the attempt arrived (ISO). */
  requestedAt: string;
  /** For an opened door: when the output went HIGH and back LOW (ISO). */
  openedAt?: string;
  closedAt?: string;
}

/** `pifog/<device>/event`, QoS 1: every open-door attempt, once the pulse is over (or at once when refused). */
export interface DoorOpenEvent {
  "open-door": DoorOpenResult;
}

/** `/World/Fog/1/ButtonPi/Event`, QoS 1: PiFog's answer after the door was opened. */
export interface CompatCommandExecuted {
  "command-executed": { command: string; id: string | number | null; timestamp: string };
}

export function compatCommandExecuted(command: string, id: string | number | null | undefined, at: Date): CompatCommandExecuted {
  return { "command-executed": { command, id: id ?? null, timestamp: pythonTimestamp(at) } };
}

/** What a flow may ask of a door opener in msg.payload (anything else opens it with nothing said). */
export interface DoorOpenRequest {
  id?: string | number;
  by?: string;
  via?: string;
  /** A pulse other than the configured one, in seconds; held to the node's maximum. */
  seconds?: number;
}

/** A flow's msg.payload for a door opener: an object's fields are checked; any other payload just opens. */
export function parseDoorOpenRequest(payload: unknown): DoorOpenRequest {
  if (!isRecord(payload)) return {};
  const out: DoorOpenRequest = {};
  const { id, by, via, seconds } = payload;
  if (id !== undefined && id !== null) {
    if (typeof id !== "string" && typeof id !== "number") throw new PayloadError("open-door id must be a string or a number");
    out.id = id;
  }
  for (const [key, value] of [["by", by], ["via", via]] as const) {
    if (value === undefined || value === null) continue;
    if (typeof value !== "string" || value.length === 0 || value.length > 128) {
      throw new PayloadError(`open-door ${key} must be text of 1..128 characters`);
    }
    out[key] = value;
  }
  if (seconds !== undefined && seconds !== null) {
    if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds <= 0) {
      throw new PayloadError("open-door seconds must be a positive number");
    }
    out.seconds = seconds;
  }
  return out;
}

// ---- the door camera (CameraPi) -------------------------------------------------------------------

export const cameraTopics = {
  /** QoS 0, not retained: every still a camera node takes (CameraPicture). */
  picture: (device: string) => topic<CameraPicture>(`${NATIVE_ROOT}/${device}/camera/picture`),
  /** QoS 1, not retained: one face crop found in a still, the raw image bytes (PNG by default) as the payload. */
  faces: (device: string) => topic<Buffer>(`${NATIVE_ROOT}/${device}/faces`),
  /** Every device's face crops (what the CameraPi's forwarder carries to the remote broker). */
  allFaces: `${NATIVE_ROOT}/+/faces`,
  /** The crops as the forwarder puts them on the remote broker (prefix `pifog/` → `pifog/forwarded/`). */
  forwardedFaces: (device: string) => topic<Buffer>(`${NATIVE_ROOT}/forwarded/${device}/faces`),
  /** What flows/facewriter.json stores. */
  allForwardedFaces: `${NATIVE_ROOT}/forwarded/+/faces`,
  /** Retained, QoS 0: the latest still as raw JPEG bytes, for Home Assistant's image entity; published only while the
   * device's Home Assistant discovery is on. */
  still: (device: string) => topic<Buffer>(`${NATIVE_ROOT}/${device}/camera/still`),
  /** Retained, QoS 0: the latest still and where its faces are (face-detect's FrameFaces), for the dashboard. */
  frame: (device: string) => `${NATIVE_ROOT}/${device}/camera/frame`,
  allFrames: `${NATIVE_ROOT}/+/camera/frame`,
} as const;

/** `pifog/<device>/camera/picture`, QoS 0: one still, the JPEG in base64. */
export interface CameraPicture {
  device: string;
  preset: "low" | "high";
  width: number;
  height: number;
  /** When it was taken (ISO). */
  timestamp: string;
  image: string;
}

/** PiFog's CameraPi commands and the preset each takes. */
export const COMPAT_PICTURE_COMMANDS: Readonly<Record<string, "low" | "high">> = {
  "take-picture-low-res": "low",
  "take-picture-high-res": "high",
};

/** What PiFog's web page puts before `,` and the base64 image in an `<img src>`. */
export const COMPAT_PICTURE_ENCODING = "data:image/jpg;base64";

/** `/World/Fog/1/CameraPi/Event`, QoS 0, not retained: PiFog's answer to a take-picture command. */
export interface CompatPictureEvent {
  picture: { image: string; encoding: typeof COMPAT_PICTURE_ENCODING; "response-to": string | number | null; timestamp: string };
}

export function compatPictureEvent(jpeg: Buffer, responseTo: string | number | null | undefined, at: Date): CompatPictureEvent {
  return {
    picture: { image: jpeg.toString("base64"), encoding: COMPAT_PICTURE_ENCODING, "response-to": responseTo ?? null, timestamp: pythonTimestamp(at) },
  };
}
