// What a newcomer meets on `npm start`: the URLs, a locked editor with a password shown once, a credential
// secret that stays, and one clear line (not a stack trace) when a port is taken or a setting is wrong.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { CLI, startRuntime } from "../support/runtime";

async function login(http: string, password: string): Promise<Response> {
  return fetch(`${http}/admin/auth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: "node-red-editor", grant_type: "password", scope: "*", username: "admin", password }),
  });
}

function runToExit(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-exit-"));
    const child = spawn(process.execPath, [CLI], {
      env: { ...process.env, PIFOG_DATA_DIR: dataDir, PIFOG_HOST: "127.0.0.1", PIFOG_HTTP_PORT: "0", PIFOG_MQTT_PORT: "0", PIFOG_ADMIN_PASSWORD: "x", PIFOG_HARDWARE: "sim", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      fs.rmSync(dataDir, { recursive: true, force: true });
      resolve({ code, stdout, stderr });
    });
  });
}

function occupy(): Promise<net.Server> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

describe("the runtime a newcomer starts", function () {
  this.timeout(60_000);

  it("locks the editor: a password made and shown once, kept as a hash, and a credential secret that stays", async () => {
    let dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-auth-"));
    const first = await startRuntime({ role: "doorpi", env: { PIFOG_ADMIN_PASSWORD: "" }, dataDir, testUsers: false });
    let password: string;
    let secret: string;
    try {
      const shown = /password "([^"]+)"/.exec(first.output());
      assert.ok(shown, `the generated password is printed:\n${first.output()}`);
      password = shown[1]!;
      const http = first.info.http;
      assert.equal((await fetch(`${http}/admin/flows`)).status, 401, "no way in without logging in");
      assert.equal((await login(http, "wrong")).status, 403);
      const ok = await login(http, password);
      assert.equal(ok.status, 200);
      const { access_token } = (await ok.json()) as { access_token: string };
      const flows = await fetch(`${http}/admin/flows`, { headers: { authorization: `Bearer ${access_token}` } });
      assert.equal(flows.status, 200);
      assert.match(await flows.text(), /door-sensor/);
      const users = fs.readFileSync(path.join(dataDir, "identity", "identities.json"), "utf8");
      assert.match(users, /"name": ?"admin"/, "user admin is in the user store");
      assert.equal(users.includes(password), false, "only the hash is stored");
      const secretFile = path.join(dataDir, "credential-secret");
      assert.equal(fs.statSync(secretFile).mode & 0o777, 0o600);
      secret = fs.readFileSync(secretFile, "utf8");
    } finally {
      await first.stop();
    }

    const again = await startRuntime({ role: "doorpi", env: { PIFOG_ADMIN_PASSWORD: "" }, dataDir, testUsers: false });
    try {
      assert.equal(/password "/.test(again.output()), false, "shown once only");
      assert.equal((await login(again.info.http, password)).status, 200, "the same password still works");
      assert.equal(fs.readFileSync(path.join(dataDir, "credential-secret"), "utf8"), secret, "the secret never changes");
    } finally {
      await again.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
      dataDir = "";
    }
  });

  it("takes PIFOG_ADMIN_PASSWORD, sends / to the dashboard and serves /ui once signed in", async () => {
    const fog = await startRuntime({ role: "hub", env: { PIFOG_ADMIN_PASSWORD: "chosen-one" } });
    try {
      assert.equal((await login(fog.info.http, "chosen-one")).status, 200);
      const root = await fetch(`${fog.info.http}/`, { redirect: "manual" });
      assert.equal(root.status, 302);
      assert.match(root.headers.get("location") ?? "", /^\/ui\/?$/);
      const anonymous = await fetch(`${fog.info.http}/ui/`, { redirect: "manual", headers: { accept: "text/html" } });
      assert.equal(anonymous.status, 302, "the dashboard wants a sign-in");
      assert.equal(anonymous.headers.get("location"), "/signin?next=%2Fui%2F");
      // user "admin" with PIFOG_ADMIN_PASSWORD signs in to the dashboard too
      const signedIn = await fetch(`${fog.info.http}/signin`, {
        method: "POST",
        redirect: "manual",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ username: "admin", password: "chosen-one", next: "/ui/" }),
      });
      assert.equal(signedIn.status, 303);
      const ui = await fetch(`${fog.info.http}/ui/`, { headers: { cookie: signedIn.headers.get("set-cookie")!.split(";")[0]! } });
      assert.equal(ui.status, 200);
      assert.match(await ui.text(), /<html/i);
    } finally {
      await fog.stop();
    }
  });

  it("says in one line which port is taken and which variable to change", async () => {
    const mqttHolder = await occupy();
    const httpHolder = await occupy();
    try {
      const mqttPort = (mqttHolder.address() as net.AddressInfo).port;
      const m = await runToExit({ PIFOG_MQTT_PORT: String(mqttPort) });
      assert.equal(m.code, 1);
      assert.equal(m.stderr.trim(), `PiFog: port ${mqttPort} is already in use; set PIFOG_MQTT_PORT to a free port (or PIFOG_MQTT_URL to use the broker that has it)`);
      const httpPort = (httpHolder.address() as net.AddressInfo).port;
      const h = await runToExit({ PIFOG_HTTP_PORT: String(httpPort) });
      assert.equal(h.code, 1);
      assert.match(h.stderr, new RegExp(`^PiFog: port ${httpPort} is already in use; set PIFOG_HTTP_PORT to a free port\\n?$`));
    } finally {
      mqttHolder.close();
      httpHolder.close();
    }
  });

  it("refuses a wrong setting with a clear line", async () => {
    const r = await runToExit({ PIFOG_ROLE: "toaster" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^PiFog: PIFOG_ROLE must be one of all, hub, sensorhub, doorpi, statuspi, sensors, powerpi, powerhub, buttonpi, camerapi, facewriter, not "toaster"\n?$/);
  });
});
