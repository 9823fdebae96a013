// The embedded runtime behind `npm start`: the broker, one HTTP server (editor at /admin, dashboard at /ui,
// MQTT over WebSocket at /mqtt, / → /ui) and Node-RED with PiFog's settings and the role's flow.
import express from "express";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import type { Socket } from "node:net";
import { EmbeddedBroker, listen } from "../broker/embedded-broker";
import { ensureServerTls } from "../identity/admin";
import { identityPaths } from "../identity/paths";
import { IdentityStore } from "../identity/store";
import { editorLoginGuard, editorUsersOf } from "../security/editor-login";
import { withLauncher, type PifogServices } from "../services";
import type { PifogConfig } from "./config";
import { exportFlowEnvironment } from "./flow-env";
import { keepNewFilesPrivate } from "./file-modes";
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

/**
 * The data dir's identities for the embedded broker, when it has a CA (`pifog ca init`, or the all-in-one's first
 * start): the TLS listener's certificate is made (or renewed) for this host. Without a CA: none (no TLS listener; the
 * runtime's own user and anonymous clients only).
 */
async function openBrokerIdentities(config: PifogConfig): Promise<IdentityStore | null> {
  if (!fs.existsSync(identityPaths(config.dataDir).caCert)) return null;
  const hosts = ["localhost", "127.0.0.1", os.hostname(), ...(config.host !== "0.0.0.0" && config.host !== "::" ? [config.host] : [])];
  await ensureServerTls(config.dataDir, hosts, new Date());
  return IdentityStore.open(config.dataDir, {
    watch: true,
    onError: (err) => console.error(`PiFog: the identities in ${config.dataDir} could not be read again; the previous ones stay in force (${err.message})`),
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
  let broker: EmbeddedBroker | null = null;
  let mqttUrl = config.mqttUrl;
  let flowsMqttUrl = mqttUrl;
  const identities = config.mqttUrl ? null : await openBrokerIdentities(config);
  if (!mqttUrl) {
    try {
      broker = await EmbeddedBroker.start({
        port: config.mqttPort,
        host: config.host,
        maxPacketBytes: config.mqttMaxPacket,
        webSocketOrigins: config.mqttWsOrigins,
        audit: settings.pifogServices.audit,
        identities,
        tlsPort: identities ? config.mqttsPort : undefined,
        anonymous: config.brokerAnonymous,
        throttle: settings.pifogServices.signIn.mqtt,
      });
    } catch (err) {
      identities?.close();
      throw err;
    }
    mqttUrl = `mqtt://127.0.0.1:${broker.port}`;
    // the shipped flows' core MQTT nodes name the broker by PIFOG_MQTT_URL: they log in as the runtime too (until
    // each role has its device identity)
    const { username, password } = broker.runtimeCredentials;
    flowsMqttUrl = `mqtt://${encodeURIComponent(username)}:${encodeURIComponent(password)}@127.0.0.1:${broker.port}`;
  }
  // the nodes find this broker (and know it is their own) in the services, never by its URL
  const services = withLauncher(settings.pifogServices, {
    broker: { url: mqttUrl, embedded: broker, ...(broker ? { auth: broker.runtimeCredentials } : {}) },
    safeState,
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
  app.use(settings.httpNodeRoot, RED.httpNode);

  let httpPort: number;
  try {
    httpPort = await listen(server, config.httpPort, config.host, "PIFOG_HTTP_PORT");
  } catch (err) {
    await broker?.close();
    identities?.close();
    throw err;
  }
  // the flows' placeholders name the broker and the port this runtime really has
  exportFlowEnvironment(config, flowsMqttUrl ?? mqttUrl, httpPort);
  await RED.start();

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      await RED.stop();
      await services.close();
      await broker?.close();
      identities?.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    })());
  return { config, httpPort, mqttPort: broker?.port, mqttsPort: broker?.tlsPort ?? undefined, mqttUrl, stop };
}
