// The embedded runtime behind `npm start`: the broker, one HTTP server (editor at /admin, dashboard at /ui,
// MQTT over WebSocket at /mqtt, / → /ui) and Node-RED with PiFog's settings and the role's flow.
import express from "express";
import path from "node:path";
import { uploadRoutes } from "../camera/upload-routes";
import { DeviceHttps } from "../security/device-https";
import http from "node:http";
import os from "node:os";
import type { Socket } from "node:net";
import type { EmbeddedBroker } from "../broker/embedded-broker";
import { listen } from "./listen";
import { dropPacketIdCache } from "../mqtt/packet-id-cache";
import { ensureDevice, ensureServerTls } from "../identity/admin";
import { openRuntimeTrust, publishRevocations } from "../identity/runtime-trust";
import { IdentityStore } from "../identity/store";
import { pairWithHub, PairClientError, readPairedIdentity } from "../identity/pair-client";
import { followBroker, HubPairing } from "../identity/pairing";
import { pairingRoutes } from "../identity/pairing-http";
import { ownBundleDir } from "../identity/paths";
import { pifogVersion } from "../device-info";
import type { Clock } from "../clock";
import { piDrivers, resolveHardware } from "../drivers/factory";
import type { LedMatrix } from "../drivers/types";
import { CYAN } from "../matrix-glyphs";
import { scrollText } from "../matrix-text";
import type { DeviceRole, IdentityDirectory } from "../identity/types";
import { signInRoute } from "../security/api-auth";
import { observabilityRoutes } from "../metrics/http";
import { dashboardHttpGuard } from "../security/dashboard-http";
import { editorLoginGuard } from "../security/editor-login";
import { OidcSignIn } from "../security/oidc";
import { oidcRoutes } from "../security/oidc-routes";
import { livePeople } from "../security/people";
import { oidcLabel, signInRoutes } from "../security/signin-routes";
import { identityOf, withLauncher, type PifogServices } from "../services";
import { ConfigError, type PifogConfig } from "./config";
import { exportFlowEnvironment, type FlowIdentity } from "./flow-env";
import { keepNewFilesPrivate } from "./file-modes";
import { ALL_IN_ONE } from "./flows";
import { SafeState } from "./safe-state";

/** How long launch() waits for Node-RED's flows to start before it goes on without them (a node type missing). */
const FLOWS_START_WAIT_MS = 60_000;

export interface RunningPifog {
  config: PifogConfig;
  httpPort: number;
  /** The embedded broker's TCP port, when there is one. */
  mqttPort?: number;
  /** The embedded broker's TLS port, when it has one (a CA in the data dir). */
  mqttsPort?: number;
  /** The device HTTPS listener's port (hub, all). */
  deviceHttpsPort?: number;
  mqttUrl: string;
  stop(): Promise<void>;
}

/** Where a Pi enrolled here connects (its bundle's hub.json). */
function ownHubUrl(config: PifogConfig): string {
  return `mqtts://${os.hostname()}:${config.mqttsPort || 8883}`;
}

/** The names a Pi may use for this host, for the TLS listener's certificate. */
function hostNames(config: PifogConfig): string[] {
  const host = os.hostname();
  // the machine's own addresses too, so a Pi may dial the hub by its IP (the certificate follows a change of address)
  const addresses = Object.values(os.networkInterfaces())
    .flat()
    .filter((a): a is os.NetworkInterfaceInfo => !!a && !a.internal && !a.address.startsWith("fe80:"))
    .map((a) => a.address);
  const names = ["localhost", "127.0.0.1", host, ...(host.includes(".") ? [] : [`${host}.local`]), ...addresses];
  if (config.host !== "0.0.0.0" && config.host !== "::") names.push(config.host);
  return [...new Set(names)];
}

/**
 * A runtime with the embedded broker is its fog's CA: on the first start it makes the CA (`pifog ca init` does the
 * same), the TLS listener's certificate for this host, and an identity for each of its own devices (one, or each
 * simulated Pi of `all`), so they connect as themselves over TLS. A revoked device stays revoked: it is said, and
 * that device runs without its identity (its links are refused by the broker).
 */
async function enrolOwnDevices(config: PifogConfig, now: Date): Promise<void> {
  await ensureServerTls(config.dataDir, hostNames(config), now);
  const hubUrl = ownHubUrl(config);
  const own: Array<[string, DeviceRole]> = config.role === "all" ? ALL_IN_ONE.map((part) => [part, part]) : [[config.deviceId, config.role]];
  for (const [id, role] of own) {
    try {
      await ensureDevice(config.dataDir, id, role, { hubUrl, now });
    } catch (err) {
      console.warn(`PiFog: device "${id}" has no identity: ${(err as Error).message}`);
    }
  }
}

/**
 * A Pi started with PIFOG_HUB_URL: its identity from its bundle dir, or, when it has none, by pairing with the hub
 * (pair-client.ts: it prints a code and waits for an admin). Then the runtime is the device the admin named, with that
 * identity, on the hub's broker (hub.json's URL unless PIFOG_MQTT_URL names another).
 */
async function pairedIdentity(config: PifogConfig, clock: Clock): Promise<{ username: string; password: string } | undefined> {
  const dir = ownBundleDir(config.dataDir, config.deviceId);
  const matrix = config.role === "statuspi" ? pairingMatrix(config, clock) : null;
  let identity;
  try {
    identity =
      readPairedIdentity(dir) ??
      (await pairWithHub({
        hubUrl: config.hubUrl!,
        role: config.role as DeviceRole,
        deviceId: config.deviceId,
        version: pifogVersion(),
        login: config.pairing.login,
        bundleDir: dir,
        dataDir: config.dataDir,
        mqttUrl: config.mqttUrl,
        pollMs: config.pairing.pollMs,
        clock,
        log: (text) => console.log(text),
        onCode: matrix?.show,
      }));
  } catch (err) {
    if (err instanceof PairClientError) throw new ConfigError(`pairing with ${config.hubUrl}: ${err.message}`);
    throw err;
  } finally {
    // the flows' status-matrix node takes the matrix over
    await matrix?.close();
  }
  config.deviceId = identity.hub.device;
  config.identityDir = dir;
  config.mqttUrl ??= identity.hub.url;
  // a Pi that cannot do TLS: its devices log in with the paired login as the runtime's (services.broker.auth), so
  // the password never goes into a URL, a log line or runtime.json
  return identity.login;
}

/** A StatusPi's Sense HAT while it waits to be paired: the code scrolls across it. Off a Pi there is none to show it
 * on (the simulated matrix lives on the broker, which the Pi reaches only once paired): null. */
function pairingMatrix(config: PifogConfig, clock: Clock): { show: (code: string) => void; close: () => Promise<void> } | null {
  if (resolveHardware(config.hardware) !== "pi") return null;
  let matrix: LedMatrix;
  try {
    matrix = piDrivers(clock, (m) => console.warn(`PiFog: ${m}`)).ledMatrix("matrix");
  } catch (err) {
    console.warn(`PiFog: the pairing code is not shown on the LED matrix: ${(err as Error).message}`);
    return null;
  }
  let stop: (() => void) | null = null;
  return {
    show: (code) => {
      stop?.();
      stop = scrollText(matrix, code, clock, { colour: CYAN });
    },
    close: async () => {
      stop?.();
      await matrix.close();
    },
  };
}

/** The runtime's devices and their identity bundles, for the flows' core MQTT nodes. */
function flowIdentities(services: PifogServices): FlowIdentity[] {
  const { config } = services;
  const devices = config.role === "all" ? [...ALL_IN_ONE] : [config.deviceId];
  return devices.map((device) => {
    try {
      return { device, dir: identityOf(services, device)?.dir ?? null };
    } catch (err) {
      console.warn(`PiFog: the identity of device "${device}" cannot be read: ${(err as Error).message}`);
      return { device, dir: null };
    }
  });
}

/** `safeState`: where the nodes that drive outputs register how to make them safe (the CLI's fail-safe uses it). */
export async function launch(safeState = new SafeState()): Promise<RunningPifog> {
  // before anything is written (the settings, loaded below, also tighten what the data dir already holds)
  keepNewFilesPrivate();
  // the settings read the configuration (once, for them and for this launcher) and make the runtime's services
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const settings = require("../../../settings") as Record<string, unknown> & {
    httpAdminRoot: string;
    httpNodeRoot: string;
    pifogServices: PifogServices;
    pifogPeopleReady: Promise<void>;
  };
  const config = settings.pifogServices.config;
  // the first people are in the user store before it is opened (nodes/lib/identity/bootstrap.ts)
  await settings.pifogPeopleReady;
  const clock = settings.pifogServices.clock;
  // a Pi that pairs with a hub: before anything uses its device id, identity or broker
  const pairedLogin = config.hubUrl ? await pairedIdentity(config, clock) : undefined;
  if (!config.mqttUrl) await enrolOwnDevices(config, new Date(clock.now()));
  // what the runtime trusts and signs with (its CA, revocations, own identity): the store on a hub, the bundle on a Pi
  const runtimeTrust = await openRuntimeTrust(config, clock, {
    hubUrl: ownHubUrl(config),
    ...(config.identityDir ? { env: { ...process.env, PIFOG_IDENTITY: config.identityDir } } : {}),
  });
  // the embedded broker checks every connection against the same store (one store, one watcher)
  let identities: IdentityDirectory | null = null;
  let ownStore: IdentityStore | null = null;
  if (!config.mqttUrl) {
    identities =
      runtimeTrust.directory ??
      (ownStore = await IdentityStore.open(config.dataDir, {
        watch: true,
        onError: (err) => console.error(`PiFog: the identities in ${config.dataDir} could not be read again; the previous ones stay in force (${err.message})`),
      }));
  }
  const closeIdentities = () => {
    runtimeTrust.close();
    ownStore?.close();
  };
  let broker: EmbeddedBroker | null = null;
  let mqttUrl = config.mqttUrl;
  if (mqttUrl) dropPacketIdCache();
  if (!mqttUrl) {
    // loaded only here: a Pi on its hub's broker never loads aedes and its store (a Pi Zero's memory is small)
    /* eslint-disable @typescript-eslint/no-require-imports */
    const { EmbeddedBroker } = require("../broker/embedded-broker") as typeof import("../broker/embedded-broker");
    const { SqlitePersistence, brokerStoreFile } = require("../broker/sqlite-persistence") as typeof import("../broker/sqlite-persistence");
    /* eslint-enable @typescript-eslint/no-require-imports */
    try {
      broker = await EmbeddedBroker.start({
        port: config.mqttPort,
        host: config.host,
        maxPacketBytes: config.mqttMaxPacket,
        webSocketOrigins: config.mqttWsOrigins,
        audit: settings.pifogServices.audit,
        // sessions, queued QoS 1/2 messages and retained messages survive a restart (and a crash)
        persistence: new SqlitePersistence({ file: brokerStoreFile(config.dataDir), synchronous: config.brokerSync }),
        identities,
        tlsPort: identities ? config.mqttsPort : undefined,
        anonymous: config.brokerAnonymous,
        throttle: settings.pifogServices.signIn.mqtt,
        observer: settings.pifogServices.metrics.brokerObserver,
        // the devices announce their Home Assistant entities under the prefix this runtime names (or HA's default)
        ...(config.haDiscovery ? { discoveryPrefix: config.haDiscovery } : {}),
      });
    } catch (err) {
      closeIdentities();
      throw err;
    }
    mqttUrl = `mqtt://127.0.0.1:${broker.port}`;
  }
  const tlsUrl = broker?.tlsPort ? `mqtts://127.0.0.1:${broker.tlsPort}` : undefined;
  const embeddedBroker = broker;
  // the hub's revocation list, retained, published by the broker itself (no client may write it), for the Pis
  const stopRevocations =
    embeddedBroker && runtimeTrust.directory
      ? publishRevocations(
          (topic, payload, o) => embeddedBroker.aedes.publish({ cmd: "publish", topic, payload, qos: o.qos, retain: o.retain, dup: false }, () => undefined),
          runtimeTrust.directory,
        )
      : () => undefined;
  // the hub pairs Pis by a code (issue 12) and follows who is connected, for the Devices tab
  const pairing =
    embeddedBroker && runtimeTrust.directory
      ? new HubPairing({
          dataDir: config.dataDir,
          clock,
          audit: settings.pifogServices.audit,
          directory: runtimeTrust.directory,
          ports: () => ({ mqtts: embeddedBroker.tlsPort ?? undefined, mqtt: embeddedBroker.port, deviceHttps: ownDeviceHttps?.port }),
          limits: { codeTtlMs: config.pairing.codeTtlMs, requestsPerAddress: config.pairing.requestsPerAddress },
        })
      : null;
  const stopFollowing = pairing && embeddedBroker ? followBroker(pairing, embeddedBroker) : () => undefined;
  // the hub's device listener: the camera Pis' uploads, by their identity only (PIFOG_DEVICE_HTTPS_PORT)
  let deviceHttps: DeviceHttps | null = null;
  if (identities && embeddedBroker && (config.role === "hub" || config.role === "all")) {
    try {
      deviceHttps = await DeviceHttps.start({
        identities,
        host: config.host,
        port: config.deviceHttpsPort,
        audit: settings.pifogServices.audit,
        throttle: settings.pifogServices.signIn.mqtt,
        now: () => clock.now(),
        routes: uploadRoutes({
          store: () => settings.pifogServices.clips.first(),
          incomingDir: path.join(config.dataDir, "clips-incoming"),
          audit: settings.pifogServices.audit,
          now: () => clock.now(),
        }),
      });
    } catch (err) {
      stopFollowing();
      pairing?.close();
      stopRevocations();
      await embeddedBroker.close();
      closeIdentities();
      throw err;
    }
  }
  const ownDeviceHttps = deviceHttps;
  // the nodes find this broker (and know it is their own) in the services, never by its URL
  const services = withLauncher(settings.pifogServices, {
    pairing,
    broker: { url: mqttUrl, embedded: broker, ...(broker ? { auth: broker.runtimeCredentials } : pairedLogin ? { auth: pairedLogin } : {}), ...(tlsUrl ? { tlsUrl } : {}) },
    safeState,
    identities,
    trust: runtimeTrust.trust,
    deviceHttps: deviceHttps ? { url: deviceHttps.url, port: deviceHttps.port } : null,
  });
  settings.pifogServices = services;
  // what /metrics and /health read: this broker (or the one named), the process, the flows (below)
  services.metrics.watchBroker(broker ?? { url: mqttUrl });
  services.metrics.collectProcessMetrics();
  // the people who sign in: the store just opened, or (a Pi whose broker is elsewhere) the data dir's users file
  const people = livePeople(() => settings.pifogServices);
  services.webSessions.useRoles((name) => people.roleOf(name));

  const app = express();
  app.disable("x-powered-by");
  app.get("/", (_req, res) => res.redirect("/ui/"));
  // the people's sign-in pages (GET/POST /signin, /signout), and all of /ui only for a signed-in browser (the
  // dashboard's own `ui.middleware` does the same for its pages; this also covers what it serves before it)
  app.use(
    signInRoutes({
      sessions: () => services.webSessions,
      people,
      throttle: services.signIn.users,
      audit: services.audit,
      oidc: () => oidcLabel(services.config),
    }),
  );
  app.use("/ui", dashboardHttpGuard(() => services.webSessions));
  const server = http.createServer(app);
  const sockets = new Set<Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  broker?.attachWebSocket(server, "/mqtt");

  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const RED = require("node-red") as typeof import("node-red");
  RED.init(server, settings as never);
  // every device config node listens for flows:started (its presence), and the all-in-one fog has more than ten:
  // many listeners here are the design, not a leak
  RED.events.setMaxListeners(Math.max(RED.events.getMaxListeners(), 100));
  const stopWatchingFlows = services.metrics.flows.attach(RED.events);
  if (broker) {
    // nothing is acknowledged before the flows (and their history logger) have started
    broker.hold();
    const embedded = broker;
    RED.events.on("flows:started", () => embedded.release());
  }
  // the editor's login: the user store's admins, wrong passwords limited (the people's throttle) and answered here,
  // so Node-RED's own lock (per user name, from anywhere, 10 minutes) never sees them
  app.use(settings.httpAdminRoot, editorLoginGuard({ throttle: services.signIn.editor, audit: services.audit, people }));
  app.use(settings.httpAdminRoot, RED.httpAdmin);
  // PiFog's own API (GET /api/history...) takes a bearer token: POST /api/auth gives one to a user of the identity
  // store (`pifog user add`), wrong passwords limited like every other sign-in
  app.use(
    signInRoute({
      tokens: () => services.apiTokens,
      audit: services.audit,
      throttle: services.signIn.users,
      checkPassword: async (name, password) => {
        const who = await people.checkPassword(name, password);
        return who ? { kind: "user", name: who.name, role: who.role } : null;
      },
    }),
  );
  // the runtime's metrics (Prometheus) for a signed-in person or a token; its health: up/down for anyone (containers,
  // systemd), the whole judgement for someone signed in (nodes/lib/metrics/http.ts)
  app.use(observabilityRoutes({ tokens: () => services.apiTokens, audit: services.audit, sessions: () => services.webSessions, metrics: () => services.metrics }));
  // OpenID Connect sign-in (GET /signin/oidc, its callback): a page saying it is not set up when it is not
  app.use(oidcRoutes({ signIn: config.oidc ? new OidcSignIn(config.oidc, clock) : null, sessions: services.webSessions, audit: services.audit }));
  // pairing a Pi (anyone may ask, an admin approves) and the Devices tab's list and revocation
  app.use(pairingRoutes({ tokens: () => services.apiTokens, audit: services.audit, sessions: () => services.webSessions, pairing: () => pairing }));
  app.use(settings.httpNodeRoot, RED.httpNode);

  let httpPort: number;
  try {
    httpPort = await listen(server, config.httpPort, config.host, "PIFOG_HTTP_PORT");
  } catch (err) {
    await deviceHttps?.close();
    await broker?.close();
    closeIdentities();
    throw err;
  }
  // the flows' placeholders name the broker, the port and the identities this runtime really has: its devices and
  // its core MQTT nodes connect as themselves to the TLS listener; the camera's forwarder, when it forwards to this
  // same broker, logs in as the runtime on its plain port
  exportFlowEnvironment(config, { mqttUrl: tlsUrl ?? mqttUrl, facesUrl: mqttUrl }, httpPort, flowIdentities(services));
  // what a person pairing a Pi compares with what the Pi prints
  if (pairing) console.log(`PiFog: a new Pi pairs with PIFOG_HUB_URL=http://<this host>:${httpPort}; the CA's fingerprint it shows must be ${pairing.caFingerprint()}`);
  // RED.start() resolves when the flows are loaded, before they run: "ready" (and /health's 200) only once they do
  const flowsStarted = new Promise<boolean>((resolve) => {
    const started = () => {
      clock.clearTimeout(timer);
      resolve(true);
    };
    const timer = clock.setTimeout(() => {
      RED.events.off("flows:started", started);
      resolve(false);
    }, FLOWS_START_WAIT_MS);
    RED.events.once("flows:started", started);
  });
  await RED.start();
  if (!(await flowsStarted)) {
    console.warn(`PiFog: the flows have not started within ${FLOWS_START_WAIT_MS / 1000} s (see Node-RED's log above); /health says down until they do`);
  }

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      await RED.stop();
      stopWatchingFlows();
      await services.close();
      stopFollowing();
      pairing?.close();
      stopRevocations();
      await deviceHttps?.close();
      await broker?.close();
      closeIdentities();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    })());
  return { config, httpPort, mqttPort: broker?.port, mqttsPort: broker?.tlsPort ?? undefined, deviceHttpsPort: deviceHttps?.port, mqttUrl, stop };
}
