// `npm start`: launch PiFog, print where it is, stop cleanly on SIGINT/SIGTERM.
import fs from "node:fs";
import path from "node:path";
import { PortInUseError } from "./listen";
import { ConfigError } from "./config";
import { launch } from "./launcher";
import { failSafeExit, SafeState } from "./safe-state";

// An error that escaped leaves the runtime in a state nobody knows (a pulse whose timer may never fire): every
// output goes to its safe level and the process exits, for systemd or the container to start it again.
const safeState = new SafeState();
const fatal = failSafeExit(safeState, { log: (line) => console.error(line), exit: (code) => process.exit(code) });
process.on("uncaughtException", (err) => fatal("uncaught exception", err));
process.on("unhandledRejection", (reason) => fatal("unhandled rejection", reason));

launch(safeState)
  .then((pifog) => {
    const local = (port: number) => `http://127.0.0.1:${port}`;
    const where = {
      role: pifog.config.role,
      http: local(pifog.httpPort),
      dashboard: `${local(pifog.httpPort)}/ui/`,
      editor: `${local(pifog.httpPort)}/admin/`,
      mqtt: pifog.mqttUrl,
      mqttWebSocket: pifog.mqttPort === undefined ? null : `ws://127.0.0.1:${pifog.httpPort}/mqtt`,
      mqtts: pifog.mqttsPort === undefined ? null : `mqtts://127.0.0.1:${pifog.mqttsPort}`,
      deviceHttps: pifog.deviceHttpsPort === undefined ? null : `https://127.0.0.1:${pifog.deviceHttpsPort}`,
      pid: process.pid,
    };
    fs.writeFileSync(path.join(pifog.config.dataDir, "runtime.json"), JSON.stringify(where, null, 2));
    console.log(
      `PiFog ready (role ${where.role}): dashboard ${where.dashboard}  editor ${where.editor}  mqtt ${where.mqtt}` +
        (where.mqtts ? `  mqtts ${where.mqtts}` : "") +
        (where.deviceHttps ? `  devices ${where.deviceHttps}` : "") +
        (where.mqttWebSocket ? `  mqtt-ws ${where.mqttWebSocket}` : ""),
    );
    const shutdown = (signal: string) => {
      console.log(`PiFog: ${signal}, stopping`);
      const force = setTimeout(() => process.exit(1), 10_000);
      force.unref();
      pifog.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once("SIGINT", () => shutdown("SIGINT"));
    process.once("SIGTERM", () => shutdown("SIGTERM"));
  })
  .catch((err: unknown) => {
    if (err instanceof PortInUseError) {
      console.error(`PiFog: port ${err.port} is already in use; set ${err.variable} to a free port` +
        (err.variable === "PIFOG_MQTT_PORT" ? " (or PIFOG_MQTT_URL to use the broker that has it)" : ""));
    } else if (err instanceof ConfigError) {
      console.error(`PiFog: ${err.message}`);
    } else {
      console.error("PiFog: could not start:", err);
    }
    process.exit(1);
  });
