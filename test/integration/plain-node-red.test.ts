// `node-red -s dist/settings.js`, without the launcher: every PiFog node still loads and the flows start, and the
// log says what is missing (the embedded broker, which only `npm start` starts).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePorts } from "../support/ports";
import { ROOT } from "../support/runtime";
import { until } from "../support/until";

describe("a plain node-red -s dist/settings.js", function () {
  this.timeout(60_000);

  it("loads every node, starts the flows and says that the embedded broker is only started by npm start", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-plain-"));
    const [httpPort, deadMqttPort] = await freePorts(2);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PIFOG_ROLE: "all",
      PIFOG_DATA_DIR: dataDir,
      PIFOG_HTTP_PORT: String(httpPort),
      // nobody listens there: the devices keep trying, the runtime keeps going
      PIFOG_MQTT_PORT: String(deadMqttPort),
      PIFOG_HOST: "127.0.0.1",
      PIFOG_HARDWARE: "sim",
      PIFOG_ADMIN_PASSWORD: "test-admin-password",
      PIFOG_OPERATOR_PASSWORD: "test-operator-password",
      PIFOG_LOG_LEVEL: "info",
    };
    delete env.PIFOG_MQTT_URL;
    const red = path.join(ROOT, "node_modules", "node-red", "red.js");
    const child = spawn(process.execPath, [red, "-s", path.join(ROOT, "dist", "settings.js")], { env, cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    try {
      await until(() => /Started flows/.test(output) || child.exitCode !== null, "Node-RED to start the flows", 45_000, () => output);
      assert.match(output, /Started flows/, output);
      assert.match(output, /no embedded MQTT broker in this process \(only `npm start` starts one\)/);
      assert.doesNotMatch(output, /Waiting for missing types|Failed to register|MissingServicesError/, output);
      // the dashboard stays closed to a browser that is not signed in (the sign-in pages are the launcher's)
      const ui = await fetch(`http://127.0.0.1:${env.PIFOG_HTTP_PORT}/ui/`, { redirect: "manual", headers: { accept: "text/html" } });
      assert.equal(ui.status, 302);
      assert.equal(ui.headers.get("location"), "/signin?next=%2Fui%2F");
    } finally {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
