// PiFog's nodes in a Node-RED that PiFog did not start (installed from the palette, `node-red` without
// dist/settings.js): nothing handed the nodes their services, so the package makes them itself, once per data dir,
// the way settings.ts does for `node-red -s dist/settings.js`: the configuration from the PIFOG_* environment (the
// README's table; every variable optional), the data in `<userDir>/pifog` unless PIFOG_DATA_DIR names another, the
// broker PIFOG_MQTT_URL or one on this machine. What only the launcher has (the embedded broker, the identities, the
// sign-in pages) stays absent, and the nodes say so as they do under a plain `node-red -s dist/settings.js`.
import fs from "node:fs";
import path from "node:path";
import { systemClock } from "../clock";
import { createServices, missingServices, type PifogServices } from "../services";
import { readConfig } from "./config";
import { tightenDataDir } from "./file-modes";
import { exportFlowEnvironment } from "./flow-env";

/** What of Node-RED's own settings a runtime without PiFog's settings tells the nodes. */
export interface StockSettings {
  userDir?: string;
  uiPort?: number;
}

/** Where a stock Node-RED keeps PiFog's data: a folder of its user dir, so a palette install writes nowhere else. */
export function standaloneDataDir(userDir: string): string {
  return path.join(userDir, "pifog");
}

/** The services of a stock Node-RED with user dir `settings.userDir`. `log` hears, once, what the runtime lacks. */
export function makeStandaloneServices(settings: StockSettings & { userDir: string }, log: (line: string) => void, env: NodeJS.ProcessEnv = process.env): PifogServices {
  const userDir = path.resolve(settings.userDir);
  const config = readConfig({ ...env, PIFOG_DATA_DIR: (env.PIFOG_DATA_DIR ?? "").trim() || standaloneDataDir(userDir) }, userDir);
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  for (const f of tightenDataDir(config.dataDir).failed) log(`PiFog: could not make ${f.path} private: ${f.error}`);
  const services = createServices({ config, clock: systemClock });
  // the shipped examples' `${PIFOG_MQTT_URL}`... placeholders and their function nodes' env.get, as settings.ts does
  exportFlowEnvironment(config, { mqttUrl: services.broker.url }, settings.uiPort ?? 1880, [], env);
  log(`PiFog: started without PiFog's settings (a palette install): data in ${config.dataDir}, broker ${services.broker.url}`);
  for (const line of missingServices(services)) log(line);
  return services;
}
