// Node-RED settings for PiFog, from the environment (see nodes/lib/runtime/config.ts and the README).
// Used by the embedded launcher (`npm start`) and also by a plain `node-red -s dist/settings.js`,
// which is why this is `export =` and not `export default` (the CLI does not unwrap `.default`).
import path from "node:path";
import { runtimeDashboardGuard } from "./nodes/lib/dashboard/runtime-guard";
import { readConfig } from "./nodes/lib/runtime/config";
import { keepNewFilesPrivate, tightenDataDir } from "./nodes/lib/runtime/file-modes";
import { exportFlowEnvironment } from "./nodes/lib/runtime/flow-env";
import { seedFlowFile } from "./nodes/lib/runtime/flows";
import { credentialSecret } from "./nodes/lib/runtime/secrets";
import { bootstrapPeople } from "./nodes/lib/identity/bootstrap";
import { dashboardHttpGuard } from "./nodes/lib/security/dashboard-http";
import { livePeople } from "./nodes/lib/security/people";
import { systemClock } from "./nodes/lib/clock";
import { functionContext } from "./nodes/lib/views";
import { createServices, type PifogServices } from "./nodes/lib/services";
import type { NodeRedLogMessage } from "./nodes/lib/metrics/runtime-metrics";
import { DashboardSockets } from "./nodes/lib/security/dashboard-sockets";

// before anything is written: the data dir is private (a plain `node-red -s dist/settings.js` starts here)
keepNewFilesPrivate();
const config = readConfig();
for (const f of tightenDataDir(config.dataDir).failed) console.warn(`PiFog: could not make ${f.path} private: ${f.error}`);
// the first people (user "admin", and "operator" from PIFOG_OPERATOR_PASSWORD or the old operator.json) before anyone
// signs in: the launcher waits for it; a generated password is printed once (nodes/lib/identity/bootstrap.ts)
const peopleReady: Promise<void> = bootstrapPeople(config.dataDir, { adminPassword: config.adminPassword, operatorPassword: config.operatorPassword }).then(
  (report) => {
    for (const line of report.lines) console.log(line);
  },
  (err: Error) => console.error(`PiFog: the first users could not be made: ${err.message}`),
);

// what the nodes share, made once for the runtime (nodes/lib/services.ts): the launcher adds its embedded broker;
// a plain `node-red -s dist/settings.js` runs without one and its log says so
// the dashboard's sockets need a live session (the services' sessions and audit, read when a browser connects)
const dashboardSockets = new DashboardSockets({ sessions: () => services.webSessions, audit: () => services.audit });
const services = createServices({ config, clock: systemClock, dashboardSockets });
// the user store's people, of whatever services the runtime has now (the launcher's have its identity store)
const currentServices = (): PifogServices => settings.pifogServices;
const people = livePeople(currentServices);
// the flows' placeholders, for a plain `node-red -s dist/settings.js` (the launcher writes them again once its broker
// and its HTTP server have their ports)
exportFlowEnvironment(config, { mqttUrl: services.broker.url }, config.httpPort);

const settings = {
  uiPort: config.httpPort,
  uiHost: config.host,
  userDir: config.dataDir,
  flowFile: seedFlowFile(config.dataDir, config.role),
  flowFilePretty: true,
  credentialSecret: credentialSecret(config.dataDir),
  httpAdminRoot: "/admin",
  httpNodeRoot: "/",
  // every event on the dashboard's socket is checked before the dashboard sees it, against what the socket's person
  // may do (nodes/lib/dashboard); a socket connects only with a live session, its person and address noted
  // (nodes/lib/security/dashboard-sockets.ts)
  ui: { path: "ui", ioMiddleware: [runtimeDashboardGuard(services).middleware, dashboardSockets.middleware] },
  // the editor takes the user store's admins (the launcher's guard checks passwords first, with the throttles)
  adminAuth: {
    type: "credentials",
    users: async (username: string) => {
      await peopleReady;
      return people.roleOf(username) === "admin" ? { username, permissions: "*" } : null;
    },
    authenticate: async (username: string, password: string) => {
      await peopleReady;
      const who = await people.checkPassword(username, password);
      return who?.role === "admin" ? { username: who.name, permissions: "*" } : null;
    },
  },
  /** Settled once the first people are in the user store (the launcher waits for it). */
  pifogPeopleReady: peopleReady,
  // the package root: Node-RED loads it as the module "pifog" (package.json "node-red"), with its nodes' locales
  nodesDir: [path.resolve(__dirname, "..")],
  // the configuration, the clock, the stores, the records, the throttles, the sessions, the dashboard's sockets...:
  // every node reads them with servicesOf(RED)
  pifogServices: services as PifogServices,
  externalModules: { autoInstall: false, palette: { allowInstall: false, allowUpload: false } },
  functionExternalModules: false,
  // the flows' function nodes build topics and views with typed code: `global.get("pifog")` (nodes/lib/views)
  functionGlobalContext: {
    pifog: functionContext({
      historyHeaders: () => ({ authorization: `Bearer ${services.apiTokens.issue({ name: `${config.deviceId}:flows`, role: "viewer" }, 5 * 60_000).token}` }),
    }),
  },
  diagnostics: { enabled: false, ui: false },
  telemetry: { enabled: false, updateNotification: false },
  editorTheme: {
    page: { title: "PiFog" },
    header: { title: "PiFog" },
    projects: { enabled: false },
    tours: false,
    palette: { catalogues: [] as string[] },
  },
  logging: {
    console: { level: process.env.PIFOG_LOG_LEVEL || "info", metrics: false, audit: false },
    // every node's error, counted for /metrics (pifog_node_errors_total), whatever the console's level
    pifogMetrics: { level: "error", metrics: false, audit: false, handler: () => (msg: NodeRedLogMessage) => currentServices().metrics.logged(msg) },
  },
};

// the dashboard's pages and files (node-red-dashboard's `ui.middleware`) only for a signed-in browser, of any role
// (nodes/lib/security/dashboard-http.ts); what each role may do is checked on its socket
(settings.ui as Record<string, unknown>).middleware = dashboardHttpGuard(() => currentServices().webSessions);

export = settings;
