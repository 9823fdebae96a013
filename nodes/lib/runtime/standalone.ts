// PiFog's nodes in a Node-RED that PiFog did not start (installed from the palette, `node-red` without
// dist/settings.js): nothing handed the nodes their services, so the package makes them itself, once per data dir,
// the way settings.ts does for `node-red -s dist/settings.js`: the configuration from the PIFOG_* environment (the
// README's table; every variable optional), the data in `<userDir>/pifog` unless PIFOG_DATA_DIR names another, the
// broker PIFOG_MQTT_URL or one on this machine. What only the launcher has (the embedded broker, the identities, the
// sign-in pages) stays absent, and the nodes say so as they do under a plain `node-red -s dist/settings.js`. The
// examples' function nodes get `global.get("pifog")` through the settings' functionGlobalContext, as there.
import fs from "node:fs";
import path from "node:path";
import { systemClock } from "../clock";
import { createServices, missingServices, type PifogServices } from "../services";
import { ConfigError, readConfig, type PifogConfig } from "./config";
import { tightenDataDir } from "./file-modes";
import { exportFlowEnvironment } from "./flow-env";
import { functionContext } from "../views";

/** What of Node-RED's own settings a runtime without PiFog's settings tells the nodes. */
export interface StockSettings {
  userDir?: string;
  uiPort?: number;
  /** The settings' own object (Node-RED hands it by reference), which seeds the global context. */
  functionGlobalContext?: unknown;
}

export interface StandaloneLog {
  info(line: string): void;
  warn(line: string): void;
}

/** Where a stock Node-RED keeps PiFog's data: a folder of its user dir, so a palette install writes nowhere else. */
export function standaloneDataDir(userDir: string): string {
  return path.join(userDir, "pifog");
}

/** The services of a stock Node-RED with user dir `settings.userDir`. `log` hears, once, what the runtime lacks. */
export function makeStandaloneServices(settings: StockSettings & { userDir: string }, log: StandaloneLog, env: NodeJS.ProcessEnv = process.env): PifogServices {
  const userDir = path.resolve(settings.userDir);
  const dataDir = (env.PIFOG_DATA_DIR ?? "").trim() || standaloneDataDir(userDir);
  let config: PifogConfig;
  try {
    config = readConfig({ ...env, PIFOG_DATA_DIR: dataDir }, userDir);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // the PIFOG_* environment is optional here: a wrong variable must not keep every PiFog node of a palette install
    // from registering, so the nodes run on the defaults and the log says which variable was wrong
    log.warn(`PiFog: ${err.message}; the PiFog nodes use the defaults instead of the PIFOG_* environment`);
    config = readConfig({ PIFOG_DATA_DIR: dataDir }, userDir);
  }
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  for (const f of tightenDataDir(config.dataDir).failed) log.warn(`PiFog: could not make ${f.path} private: ${f.error}`);
  const services = createServices({ config, clock: systemClock });
  // the shipped examples' `${PIFOG_MQTT_URL}`... placeholders and their function nodes' env.get, as settings.ts does
  exportFlowEnvironment(config, { mqttUrl: services.broker.url }, settings.uiPort ?? 1880, [], env);
  log.info(`PiFog: started without PiFog's settings (a palette install): data in ${config.dataDir}, broker ${services.broker.url}`);
  for (const line of missingServices(services)) log.warn(line);
  const offered = offerFunctionContext(settings.functionGlobalContext, services);
  if (offered === "absent") {
    log.warn("PiFog: the settings have no functionGlobalContext, so the examples' function nodes find no global.get(\"pifog\"): add `functionGlobalContext: {}` to settings.js");
  }
  return services;
}

/** What the shipped flows' function nodes read as `global.get("pifog")` (nodes/lib/views), put beside the settings'
 * own functionGlobalContext entries, as PiFog's settings.ts puts it there; an entry the user made is left alone. */
export function offerFunctionContext(globalContext: unknown, services: PifogServices): "added" | "kept" | "absent" {
  if (typeof globalContext !== "object" || globalContext === null || Object.isFrozen(globalContext)) return "absent";
  const seed = globalContext as Record<string, unknown>;
  if (seed.pifog !== undefined) return "kept";
  seed.pifog = functionContext({
    historyHeaders: () => ({
      authorization: `Bearer ${services.apiTokens.issue({ name: `${services.config.deviceId}:flows`, role: "viewer" }, 5 * 60_000).token}`,
    }),
  });
  return "added";
}
