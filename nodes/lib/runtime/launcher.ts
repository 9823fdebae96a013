// The embedded runtime behind `npm start`: the broker, one HTTP server (editor at /admin, dashboard at /ui,
// MQTT over WebSocket at /mqtt, / → /ui) and Node-RED with PiFog's settings and the role's flow.
import express from "express";
import http from "node:http";
import type { Socket } from "node:net";
import { EmbeddedBroker, listen } from "../broker/embedded-broker";
import { SqlitePersistence, brokerStoreFile } from "../broker/sqlite-persistence";
import { openRuntimeTrust, publishRevocations } from "../identity/runtime-trust";
import { signInRoute } from "../security/api-auth";
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
  mqttUrl: string;
  stop(): Promise<void>;
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
  if (!mqttUrl) {
    broker = await EmbeddedBroker.start({
      port: config.mqttPort,
      host: config.host,
      maxPacketBytes: config.mqttMaxPacket,
      webSocketOrigins: config.mqttWsOrigins,
      audit: settings.pifogServices.audit,
      // sessions, queued QoS 1/2 messages and retained messages survive a restart (and a crash)
      persistence: new SqlitePersistence({ file: brokerStoreFile(config.dataDir) }),
    });
    mqttUrl = `mqtt://127.0.0.1:${broker.port}`;
  }
  // what the runtime trusts and signs with (its CA, revocations, own identity): the store on a hub, the bundle on a Pi
  let runtimeTrust: Awaited<ReturnType<typeof openRuntimeTrust>>;
  try {
    runtimeTrust = await openRuntimeTrust(config, settings.pifogServices.clock);
  } catch (err) {
    await broker?.close();
    throw err;
  }
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
    broker: { url: mqttUrl, embedded: broker },
    safeState,
    identities: runtimeTrust.directory,
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
    throw err;
  }
  // the flows' placeholders name the broker and the port this runtime really has
  exportFlowEnvironment(config, mqttUrl, httpPort);
  await RED.start();

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      await RED.stop();
      await services.close();
      stopRevocations();
      runtimeTrust.close();
      await broker?.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    })());
  return { config, httpPort, mqttPort: broker?.port, mqttUrl, stop };
}
