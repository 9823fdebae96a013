// Starts the real PiFog runtime (`dist/nodes/lib/runtime/cli.js`) as a child process on free ports,
// with its own data dir, and stops it. Node-RED is one runtime per process, so every test runtime is a process.
import { ensureTestPeople, presetSession } from "./people";
import type { UserRole } from "../../nodes/lib/identity/types";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ApiTokens } from "../../nodes/lib/security/api-tokens";
import { addUser, initCa, listUsers } from "../../nodes/lib/identity/admin";
import { identityPaths } from "../../nodes/lib/identity/paths";

export const ROOT = path.resolve(__dirname, "..", "..", "..");
export const CLI = path.join(ROOT, "dist", "nodes", "lib", "runtime", "cli.js");

export interface RuntimeInfo {
  role: string;
  http: string;
  dashboard: string;
  editor: string;
  mqtt: string;
  mqttWebSocket: string | null;
  /** The TLS listener (the test data dir has a CA). */
  mqtts: string | null;
  /** The device HTTPS listener (hub, all). */
  deviceHttps?: string | null;
  pid: number;
}

export interface TestRuntime {
  info: RuntimeInfo;
  dataDir: string;
  /** A signed-in session of each test person (the Cookie header's value), made before the runtime started: what a
   * test's browser or dashboard socket sends. */
  cookies: Record<UserRole, string>;
  child: ChildProcess;
  output(): string;
  /** SIGTERM, wait for exit, and remove the data dir if startRuntime made it. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit (the data dir stays, to start again on it). */
  kill(): Promise<void>;
}

/** The MQTT user every test runtime's data dir has (an admin): what a test acting as an operator or a device logs in
 * as. A test about anonymous clients connects without it. */
export const MQTT_ADMIN = { username: "test-admin", password: "test-admin-mqtt-password" } as const;

/** A CA and the tests' MQTT admin in the data dir, unless it has them already (`users: false`: the CA only). */
export async function ensureTestIdentities(dataDir: string, o: { users?: boolean } = {}): Promise<void> {
  if (!fs.existsSync(identityPaths(dataDir).caCert)) await initCa(dataDir, { now: new Date() });
  if (o.users === false) return;
  if (!listUsers(dataDir).some((u) => u.name === MQTT_ADMIN.username)) await addUser(dataDir, MQTT_ADMIN.username, "admin", MQTT_ADMIN.password);
  await ensureTestPeople(dataDir);
}

export interface StartOptions {
  role?: string;
  env?: Record<string, string>;
  dataDir?: string;
  timeoutMs?: number;
  /** false: the user store starts without the tests' people (as a fresh install's: no admin yet). */
  testUsers?: boolean;
}

/** The environment of a test runtime: its role and data dir, free loopback ports, simulated hardware, the test
 * passwords, quiet logs; `extra` last. */
export function testRuntimeEnv(dataDir: string, role: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PIFOG_ROLE: role,
    PIFOG_DATA_DIR: dataDir,
    PIFOG_HTTP_PORT: "0",
    PIFOG_MQTT_PORT: "0",
    PIFOG_MQTTS_PORT: "0",
    PIFOG_DEVICE_HTTPS_PORT: "0",
    PIFOG_HOST: "127.0.0.1",
    PIFOG_HARDWARE: "sim",
    PIFOG_ADMIN_PASSWORD: "test-admin-password",
    PIFOG_OPERATOR_PASSWORD: "test-operator-password",
    PIFOG_LOG_LEVEL: "warn",
    ...extra,
  };
}

export async function startRuntime(options: StartOptions = {}): Promise<TestRuntime> {
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "pifog-test-"));
  const runtimeFile = path.join(dataDir, "runtime.json");
  fs.rmSync(runtimeFile, { force: true });
  await ensureTestIdentities(dataDir, { users: options.testUsers });
  const cookies = { viewer: presetSession(dataDir, "viewer"), operator: presetSession(dataDir, "operator"), admin: presetSession(dataDir, "admin") };
  const env = testRuntimeEnv(dataDir, options.role ?? "all", options.env);
  const child = spawn(process.execPath, [CLI], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let info: RuntimeInfo | null = null;
  while (!info) {
    if (child.exitCode !== null) throw new Error(`PiFog exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`PiFog did not start in time:\n${output}`);
    }
    try {
      const candidate = JSON.parse(fs.readFileSync(runtimeFile, "utf8")) as RuntimeInfo;
      if (candidate.pid === child.pid) info = candidate;
    } catch {
      // not written yet
    }
    if (!info) await new Promise((r) => setTimeout(r, 50));
  }
  const ready = info;
  return {
    info: ready,
    dataDir,
    cookies,
    child,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
      // a data dir this helper made is removed; one the test passed in is the test's to keep or remove
      if (ownsDataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
    kill: async () => {
      if (child.exitCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}

/** A bearer token for the runtime's editor API, logged in as the tests' admin. */
export async function adminToken(http: string): Promise<string> {
  const res = await fetch(`${http}/admin/auth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: "node-red-editor", grant_type: "password", scope: "*", username: "admin", password: "test-admin-password" }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

/** Headers for the runtime's history API as a viewer (a token made with the runtime's own secret in its data dir,
 * as POST /api/auth would give a viewer). */
export function viewerHeaders(dataDir: string): Record<string, string> {
  const { token } = ApiTokens.forDataDir(dataDir, { now: () => Date.now() }).issue({ name: "test-viewer", role: "viewer" });
  return { authorization: `Bearer ${token}` };
}

export type FlowNodes = Array<Record<string, unknown>>;

/** As a user in the editor: reads the deployed flow, lets `change` edit it (node settings, `d`, `credentials`),
 * and deploys it (`nodes`: only the changed nodes restart, as the editor's default deploy; `full`: all). */
export async function redeploy(http: string, change: (flows: FlowNodes) => void, type: "nodes" | "full" = "full"): Promise<void> {
  const auth = { authorization: `Bearer ${await adminToken(http)}` };
  const flows = (await (await fetch(`${http}/admin/flows`, { headers: auth })).json()) as FlowNodes;
  change(flows);
  const deployed = await fetch(`${http}/admin/flows`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json", "Node-RED-Deployment-Type": type },
    body: JSON.stringify(flows),
  });
  if (![200, 204].includes(deployed.status)) throw new Error(`deploy: HTTP ${deployed.status} ${await deployed.text()}`);
}
