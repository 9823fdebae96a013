// Who may publish and subscribe to what, for every identity (../identity/types.ts): the policy is DATA (the table
// below), read by the embedded broker (canPublish / canSubscribe / canRead) and by the Mosquitto configuration
// generator (mosquitto-conf.ts), so the two brokers enforce one policy.
//
// A pattern is an MQTT filter whose levels may be `{device}` (the device's own id), `{pi}` (its PiFog compat name,
// from its role) or `{ha}` (the broker's Home Assistant discovery prefix, AclPolicy); a rule whose placeholder has no
// value for an identity (a role without a compat Pi) does not apply.
// A filter is granted only when every topic it can match is allowed by one rule (so `#` is refused to a device).
import { COMPAT_ROOT, DEFAULT_DISCOVERY_PREFIX, haTopics, healthTopics, NATIVE_ROOT, skycamTopics, trustTopics, type PiName } from "../contract";
import type { DeviceRole, Identity, UserRole } from "../identity/types";

export interface AclRule {
  /** An MQTT filter; `{device}` and `{pi}` stand for whole levels. */
  pattern: string;
  /** May publish to the topics it matches. */
  publish?: boolean;
  /** May subscribe to filters within it and receive what it matches. */
  read?: boolean;
  /** A publish here may set (or clear, with an empty payload) the retained message. */
  retain?: boolean;
}

/** PiFog's name for what a role runs, where the original had one (the `/World/Fog/1/<Pi>/…` tree). */
export const COMPAT_PI: Readonly<Partial<Record<DeviceRole, PiName>>> = {
  doorpi: "DoorPi",
  statuspi: "StatusPi",
  camerapi: "CameraPi",
  buttonpi: "ButtonPi",
  sensors: "SensorPi",
};

const N = NATIVE_ROOT;
const C = COMPAT_ROOT;

/** The commands and the inputs an operator (and the hub) may send to any device. */
const COMMANDING: readonly AclRule[] = [
  { pattern: `${N}/+/command`, publish: true },
  { pattern: `${C}/+/Command`, publish: true },
  { pattern: `${N}/+/sim/+/set`, publish: true },
  { pattern: `${N}/+/alerts/ack`, publish: true },
];

/** Everything but `$SYS` (an MQTT `#` never matches a `$` topic). */
const READ_ALL: AclRule = { pattern: "#", read: true };

/** The hub's revocation list (CA-signed, published by the broker itself): every device and every reader follows it. */
const REVOCATIONS: AclRule = { pattern: trustTopics.crl(), read: true };

/** What the broker's policy leaves to its configuration: the Home Assistant discovery prefix a device may announce its
 * own entities under (the hub's PIFOG_HA_DISCOVERY; Home Assistant's default when it is unset). */
export interface AclPolicy {
  discoveryPrefix: string;
}

export const DEFAULT_ACL_POLICY: Readonly<AclPolicy> = { discoveryPrefix: DEFAULT_DISCOVERY_PREFIX };

/** What every device may do: its own tree, its own PiFog topics, and its own Home Assistant discovery configs (the
 * node id level is its id: it can neither add nor remove another device's entities). */
const DEVICE_OWN: readonly AclRule[] = [
  { pattern: `${N}/{device}/#`, publish: true, read: true, retain: true },
  { pattern: `${C}/{pi}/Event`, publish: true, retain: true },
  { pattern: `${C}/{pi}/Connection`, publish: true, retain: true },
  { pattern: `${C}/{pi}/Command`, read: true },
  { pattern: `${C}/{pi}/Notify`, read: true },
  REVOCATIONS,
  { pattern: haTopics.nodeConfigs("{ha}", "{device}"), publish: true, read: true, retain: true },
];

/** What each role reads (and, for the hubs, writes) besides its own topics: the subscriptions of its flow's nodes. */
export const DEVICE_ROLE_RULES: Readonly<Record<DeviceRole, readonly AclRule[]>> = {
  // and, for the cameras: their settings and the live stream's switch (retained), and every device's health judgement
  hub: [
    READ_ALL,
    ...COMMANDING,
    { pattern: skycamTopics.config("+"), publish: true, retain: true },
    { pattern: skycamTopics.liveControl("+"), publish: true, retain: true },
    { pattern: healthTopics.state("+"), publish: true, retain: true },
  ],
  // stats and alerts (IoTitan's compat outputs `<source>/average`, `<source>/alert`), acknowledgements
  sensorhub: [
    READ_ALL,
    { pattern: "iotitan/#", publish: true },
    { pattern: `${N}/+/environment/+/average`, publish: true },
    { pattern: `${N}/+/environment/+/alert`, publish: true },
    { pattern: `${N}/+/alerts/ack`, publish: true },
  ],
  // the status matrix: the DoorPi's doors and presence, native and PiFog's
  statuspi: [
    { pattern: `${N}/+/doors`, read: true },
    { pattern: `${N}/+/door/+`, read: true },
    { pattern: `${N}/+/status`, read: true },
    { pattern: `${N}/+/occupancy`, read: true },
    { pattern: `${C}/DoorPi/Event`, read: true },
    { pattern: `${C}/DoorPi/Connection`, read: true },
  ],
  // the power tracker: every device's presence and power; it says each one's connection and asks for states
  powerhub: [
    { pattern: `${N}/+/status`, read: true },
    { pattern: `${N}/+/power`, read: true },
    { pattern: `${N}/+/power/events`, read: true },
    { pattern: `${N}/+/connection`, read: true, publish: true, retain: true },
    { pattern: `${N}/+/power/request`, publish: true },
  ],
  // the forwarder takes the crops of `pifog/+/faces` and puts them under `pifog/forwarded/<device>/faces`
  camerapi: [
    { pattern: `${N}/+/faces`, read: true },
    { pattern: `${N}/forwarded/{device}/faces`, publish: true },
  ],
  facewriter: [{ pattern: `${N}/forwarded/+/faces`, read: true }],
  // IoTitan's ESPEasy sensors
  sensors: [{ pattern: "iotitan/#", publish: true }],
  doorpi: [],
  buttonpi: [],
  powerpi: [],
};

export const USER_ROLE_RULES: Readonly<Record<UserRole, readonly AclRule[]>> = {
  viewer: [READ_ALL],
  operator: [READ_ALL, ...COMMANDING],
  admin: [{ pattern: "#", read: true, publish: true, retain: true }, { pattern: "$SYS/#", read: true }],
};

/** What anyone may do without credentials (from an address PIFOG_BROKER_ANONYMOUS allows): read what PiFog's own web
 * page shows, and set the simulators' inputs. No camera, no faces, no commands, no device topics, no `$SYS`. */
export const ANONYMOUS_RULES: readonly AclRule[] = [
  { pattern: `${N}/+/status`, read: true },
  { pattern: `${N}/+/connection`, read: true },
  { pattern: `${N}/+/power`, read: true },
  { pattern: `${N}/+/doors`, read: true },
  { pattern: `${N}/+/door/+`, read: true },
  { pattern: `${N}/+/occupancy`, read: true },
  { pattern: `${N}/+/environment`, read: true },
  { pattern: `${N}/+/environment/+`, read: true },
  { pattern: `${N}/+/sim/#`, read: true },
  { pattern: healthTopics.state("+"), read: true },
  { pattern: `${N}/+/sim/+/set`, publish: true },
  { pattern: `${C}/DoorPi/Event`, read: true },
  { pattern: `${C}/StatusPi/Event`, read: true },
  { pattern: `${C}/+/Connection`, read: true },
  REVOCATIONS,
];

/** The rules an identity is held to, with its placeholders' values. */
export function rulesFor(identity: Identity, policy: AclPolicy = DEFAULT_ACL_POLICY): { rules: readonly AclRule[]; values: Placeholders } {
  switch (identity.kind) {
    case "device":
      return {
        rules: [...DEVICE_OWN, ...DEVICE_ROLE_RULES[identity.role]],
        values: { device: identity.id, pi: COMPAT_PI[identity.role], ha: policy.discoveryPrefix },
      };
    case "user":
      return { rules: USER_ROLE_RULES[identity.role], values: {} };
    case "anonymous":
      return { rules: ANONYMOUS_RULES, values: {} };
  }
}

export interface Placeholders {
  device?: string;
  pi?: string;
  ha?: string;
}

const PLACEHOLDERS = { "{device}": "device", "{pi}": "pi", "{ha}": "ha" } as const;

/** A rule's pattern with its placeholders filled in, or null when one has no value for this identity. */
export function expandPattern(pattern: string, values: Placeholders): string | null {
  let missing = false;
  const out = pattern
    .split("/")
    .map((level) => {
      if (Object.hasOwn(PLACEHOLDERS, level)) {
        const value = values[PLACEHOLDERS[level as keyof typeof PLACEHOLDERS]];
        if (value === undefined) missing = true;
        return value ?? "";
      }
      return level;
    })
    .join("/");
  return missing ? null : out;
}

/** Whether `topic` (no wildcards) matches `filter`, with MQTT's rule that a wildcard first level never matches `$…`. */
export function matches(filter: string, topic: string): boolean {
  return within(topic, filter);
}

/**
 * Whether every topic `filter` can match is also matched by `pattern` (a topic is a filter without wildcards).
 * A wildcard in the pattern's first level never covers a `$` level, as MQTT's `#` and `+` never match `$SYS`.
 */
export function within(filter: string, pattern: string): boolean {
  const f = filter.split("/");
  const p = pattern.split("/");
  for (let i = 0; ; i++) {
    const pl = p[i];
    const fl = f[i];
    if (pl === "#") return !(i === 0 && fl !== undefined && fl.startsWith("$"));
    if (fl === undefined) return pl === undefined;
    if (pl === undefined) return false;
    if (fl === "#") return false;
    if (pl === "+") {
      if (i === 0 && fl.startsWith("$")) return false;
      continue;
    }
    if (fl === "+" || fl !== pl) return false;
  }
}

export type AclDecision = { allowed: true } | { allowed: false; reason: string };

/** Who an identity is, in the audit's words. */
export function describeIdentity(identity: Identity): string {
  switch (identity.kind) {
    case "device":
      return `device "${identity.id}" (${identity.role}, by ${identity.via})`;
    case "user":
      return `user "${identity.name}" (${identity.role})`;
    case "anonymous":
      return `anonymous client from ${identity.address}`;
  }
}

function firstRule(identity: Identity, test: (rule: AclRule, pattern: string) => boolean, policy?: AclPolicy): AclRule | undefined {
  const { rules, values } = rulesFor(identity, policy);
  for (const rule of rules) {
    const pattern = expandPattern(rule.pattern, values);
    if (pattern !== null && test(rule, pattern)) return rule;
  }
  return undefined;
}

/** Whether `identity` may publish on `topic`; `retain` asks for the retained flag too (set, or clear when empty). */
export function canPublish(identity: Identity, topic: string, retain = false, policy?: AclPolicy): AclDecision {
  if (topic.includes("+") || topic.includes("#")) return { allowed: false, reason: `"${topic}" is a filter, not a topic` };
  const rule = firstRule(identity, (r, p) => r.publish === true && (!retain || r.retain === true) && within(topic, p), policy);
  if (rule) return { allowed: true };
  const plain = retain ? firstRule(identity, (r, p) => r.publish === true && within(topic, p), policy) : undefined;
  return {
    allowed: false,
    reason: plain
      ? `${describeIdentity(identity)} may publish on ${topic} but not retained (nor clear its retained message)`
      : `${describeIdentity(identity)} may not publish on ${topic}`,
  };
}

/** Whether a message on `topic` may be delivered to `identity` (the broker checks each delivery, `$SYS` included). */
export function canRead(identity: Identity, topic: string, policy?: AclPolicy): boolean {
  return firstRule(identity, (r, p) => r.read === true && within(topic, p), policy) !== undefined;
}

export type SubscribeDecision = { granted: 0 | 1 | 2 } | { granted: null; reason: string };

/** The QoS granted for a subscription to `filter` (at most `qos`), or a refusal with its reason. */
export function canSubscribe(identity: Identity, filter: string, qos: 0 | 1 | 2 = 1, policy?: AclPolicy): SubscribeDecision {
  const rule = firstRule(identity, (r, p) => r.read === true && within(filter, p), policy);
  if (rule) return { granted: qos };
  return { granted: null, reason: `${describeIdentity(identity)} may not subscribe to ${filter}: it reaches topics it may not read` };
}
