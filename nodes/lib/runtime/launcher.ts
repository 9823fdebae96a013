// The embedded runtime behind `npm start`: the broker, one HTTP server (editor at /admin, dashboard at /ui,
// MQTT over WebSocket at /mqtt, / → /ui) and Node-RED with PiFog's settings and the role's flow.
import express from "express";
import http from "node:http";
import type { Socket } from "node:net";
import { Audit } from "../audit/audit";
import { EmbeddedBroker, listen } from "../broker/embedded-broker";
import { registerEmbeddedBroker, unregisterEmbeddedBroker } from "../broker/registry";
import { closeDurableSinks } from "../history/sinks";
import { systemClock } from "../clock";
import { editorLoginGuard, editorUsersOf } from "../security/editor-login";
import { signInThrottlesOf } from "../security/sign-in";
import { readConfig, type PifogConfig } from "./config";
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
export async function launch(env: NodeJS.ProcessEnv = process.env, safeState = new SafeState()): Promise<RunningPifog> {
  // before anything is written (the settings, loaded below, also tighten what the data dir already holds)
  keepNewFilesPrivate();
  const config = readConfig(env);
  let broker: EmbeddedBroker | null = null;
  let mqttUrl = config.mqttUrl;
  if (!mqttUrl) {
    broker = await EmbeddedBroker.start({
      port: config.mqttPort,
      host: config.host,
      maxPacketBytes: config.mqttMaxPacket,
      webSocketOrigins: config.mqttWsOrigins,
      audit: new Audit(config.dataDir),
    });
    mqttUrl = `mqtt://127.0.0.1:${broker.port}`;
    registerEmbeddedBroker(broker, mqttUrl);
  }
  // the flows' `${PIFOG_MQTT_URL}` and `${PIFOG_DEVICE_ID}` resolve from here
  process.env.PIFOG_MQTT_URL = mqttUrl;
  process.env.PIFOG_FACES_REMOTE_URL = config.facesRemoteUrl ?? mqttUrl;
  if (config.role !== "all") process.env.PIFOG_DEVICE_ID = config.deviceId;
  process.env.PIFOG_ROLE = config.role;
  process.env.PIFOG_HARDWARE = config.hardware;
  // and `env.get("PIFOG_DATA_DIR")` in function nodes (flows/facewriter.json's local folder store): absolute
  process.env.PIFOG_DATA_DIR = config.dataDir;

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
  const settings = require("../../../settings") as Record<string, unknown> & { httpAdminRoot: string; httpNodeRoot: string };
  settings.pifogSafeState = safeState;
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
    editorLoginGuard({ throttle: signInThrottlesOf(settings, systemClock).editor, audit: new Audit(config.dataDir), users: () => editorUsersOf(settings) }),
  );
  app.use(settings.httpAdminRoot, RED.httpAdmin);
  app.use(settings.httpNodeRoot, RED.httpNode);

  let httpPort: number;
  try {
    httpPort = await listen(server, config.httpPort, config.host, "PIFOG_HTTP_PORT");
  } catch (err) {
    await broker?.close();
    throw err;
  }
  // the dashboard's flows read the history API of their own runtime
  const selfHost = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  process.env.PIFOG_HTTP_URL = `http://${selfHost.includes(":") ? `[${selfHost}]` : selfHost}:${httpPort}`;
  await RED.start();

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      await RED.stop();
      await closeDurableSinks();
      if (broker) unregisterEmbeddedBroker(broker);
      await broker?.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    })());
  return { config, httpPort, mqttPort: broker?.port, mqttUrl, stop };
}
