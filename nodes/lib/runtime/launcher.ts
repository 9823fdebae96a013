// The embedded runtime behind `npm start`: the broker, one HTTP server (editor at /admin, dashboard at /ui,
// MQTT over WebSocket at /mqtt, / → /ui) and Node-RED with PiFog's settings and the role's flow.
import express from "express";
import http from "node:http";
import os from "node:os";
import type { Socket } from "node:net";
import { EmbeddedBroker, listen } from "../broker/embedded-broker";
import { SqlitePersistence, brokerStoreFile } from "../broker/sqlite-persistence";
import { ensureDevice, ensureServerTls } from "../identity/admin-lazy";
import { openRuntimeTrust, publishRevocations } from "../identity/runtime-trust";
import { IdentityStore } from "../identity/store";
import type { DeviceRole, IdentityDirectory } from "../identity/types";
import { signInRoute } from "../security/api-auth";
import { editorLoginGuard, editorUsersOf } from "../security/editor-login";
import { identityOf, withLauncher, type PifogServices } from "../services";
import type { PifogConfig } from "./config";
import { exportFlowEnvironment, type FlowIdentity } from "./flow-env";
import { keepNewFilesPrivate } from "./file-modes";
import { ALL_IN_ONE } from "./flows";
import { SafeState } from "./safe-state";

export interface RunningPifog {
  config: PifogConfig;
  httpPort: number;
  /** The embedded broker's TCP port, when there is one. */
  mqttPort?: number;
  /** The embedded broker's TLS port, when it has one (a CA in the data dir). */
  mqttsPort?: number;
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
  const settings = require("../../../settings") as Record<string, unknown> & { httpAdminRoot: string; httpNodeRoot: string; pifogServices: PifogServices };
  const config = settings.pifogServices.config;
  const clock = settings.pifogServices.clock;
  if (!config.mqttUrl) await enrolOwnDevices(config, new Date(clock.now()));
  // what the runtime trusts and signs with (its CA, revocations, own identity): the store on a hub, the bundle on a Pi
  const runtimeTrust = await openRuntimeTrust(config, clock, { hubUrl: ownHubUrl(config) });
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
  if (!mqttUrl) {
    try {
      broker = await EmbeddedBroker.start({
        port: config.mqttPort,
        host: config.host,
        maxPacketBytes: config.mqttMaxPacket,
        webSocketOrigins: config.mqttWsOrigins,
        audit: settings.pifogServices.audit,
        // sessions, queued QoS 1/2 messages and retained messages survive a restart (and a crash)
        persistence: new SqlitePersistence({ file: brokerStoreFile(config.dataDir) }),
        identities,
        tlsPort: identities ? config.mqttsPort : undefined,
        anonymous: config.brokerAnonymous,
        throttle: settings.pifogServices.signIn.mqtt,
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
  // the nodes find this broker (and know it is their own) in the services, never by its URL
  const services = withLauncher(settings.pifogServices, {
    broker: { url: mqttUrl, embedded: broker, ...(broker ? { auth: broker.runtimeCredentials } : {}), ...(tlsUrl ? { tlsUrl } : {}) },
    safeState,
    identities,
    trust: runtimeTrust.trust,
  });
  settings.pifogServices = services;

  const app = express();
  app.disable("x-powered-by");
  app.get("/", (_req, res) => res.redirect("/ui/"));
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
  if (broker) {
    // nothing is acknowledged before the flows (and their history logger) have started
    broker.hold();
    const embedded = broker;
    RED.events.on("flows:started", () => embedded.release());
  }
  // the editor's login: wrong passwords limited per address and answered here, so Node-RED's own lock (per user
  // name, from anywhere) never sees them and cannot be used to lock the admin out
  app.use(
    settings.httpAdminRoot,
    editorLoginGuard({ throttle: services.signIn.editor, audit: services.audit, users: () => editorUsersOf(settings) }),
  );
  app.use(settings.httpAdminRoot, RED.httpAdmin);
  // PiFog's own API (GET /api/history...) takes a bearer token: POST /api/auth gives one to a user of the identity
  // store (`pifog user add`), wrong passwords limited like every other sign-in
  app.use(
    signInRoute({
      tokens: () => services.apiTokens,
      audit: services.audit,
      throttle: services.signIn.users,
      checkPassword: (name, password) => services.identities?.checkPassword(name, password) ?? Promise.resolve(null),
    }),
  );
  app.use(settings.httpNodeRoot, RED.httpNode);

  let httpPort: number;
  try {
    httpPort = await listen(server, config.httpPort, config.host, "PIFOG_HTTP_PORT");
  } catch (err) {
    await broker?.close();
    closeIdentities();
    throw err;
  }
  // the flows' placeholders name the broker, the port and the identities this runtime really has: its devices and
  // its core MQTT nodes connect as themselves to the TLS listener; the camera's forwarder, when it forwards to this
  // same broker, logs in as the runtime on its plain port
  exportFlowEnvironment(config, { mqttUrl: tlsUrl ?? mqttUrl, facesUrl: mqttUrl }, httpPort, flowIdentities(services));
  await RED.start();

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      await RED.stop();
      await services.close();
      stopRevocations();
      await broker?.close();
      closeIdentities();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    })());
  return { config, httpPort, mqttPort: broker?.port, mqttsPort: broker?.tlsPort ?? undefined, mqttUrl, stop };
}
