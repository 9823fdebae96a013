// Node-RED settings for PiFog, from the environment (see nodes/lib/runtime/config.ts and the README).
// Used by the embedded launcher (`npm start`) and also by a plain `node-red -s dist/settings.js`,
// which is why this is `export =` and not `export default` (the CLI does not unwrap `.default`).
import path from "node:path";
import { readConfig } from "./nodes/lib/runtime/config";
import { seedFlowFile } from "./nodes/lib/runtime/flows";
import { adminAccount, credentialSecret } from "./nodes/lib/runtime/secrets";

const config = readConfig();
const admin = adminAccount(config.dataDir, config.adminPassword);
if (admin.generatedPassword) {
  // printed once: only the hash is kept
  console.log(
    `\nPiFog editor login (shown once): user "${admin.username}", password "${admin.generatedPassword}"\n` +
      `  (set PIFOG_ADMIN_PASSWORD to choose it; the hash is in ${path.join(config.dataDir, "admin.json")})\n`,
  );
}

const settings = {
  uiPort: config.httpPort,
  uiHost: config.host,
  userDir: config.dataDir,
  flowFile: seedFlowFile(config.dataDir, config.role),
  flowFilePretty: true,
  credentialSecret: credentialSecret(config.dataDir),
  httpAdminRoot: "/admin",
  httpNodeRoot: "/",
  ui: { path: "ui" },
  adminAuth: {
    type: "credentials",
    users: [{ username: admin.username, password: admin.hash, permissions: "*" }],
  },
  // the package root: Node-RED loads it as the module "pifog" (package.json "node-red"), with its nodes' locales
  nodesDir: [path.resolve(__dirname, "..")],
  pifogDataDir: config.dataDir,
  // the broker's packet limit, so the history stores whatever the broker accepted (nodes/lib/broker/limits.ts)
  pifogMqttMaxPacket: config.mqttMaxPacket,
  // the dashboard's operators (nodes/operator-gate): the editor's users
  pifogOperators: [{ username: admin.username, hash: admin.hash }],
  pifogRole: config.role,
  externalModules: { autoInstall: false, palette: { allowInstall: false, allowUpload: false } },
  functionExternalModules: false,
  diagnostics: { enabled: false, ui: false },
  telemetry: { enabled: false, updateNotification: false },
  editorTheme: {
    page: { title: "PiFog" },
    header: { title: "PiFog" },
    projects: { enabled: false },
    tours: false,
    palette: { catalogues: [] as string[] },
  },
  logging: { console: { level: process.env.PIFOG_LOG_LEVEL || "info", metrics: false, audit: false } },
};

export = settings;
