// The runtime's configuration, from the environment (the README's "Configuration" table).
import path from "node:path";
import { parseAnonymous, type AnonymousSetting } from "../broker/anonymous";
import { parseByteSize } from "../broker/limits";
import { DEFAULT_MAX_PACKET_BYTES } from "../broker/packet-guard";
import { parseOrigins } from "../broker/ws-origin";
import { isDiscoveryPrefix } from "../contract";
import { brokerUrls } from "../mqtt/broker-urls";
import { parseHardwareSetting, type HardwareSetting } from "../drivers/factory";
import { DEFAULT_SIGN_IN, type SignInLimits } from "../security/sign-in";
import { parseOidcConfig, type OidcConfig } from "../security/oidc-config";
import { DEFAULT_SESSION_MS } from "../security/web-sessions";

export const ROLES = ["all", "hub", "sensorhub", "doorpi", "statuspi", "sensors", "powerpi", "powerhub", "buttonpi", "camerapi", "facewriter"] as const;
export type Role = (typeof ROLES)[number];

export interface PifogConfig {
  httpPort: number;
  mqttPort: number;
  /** The embedded broker's TLS listener (PIFOG_MQTTS_PORT, 8883): devices with a certificate from the local CA. */
  mqttsPort: number;
  /** Who may connect to the embedded broker without credentials (PIFOG_BROKER_ANONYMOUS: loopback, off, CIDRs). */
  brokerAnonymous: AnonymousSetting;
  /** How the embedded broker's store (broker.db) commits (PIFOG_BROKER_SYNC): "normal" (default) survives a restart,
   * a SIGTERM and a SIGKILL; "full" also a power cut, with an fsync per commit (slower: see the broker benchmark). */
  brokerSync: "normal" | "full";
  /** This runtime's own identity bundle (PIFOG_IDENTITY: a folder `pifog device add` made); default
   * `<dataDir>/identity/devices/<device id>/`. */
  identityDir?: string;
  /** An external broker instead of the embedded one: one URL, or a cluster's nodes as a comma list (tried in turn). */
  mqttUrl?: string;
  /** Where the CameraPi's forwarder carries faces (PIFOG_FACES_REMOTE_URL); unset: this runtime's own broker. */
  facesRemoteUrl?: string;
  host: string;
  dataDir: string;
  role: Role;
  deviceId: string;
  hardware: HardwareSetting;
  adminPassword?: string;
  /** Wrong sign-ins allowed per address and per (address, user name) (PIFOG_SIGNIN_*). */
  signIn: SignInLimits;
  /** How long a sign-in to the dashboard lasts (PIFOG_SESSION_MINUTES, 720). */
  sessionMs: number;
  /** The dashboard operator's password (the Front door tab's sign-in), never the editor's. */
  operatorPassword?: string;
  /** The largest MQTT packet the embedded broker takes, in bytes (PIFOG_MQTT_MAX_PACKET). */
  mqttMaxPacket: number;
  /** Web origins besides the fog's own host that may open /mqtt from a browser (PIFOG_MQTT_WS_ORIGINS). */
  mqttWsOrigins: string[];
  /** OpenID Connect sign-in (PIFOG_OIDC_*, PIFOG_PUBLIC_URL); undefined when PIFOG_OIDC_ISSUER is unset. */
  oidc?: OidcConfig;
  /** The hub's HTTP address (PIFOG_HUB_URL, e.g. http://hub.local:1880): a Pi without an identity pairs with it. */
  hubUrl?: string;
  /** Pairing (issue 12): how this Pi logs in once paired (PIFOG_PAIR_LOGIN: certificate, or password for a Pi that
   * cannot do TLS), how often it polls (PIFOG_PAIR_POLL_MS), and on the hub how long a code lives
   * (PIFOG_PAIR_CODE_SECONDS, 600) and how many pairing requests one address may make in 10 minutes (PIFOG_PAIR_REQUESTS, 10). */
  pairing: { login: "certificate" | "password"; pollMs: number; codeTtlMs: number; requestsPerAddress: number };
  /** The hub's device HTTPS listener (PIFOG_DEVICE_HTTPS_PORT, 8443; 0: a free one): clip uploads from the Pis. */
  deviceHttpsPort: number;
  /** Where this Pi uploads (PIFOG_HUB_DEVICE_URL, e.g. https://hub.local:8443); unset: its bundle's hub.json, else
   * https://<PIFOG_HUB_URL's host>:8443. */
  hubDeviceUrl?: string;
  /** The address people open PiFog at (PIFOG_PUBLIC_URL), for links in notifications; no trailing slash. */
  publicUrl?: string;
  /** Home Assistant MQTT discovery's prefix (PIFOG_HA_DISCOVERY, usually `homeassistant`): the devices publish their
   * entities' configs under it, and the embedded broker lets each device publish its own there. Unset: off. */
  haDiscovery?: string;
}

export class ConfigError extends Error {}

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`${name} must be a port number 0..65535, not "${raw}"`);
  return n;
}

function count(env: NodeJS.ProcessEnv, name: string, fallback: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new ConfigError(`${name} must be a whole number 1..${max}, not "${raw}"`);
  return n;
}

/** An absolute URL of one of `protocols` with a host and nothing else (a path only when `pathOk`). */
function isBareUrl(raw: string, protocols: RegExp, pathOk = false): boolean {
  try {
    const u = new URL(raw);
    return protocols.test(u.protocol) && !!u.hostname && (pathOk || u.pathname.length <= 1) && !u.search && !u.hash && !u.username;
  } catch {
    return false;
  }
}

export function readConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): PifogConfig {
  const role = (env.PIFOG_ROLE ?? "all").trim() || "all";
  if (!(ROLES as readonly string[]).includes(role)) {
    throw new ConfigError(`PIFOG_ROLE must be one of ${ROLES.join(", ")}, not "${role}"`);
  }
  const deviceId = (env.PIFOG_DEVICE_ID ?? "").trim() || role;
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(deviceId)) {
    throw new ConfigError(`PIFOG_DEVICE_ID must be one topic level (letters, digits, _ . -), not "${deviceId}"`);
  }
  const mqttUrl = (env.PIFOG_MQTT_URL ?? "").trim() || undefined;
  if (mqttUrl) {
    try {
      brokerUrls(mqttUrl);
    } catch (err) {
      throw new ConfigError(`PIFOG_MQTT_URL must be a broker URL (mqtt://, mqtts://, ws:// or wss://), or a comma list of a cluster's nodes: ${(err as Error).message}`);
    }
  }
  const facesRemoteUrl = (env.PIFOG_FACES_REMOTE_URL ?? "").trim() || undefined;
  if (facesRemoteUrl && !/^(mqtts?|wss?):\/\//.test(facesRemoteUrl)) {
    throw new ConfigError(`PIFOG_FACES_REMOTE_URL must start with mqtt://, mqtts://, ws:// or wss://, not "${facesRemoteUrl}"`);
  }
  let hardware: HardwareSetting;
  try {
    hardware = parseHardwareSetting(env.PIFOG_HARDWARE);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (env.PIFOG_OPERATOR_PASSWORD && env.PIFOG_OPERATOR_PASSWORD === env.PIFOG_ADMIN_PASSWORD) {
    // the operator's password is typed into the dashboard, a page anyone on the network can load
    throw new ConfigError("PIFOG_OPERATOR_PASSWORD must not be PIFOG_ADMIN_PASSWORD: the dashboard's sign-in never takes the editor's password");
  }
  const rawMaxPacket = (env.PIFOG_MQTT_MAX_PACKET ?? "").trim();
  let mqttMaxPacket = DEFAULT_MAX_PACKET_BYTES;
  let mqttWsOrigins: string[];
  try {
    if (rawMaxPacket) mqttMaxPacket = parseByteSize(rawMaxPacket, "PIFOG_MQTT_MAX_PACKET");
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  try {
    mqttWsOrigins = parseOrigins(env.PIFOG_MQTT_WS_ORIGINS);
  } catch (err) {
    throw new ConfigError(`PIFOG_MQTT_WS_ORIGINS: ${(err as Error).message}`);
  }
  let brokerAnonymous: AnonymousSetting;
  try {
    brokerAnonymous = parseAnonymous(env.PIFOG_BROKER_ANONYMOUS);
  } catch (err) {
    throw new ConfigError(`PIFOG_BROKER_ANONYMOUS must be loopback, off or a comma list of CIDRs: ${(err as Error).message}`);
  }
  const brokerSync = (env.PIFOG_BROKER_SYNC ?? "").trim().toLowerCase() || "normal";
  if (brokerSync !== "normal" && brokerSync !== "full") throw new ConfigError(`PIFOG_BROKER_SYNC must be normal or full: ${env.PIFOG_BROKER_SYNC}`);
  const dataDir = path.resolve(cwd, (env.PIFOG_DATA_DIR ?? "").trim() || "data");
  let oidc: OidcConfig | undefined;
  try {
    oidc = parseOidcConfig(env, dataDir);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const hubUrl = (env.PIFOG_HUB_URL ?? "").trim().replace(/\/+$/, "") || undefined;
  if (hubUrl) {
    let parsed: URL | null = null;
    try {
      parsed = new URL(hubUrl);
    } catch {
      // said below
    }
    if (!parsed || !/^https?:$/.test(parsed.protocol) || !parsed.hostname || parsed.pathname.length > 1 || parsed.search || parsed.username) {
      throw new ConfigError(`PIFOG_HUB_URL must be the hub's HTTP address, like http://hub.local:1880, not "${hubUrl}"`);
    }
    if (role === "all" || role === "hub") throw new ConfigError(`PIFOG_HUB_URL is for a Pi pairing with a hub; a ${role} runtime is the hub itself`);
  }
  const hubDeviceUrl = (env.PIFOG_HUB_DEVICE_URL ?? "").trim().replace(/\/+$/, "") || undefined;
  if (hubDeviceUrl && !isBareUrl(hubDeviceUrl, /^https:$/)) {
    throw new ConfigError(`PIFOG_HUB_DEVICE_URL must be the hub's device address, like https://hub.local:8443, not "${hubDeviceUrl}"`);
  }
  const publicUrl = (env.PIFOG_PUBLIC_URL ?? "").trim().replace(/\/+$/, "") || undefined;
  if (publicUrl && !isBareUrl(publicUrl, /^https?:$/, true)) {
    throw new ConfigError(`PIFOG_PUBLIC_URL must be the http:// or https:// address people open PiFog at, not "${publicUrl}"`);
  }
  const haDiscovery = (env.PIFOG_HA_DISCOVERY ?? "").trim() || undefined;
  if (haDiscovery && !isDiscoveryPrefix(haDiscovery)) {
    throw new ConfigError(`PIFOG_HA_DISCOVERY must be Home Assistant's discovery prefix, one topic level other than pifog (usually homeassistant), not "${haDiscovery}"`);
  }
  const pairLogin = (env.PIFOG_PAIR_LOGIN ?? "").trim() || "certificate";
  if (pairLogin !== "certificate" && pairLogin !== "password") throw new ConfigError(`PIFOG_PAIR_LOGIN must be certificate or password, not "${pairLogin}"`);
  return {
    hubUrl,
    pairing: {
      login: pairLogin,
      pollMs: count(env, "PIFOG_PAIR_POLL_MS", 3000, 600_000),
      codeTtlMs: count(env, "PIFOG_PAIR_CODE_SECONDS", 600, 86_400) * 1000,
      requestsPerAddress: count(env, "PIFOG_PAIR_REQUESTS", 10, 10_000),
    },
    httpPort: port(env, "PIFOG_HTTP_PORT", 1880),
    deviceHttpsPort: port(env, "PIFOG_DEVICE_HTTPS_PORT", 8443),
    ...(hubDeviceUrl ? { hubDeviceUrl } : {}),
    ...(publicUrl ? { publicUrl } : {}),
    ...(haDiscovery ? { haDiscovery } : {}),
    mqttPort: port(env, "PIFOG_MQTT_PORT", 1883),
    mqttsPort: port(env, "PIFOG_MQTTS_PORT", 8883),
    identityDir: (env.PIFOG_IDENTITY ?? "").trim() ? path.resolve(cwd, env.PIFOG_IDENTITY!.trim()) : undefined,
    brokerAnonymous,
    brokerSync,
    mqttUrl,
    facesRemoteUrl,
    host: (env.PIFOG_HOST ?? "").trim() || "0.0.0.0",
    dataDir,
    role: role as Role,
    deviceId,
    hardware,
    adminPassword: env.PIFOG_ADMIN_PASSWORD || undefined,
    signIn: {
      userAttempts: count(env, "PIFOG_SIGNIN_ATTEMPTS", DEFAULT_SIGN_IN.userAttempts, 1000),
      addressAttempts: count(env, "PIFOG_SIGNIN_ADDRESS_ATTEMPTS", DEFAULT_SIGN_IN.addressAttempts, 10_000),
      lockMs: count(env, "PIFOG_SIGNIN_LOCK_SECONDS", DEFAULT_SIGN_IN.lockMs / 1000, 86_400) * 1000,
      ...((env.PIFOG_SIGNIN_NAME_ATTEMPTS ?? "").trim() ? { nameAttempts: count(env, "PIFOG_SIGNIN_NAME_ATTEMPTS", 10, 100_000) } : {}),
    },
    sessionMs: count(env, "PIFOG_SESSION_MINUTES", DEFAULT_SESSION_MS / 60_000, 525_600) * 60_000,
    operatorPassword: env.PIFOG_OPERATOR_PASSWORD || undefined,
    mqttMaxPacket,
    mqttWsOrigins,
    ...(oidc ? { oidc } : {}),
  };
}
