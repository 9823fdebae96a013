// What a PiFog runtime gives its nodes: one object, made once per process (by settings.ts, completed by the
// launcher with its embedded broker), handed to the nodes through the settings' `pifogServices` and read with
// `servicesOf(RED)`. Everything that lives as long as the process and is shared between nodes lives here, so no
// module keeps state of its own and a test builds exactly the runtime it needs.
import { firstBrokerUrl } from "./mqtt/broker-urls";
import { isTopicLevel as isIdentityName } from "./contract";
import { deviceBundleDir, readBundle, type DeviceBundle } from "./identity/paths";
import { ApiTokens } from "./security/api-tokens";
import type { IdentityDirectory } from "./identity/types";
import type { NodeAPI } from "node-red";
import { Audit } from "./audit/audit";
import { AlertRegistry } from "./alerts/registry";
import { HealthBoard } from "./health/judge";
import type { ApiContext } from "./accounts/api";
import type { EmbeddedBroker } from "./broker/embedded-broker";
import { systemClock, type Clock } from "./clock";
import { DeadLetterFile } from "./dead-letter";
import { DurableSinks } from "./history/sinks";
import type { HistoryProvider } from "./history/http-api";
import type { LiveRelay } from "./camera/live-relay";
import { noTrust, type Trust } from "./identity/trust";
import type { PairingService } from "./identity/pairing-types";
import type { PifogConfig } from "./runtime/config";
import { SafeState } from "./runtime/safe-state";
import { DashboardSockets, type SocketAddresses } from "./security/dashboard-sockets";
import { makeSignInThrottles, type SignInThrottles } from "./security/sign-in";
import { WebSessions, type RoleLookup } from "./security/web-sessions";
import { SqlitePool } from "./store/sqlite";
import { RuntimeMetrics } from "./metrics/runtime-metrics";
import { OutboxRegistry } from "./outbox/registry";
import { ClipStores } from "./camera/clip-store";
import path from "node:path";
import { makeStandaloneServices, type StockSettings } from "./runtime/standalone";

/** The runtime's own broker: where a device node with no broker of its own connects, and, when the launcher
 * started it in this process, the broker itself (the history logger stores before it acknowledges). */
export interface RuntimeBroker {
  readonly url: string;
  readonly embedded: EmbeddedBroker | null;
  /** How the runtime's own connections log in to it (the embedded broker's runtime user, made for this start):
   * what a device node or a forwarder uses on the runtime's broker when it has no credentials of its own. */
  readonly auth?: { username: string; password: string };
  /** The embedded broker's TLS listener, for the runtime's devices with a certificate (mqtts://127.0.0.1:<port>). */
  readonly tlsUrl?: string;
}

/** The credentials a client of `url` without its own uses: the runtime's, when `url` is the runtime's broker. */
export function runtimeAuthFor(services: PifogServices, url: string, own: { username?: string; password?: string }): { username?: string; password?: string } {
  if (own.username) return own;
  return isRuntimeBroker(services, url) && services.broker.auth ? services.broker.auth : own;
}

/** Timings the nodes take from the runtime instead of their defaults (the tests shorten them). */
export interface PifogTuning {
  /** Wait between reconnect attempts to a forwarder's remote broker, ms (2000). */
  forwarderReconnectMs?: number;
  /** The least interval a thingspeak node may use, ms (15 000: ThingSpeak's limit). */
  thingspeakMinIntervalMs?: number;
  /** How long to wait for ThingSpeak's answer, ms (30 000). */
  thingspeakTimeoutMs?: number;
  /** s3-writer: wait before retrying after a permanent (4xx) error, ms (60 000). */
  s3PermanentRetryMs?: number;
  /** s3-writer: longest backoff after transient errors, ms (60 000). */
  s3BackoffMaxMs?: number;
  /** s3-writer: bodies above this many bytes go as a multipart upload (5 MiB). */
  s3MultipartAbove?: number;
  /** Longest wait between Slack reconnections and slack-notify's longest backoff, ms (60 000). */
  slackBackoffMaxMs?: number;
  /** slack-notify: wait before retrying after a permanent error (invalid_auth…), ms (60 000). */
  slackPermanentRetryMs?: number;
  /** email: the first retry's wait and the longest one, ms (5 s, 10 min). */
  emailBackoff?: { initialMs?: number; maxMs?: number };
  /** email: connect, greeting and socket-silence timeout, ms (30 000). */
  emailTimeoutMs?: number;
  /** email: false ONLY to reach a test server with a self-signed certificate. Default true. */
  emailTlsRejectUnauthorized?: boolean;
}

export interface PifogServices {
  /** Read once from the environment (nodes/lib/runtime/config.ts). */
  readonly config: PifogConfig;
  readonly clock: Clock;
  /** config.dataDir, absolute. */
  readonly dataDir: string;
  readonly broker: RuntimeBroker;
  /** The largest MQTT packet the runtime's broker accepts, so the history stores whatever it accepted. */
  readonly maxPacketBytes: number;
  /** The history loggers' stores and ingests, kept across a redeploy. */
  readonly sinks: DurableSinks;
  /** The open SQLite files of the data dir, shared by every node. */
  readonly stores: SqlitePool;
  readonly deadLetters: DeadLetterFile;
  /** The cloud bridges' open outboxes (pass it as an Outbox's `registry`): the metrics and /health read them. */
  readonly outboxes: OutboxRegistry;
  /** The runtime's metrics (GET /metrics) and its own health (GET /health): nodes/lib/metrics. */
  readonly metrics: RuntimeMetrics;
  /** The record of refusals (`<data dir>/audit.jsonl`). */
  readonly audit: Audit;
  /** Each device's active alerts, by alert node. */
  readonly alerts: AlertRegistry;
  /** Every device's health as the hub's health-monitor judges it: the Devices tab reads it (issue 13). */
  readonly health: HealthBoard;
  /** The running history nodes, by id, in start order: GET /api/history reads their stores. */
  readonly historyProviders: Map<string, HistoryProvider>;
  /** The running live-relay nodes (the hub's live video), by id, in start order: GET /api/cameras/<device>/live
   * uses the first. */
  readonly liveRelays: Map<string, LiveRelay>;
  /** The running account-api nodes, by id, in start order: the /v1 API uses the first. */
  readonly accountApis: Map<string, ApiContext>;
  /** The bearer tokens of PiFog's own HTTP API (GET /api/history...), given by POST /api/auth. */
  readonly apiTokens: ApiTokens;
  /** The identities of the data dir (the local CA, devices, users): what the broker and the API check; null when the
   * runtime runs without the launcher. */
  readonly identities: IdentityDirectory | null;
  /** The signed-in people (dashboard, editor, API): one cookie session each, the user store's roles. */
  readonly webSessions: WebSessions;
  /** Wrong sign-ins per address and per user, for every sign-in path (kept across a redeploy). */
  readonly signIn: SignInThrottles;
  /** Who is on each dashboard socket (its signed-in person, its address): what a node answering a dashboard message
   * asks, by msg.socketid, never the payload. */
  readonly dashboardSockets: SocketAddresses;
  /** Where the nodes that drive outputs register how to make them safe (the CLI's fail-safe calls it). */
  readonly safeState: SafeState;
  readonly tuning: PifogTuning;
  /** What this runtime trusts for signed payloads (the CA, the revocations) and signs with (its own identity):
   * nodes/lib/identity/trust.ts. Without an identity, `noTrust()`: signed commands are refused, saying why. */
  readonly trust: Trust;
  /** Pairing Pis by a code (issue 12): on a hub or all-in-one runtime with the embedded broker; null elsewhere. */
  readonly pairing: PairingService | null;
  /** The running clip stores (clip-store nodes): the device listener stores uploads in the first, the viewer API
   * reads it. */
  readonly clips: ClipStores;
  /** The hub's device HTTPS listener (clip uploads) when this runtime runs one (hub, all): its own devices upload there. */
  readonly deviceHttps: { readonly url: string; readonly port: number } | null;
  /** On runtime shutdown, after Node-RED stopped: commits what the history sinks hold and closes them. */
  close(): Promise<void>;
}

export interface ServiceParts {
  /** The device listener of a test that runs one in process. */
  deviceHttps?: { url: string; port: number } | null;
  config: PifogConfig;
  clock?: Clock;
  broker?: RuntimeBroker;
  safeState?: SafeState;
  dashboardSockets?: SocketAddresses;
  tuning?: PifogTuning;
  identities?: IdentityDirectory | null;
  trust?: Trust;
}

/** The broker a runtime without an embedded one talks to: PIFOG_MQTT_URL, else a broker on this machine. */
export function configuredBroker(config: PifogConfig): RuntimeBroker {
  return { url: config.mqttUrl ?? `mqtt://127.0.0.1:${config.mqttPort}`, embedded: null };
}

export function createServices(parts: ServiceParts): PifogServices {
  const { config } = parts;
  const clock = parts.clock ?? systemClock;
  const sinks = new DurableSinks();
  const broker = parts.broker ?? configuredBroker(config);
  const audit = new Audit(config.dataDir, () => clock.now());
  const webSessions = webSessionsFor(config, clock, parts.identities ?? null);
  const outboxes = new OutboxRegistry();
  const metrics = new RuntimeMetrics({ clock, dataDir: config.dataDir, outboxes });
  return {
    config,
    clock,
    dataDir: config.dataDir,
    broker,
    maxPacketBytes: broker.embedded?.maxPacketBytes ?? config.mqttMaxPacket,
    sinks,
    stores: new SqlitePool(),
    deadLetters: new DeadLetterFile(config.dataDir, (letter) => metrics.deadLetter(letter.type)),
    outboxes,
    metrics,
    audit,
    alerts: new AlertRegistry(),
    health: new HealthBoard(),
    historyProviders: new Map(),
    accountApis: new Map(),
    liveRelays: new Map(),
    apiTokens: ApiTokens.forDataDir(config.dataDir, clock),
    identities: parts.identities ?? null,
    webSessions,
    signIn: makeSignInThrottles(config.signIn, clock),
    dashboardSockets: parts.dashboardSockets ?? new DashboardSockets({ sessions: () => webSessions, audit: () => audit }),
    safeState: parts.safeState ?? new SafeState(),
    tuning: parts.tuning ?? {},
    trust: parts.trust ?? noTrust(),
    pairing: null,
    clips: new ClipStores(),
    deviceHttps: parts.deviceHttps ?? null,
    close: () => sinks.closeAll(),
  };
}

/** A runtime's sessions: kept in its data dir, roles from its identity store (none: nobody stays signed in). */
function webSessionsFor(config: PifogConfig, clock: Clock, identities: IdentityDirectory | null): WebSessions {
  return WebSessions.forDataDir(config.dataDir, { clock, roleOf: rolesFrom(identities), lifetimeMs: config.sessionMs });
}

function rolesFrom(identities: IdentityDirectory | null): RoleLookup {
  return (name) => identities?.users().find((u) => u.name === name)?.role ?? null;
}

/** The same runtime with the launcher's embedded broker (started after the settings made the services), the
 * CLI's fail-safe, the data dir's identities and the runtime's trust (read once the launcher may wait): every other
 * part is shared. */
export function withLauncher(
  services: PifogServices,
  parts: {
    broker: RuntimeBroker;
    safeState: SafeState;
    identities?: IdentityDirectory | null;
    trust?: Trust;
    pairing?: PairingService | null;
    deviceHttps?: { url: string; port: number } | null;
  },
): PifogServices {
  // one sessions object for the whole runtime (the settings' middleware holds it): it asks the launcher's store now
  const identities = parts.identities ?? services.identities;
  services.webSessions.useRoles(rolesFrom(identities));
  return {
    ...services,
    identities,
    broker: parts.broker,
    maxPacketBytes: parts.broker.embedded?.maxPacketBytes ?? services.maxPacketBytes,
    safeState: parts.safeState,
    trust: parts.trust ?? services.trust,
    pairing: parts.pairing ?? services.pairing,
    deviceHttps: parts.deviceHttps ?? services.deviceHttps,
  };
}

/** Whether `url` names the runtime's own broker (localhost, 0.0.0.0 and 127.0.0.1 are one host here): a cluster's
 * when it names one of its nodes, or is the same list. */
export function isRuntimeBroker(services: PifogServices, url: string): boolean {
  const norm = (u: string) => {
    try {
      const p = new URL(u);
      const host = p.hostname === "localhost" || p.hostname === "0.0.0.0" ? "127.0.0.1" : p.hostname;
      return `${p.protocol}//${host}:${p.port || "1883"}`;
    } catch {
      return u;
    }
  };
  const own = [...services.broker.url.split(","), ...(services.broker.tlsUrl ? [services.broker.tlsUrl] : [])].map((u) => norm(u.trim()));
  return own.includes(norm(firstBrokerUrl(url)));
}

/** A device's own identity (certificate, key, CA, hub), when it has one: this runtime's from PIFOG_IDENTITY or the
 * data dir, any other device's (the all-in-one's simulated Pis) from `<dataDir>/identity/devices/<id>/`. */
export function identityOf(services: Pick<PifogServices, "config">, deviceId: string): DeviceBundle | null {
  const { config } = services;
  if (!isIdentityName(deviceId)) return null;
  const dir = deviceId === config.deviceId && config.identityDir ? config.identityDir : deviceBundleDir(config.dataDir, deviceId);
  return readBundle(dir);
}

/** What a runtime started without the launcher lacks, in words for its log. */
export function missingServices(services: PifogServices): string[] {
  if (services.broker.embedded || services.config.mqttUrl) return [];
  return [
    `PiFog: no embedded MQTT broker in this process (only \`npm start\` starts one): the devices connect to ` +
      `${services.broker.url}, and the history logger subscribes there instead of storing before each acknowledgement. ` +
      `Set PIFOG_MQTT_URL to name the broker.`,
  ];
}

export class MissingServicesError extends Error {
  constructor() {
    super(
      "PiFog's nodes need the runtime's services (settings.pifogServices) or a Node-RED user dir to keep their data in: " +
        "start with `npm start` or `node-red -s dist/settings.js`, or give Node-RED a userDir",
    );
    this.name = "MissingServicesError";
  }
}

interface WithServices extends StockSettings {
  pifogServices?: PifogServices;
}

/** A stock Node-RED's services (nodes/lib/runtime/standalone.ts), one per user dir: the one memo at module level, as
 * a stock Node-RED leaves no other place for it (its settings are read-only to the nodes, and each node file gets a
 * copy of its own); keyed by user dir, so two runtimes in one process never share stores. */
const standaloneByUserDir = new Map<string, PifogServices>();

/** The runtime's services, from the settings PiFog's settings.ts (or a test) made; in a Node-RED that PiFog's
 * settings did not start (a palette install), the ones the package makes for its user dir. */
export function servicesOf(RED: Pick<NodeAPI, "settings"> & { log?: Pick<NodeAPI["log"], "info" | "warn"> }): PifogServices {
  const settings = RED.settings as WithServices;
  const services = settings.pifogServices;
  if (services && typeof services.close === "function") return services;
  if (typeof settings.userDir !== "string" || settings.userDir === "") throw new MissingServicesError();
  const key = path.resolve(settings.userDir);
  let standalone = standaloneByUserDir.get(key);
  if (!standalone) {
    const log = RED.log ?? { info: (line: string) => console.log(line), warn: (line: string) => console.warn(line) };
    standalone = makeStandaloneServices({ userDir: key, uiPort: settings.uiPort, functionGlobalContext: settings.functionGlobalContext }, log);
    standaloneByUserDir.set(key, standalone);
  }
  return standalone;
}
