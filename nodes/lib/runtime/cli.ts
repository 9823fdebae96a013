// `npm start`: launch PiFog, print where it is, stop cleanly on SIGINT/SIGTERM.
import fs from "node:fs";
import path from "node:path";
import { PortInUseError } from "../broker/embedded-broker";
import { ConfigError } from "./config";
import { launch } from "./launcher";

process.on("unhandledRejection", (reason) => {
  // the embedded runtime installs no handler of its own: log, keep running
  console.error("PiFog: unhandled rejection:", reason);
});

launch()
  .then((pifog) => {
    const local = (port: number) => `http://127.0.0.1:${port}`;
    const where = {
      role: pifog.config.role,
      http: local(pifog.httpPort),
      dashboard: `${local(pifog.httpPort)}/ui/`,
      editor: `${local(pifog.httpPort)}/admin/`,
      mqtt: pifog.mqttUrl,
      mqttWebSocket: pifog.mqttPort === undefined ? null : `ws://127.0.0.1:${pifog.httpPort}/mqtt`,
      pid: process.pid,
    };
    fs.writeFileSync(path.join(pifog.config.dataDir, "runtime.json"), JSON.stringify(where, null, 2));
    console.log(
      `PiFog ready (role ${where.role}): dashboard ${where.dashboard}  editor ${where.editor}  mqtt ${where.mqtt}` +
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
