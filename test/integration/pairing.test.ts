// Pairing a Pi end to end: a hub runtime and a separately started DoorPi runtime with PIFOG_HUB_URL and no identity.
// The Pi prints a code and the hub CA's fingerprint; an admin approves the code over the hub's API; the Pi stores its
// identity 0600, connects over TLS as the device the admin named and shows online; a revoked Pi is dropped and
// refused. Around it: wrong, reused and expired codes, the limits, and who may use the admin routes.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Audit } from "../../nodes/lib/audit/audit";
import { addUser } from "../../nodes/lib/identity/admin";
import { pinnedCaFile } from "../../nodes/lib/identity/pair-client";
import type { DeviceOverview } from "../../nodes/lib/identity/pairing-types";
import { bundlePaths, ownBundleDir, readBundle } from "../../nodes/lib/identity/paths";
import { CLI, startRuntime, testRuntimeEnv, type RuntimeInfo, type TestRuntime } from "../support/runtime";
import { attempt, tlsAs } from "../support/security";
import { until } from "../support/until";

const ADMIN = { username: "pair-admin", password: "pair-admin-password" };
const VIEWER = { username: "pair-viewer", password: "pair-viewer-password" };

async function hubWithUsers(env: Record<string, string> = {}): Promise<TestRuntime> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-pair-hub-"));
  await addUser(dataDir, ADMIN.username, "admin", ADMIN.password);
  await addUser(dataDir, VIEWER.username, "viewer", VIEWER.password);
  const rt = await startRuntime({ role: "hub", dataDir, env });
  const stop = rt.stop;
  return { ...rt, stop: async () => (await stop(), fs.rmSync(dataDir, { recursive: true, force: true })) };
}

async function token(http: string, who: { username: string; password: string }): Promise<string> {
  const res = await fetch(`${http}/api/auth`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(who) });
  assert.equal(res.status, 200, await res.clone().text());
  return ((await res.json()) as { token: string }).token;
}

async function call(http: string, method: string, route: string, bearer?: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${http}${route}`, {
    method,
    headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

/** What a Pi sends, made here (a test acting as a Pi without starting one). */
function piRequest(suggestedId: string): Record<string, unknown> {
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return { role: "doorpi", suggestedId, version: "test", login: "certificate", publicKey: publicKey.export({ type: "spki", format: "pem" }).toString() };
}

interface PiProcess {
  child: ChildProcess;
  dataDir: string;
  output(): string;
  stop(): Promise<void>;
}

/** A Pi runtime that is not ready until it is paired, so it is started here rather than by startRuntime. */
function startPi(hubHttp: string, deviceId: string, env: Record<string, string> = {}): PiProcess {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-pair-pi-"));
  const child = spawn(process.execPath, [CLI], {
    env: testRuntimeEnv(dataDir, "doorpi", { PIFOG_DEVICE_ID: deviceId, PIFOG_HUB_URL: hubHttp, PIFOG_PAIR_POLL_MS: "100", ...env }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    child,
    dataDir,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const modeOf = (file: string) => fs.statSync(file).mode & 0o777;

describe("pairing a Pi by a code (a hub and a separately started Pi)", function () {
  this.timeout(120_000);
  let hub: TestRuntime;
  let pi: PiProcess;
  let plainPi: PiProcess | undefined;
  let adminToken: string;
  let viewerToken: string;
  let code: string;

  before(async () => {
    hub = await hubWithUsers();
    adminToken = await token(hub.info.http, ADMIN);
    viewerToken = await token(hub.info.http, VIEWER);
  });
  after(async () => {
    await pi?.stop();
    await plainPi?.stop();
    await hub?.stop();
  });

  it("pairs a Pi end to end: code and fingerprint on its console, approval by an admin, identity 0600, online", async () => {
    pi = startPi(hub.info.http, "pi-under-test");
    await until(() => /enter the code ([A-Z2-9]{4}-[A-Z2-9]{4})/.test(pi.output()) || pi.child.exitCode !== null, "the Pi's pairing code", 30_000, () => pi.output());
    const printed = pi.output();
    code = /enter the code ([A-Z2-9]{4}-[A-Z2-9]{4})/.exec(printed)![1]!;
    const piFingerprint = /same CA fingerprint:\s+([0-9A-F:]{95})/.exec(printed)?.[1];
    assert.ok(printed.includes(`${hub.info.http}/ui/`), "the pairing URL: the hub's dashboard");

    // the admin's side: the same fingerprint, and the Pi waiting with its code, role and version
    const pending = await call(hub.info.http, "GET", "/api/pairing", adminToken);
    assert.equal(pending.status, 200);
    assert.equal(pending.body.caFingerprint, piFingerprint, "both sides show the same CA fingerprint");
    assert.ok(hub.output().includes(`the CA's fingerprint it shows must be ${piFingerprint}`), "the hub's console shows it too");
    const waiting = (pending.body.pending as Array<Record<string, unknown>>).find((p) => p.suggestedId === "pi-under-test");
    assert.equal(waiting?.code, `${code.slice(0, 2)}**-****`, "the hub shows the code masked: it is read off the Pi");
    assert.deepEqual(waiting && [waiting.role, waiting.suggestedId, waiting.address], ["doorpi", "pi-under-test", "127.0.0.1"]);

    const approved = await call(hub.info.http, "POST", "/api/pairing/approve", adminToken, { code: code.toLowerCase(), id: "front-door-pi", owner: ADMIN.username });
    assert.equal(approved.status, 200, JSON.stringify(approved.body));

    // the Pi fetches its identity, stores it 0600 and starts as the device the admin named
    const runtimeFile = path.join(pi.dataDir, "runtime.json");
    await until(() => fs.existsSync(runtimeFile) || pi.child.exitCode !== null, "the Pi's start after pairing", 60_000, () => pi.output());
    assert.equal(pi.child.exitCode, null, pi.output());
    const info = JSON.parse(fs.readFileSync(runtimeFile, "utf8")) as RuntimeInfo;
    assert.match(info.mqtt, new RegExp(`^mqtts://127\\.0\\.0\\.1:${new URL(hub.info.mqtts!).port}$`), "the Pi's broker: the hub's TLS listener");
    assert.match(pi.output(), /paired as "front-door-pi"/);
    const dir = ownBundleDir(pi.dataDir, "pi-under-test", {});
    const files = bundlePaths(dir);
    for (const file of [files.cert, files.key, files.ca, files.hub, pinnedCaFile(pi.dataDir)]) assert.equal(modeOf(file), 0o600, file);
    const bundle = readBundle(dir)!;
    assert.deepEqual([bundle.device, bundle.role], ["front-door-pi", "doorpi"]);
    assert.equal(bundle.ca, fs.readFileSync(path.join(hub.dataDir, "identity", "ca.crt"), "utf8"), "the pinned CA is the hub's");

    await until(
      async () => {
        const devices = (await call(hub.info.http, "GET", "/api/devices", adminToken)).body.devices as DeviceOverview[];
        const d = devices.find((x) => x.id === "front-door-pi");
        return !!d && d.online && d.owner === ADMIN.username && !!d.version && d.lastSeen !== undefined;
      },
      "the paired Pi online in the Devices list, with its owner and version",
      30_000,
      async () => (await call(hub.info.http, "GET", "/api/devices", adminToken)).body,
    );
    const audit = new Audit(hub.dataDir).read();
    assert.ok(audit.some((r) => r.event === "pairing.approved" && r.device === "front-door-pi" && r.who === `user:${ADMIN.username} from 127.0.0.1`));
    assert.ok(audit.some((r) => r.event === "pairing.fetched" && r.device === "front-door-pi"));
  });

  it("pairs a Pi that cannot do TLS with a user name and password, and it shows online", async () => {
    plainPi = startPi(hub.info.http, "plain-pi", { PIFOG_PAIR_LOGIN: "password" });
    const p = plainPi;
    await until(() => /enter the code ([A-Z2-9]{4}-[A-Z2-9]{4})/.test(p.output()) || p.child.exitCode !== null, "the plain Pi's code", 30_000, () => p.output());
    const plainCode = /enter the code ([A-Z2-9]{4}-[A-Z2-9]{4})/.exec(p.output())![1]!;
    const approved = await call(hub.info.http, "POST", "/api/pairing/approve", adminToken, { code: plainCode, id: "plain-pi", owner: ADMIN.username });
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    await until(() => fs.existsSync(path.join(p.dataDir, "runtime.json")) || p.child.exitCode !== null, "the plain Pi's start", 60_000, () => p.output());
    const info = JSON.parse(fs.readFileSync(path.join(p.dataDir, "runtime.json"), "utf8")) as RuntimeInfo;
    assert.equal(info.mqtt, `mqtt://127.0.0.1:${new URL(hub.info.mqtt).port}`, "the hub's plain port, and no password in the URL");
    const login = path.join(ownBundleDir(p.dataDir, "plain-pi", {}), "login.json");
    assert.equal(modeOf(login), 0o600);
    assert.ok(!p.output().includes(JSON.parse(fs.readFileSync(login, "utf8")).password as string), "the password is never printed");
    await until(
      async () => ((await call(hub.info.http, "GET", "/api/devices", adminToken)).body.devices as DeviceOverview[]).some((d) => d.id === "plain-pi" && d.online && d.login === "password"),
      "the plain Pi online, logged in with its password",
      30_000,
      async () => [(await call(hub.info.http, "GET", "/api/devices", adminToken)).body, p.output().slice(-3000), new Audit(hub.dataDir).read().slice(-5)],
    );
  });

  it("refuses a wrong code and a reused one, clearly and on the record", async () => {
    const wrong = await call(hub.info.http, "POST", "/api/pairing/approve", adminToken, { code: "ZZZZ-ZZZZ", id: "x", owner: ADMIN.username });
    assert.equal(wrong.status, 404);
    assert.match(String(wrong.body.error), /no Pi is waiting with that code/);
    const reused = await call(hub.info.http, "POST", "/api/pairing/approve", adminToken, { code, id: "second-pi", owner: ADMIN.username });
    assert.equal(reused.status, 409);
    assert.match(String(reused.body.error), /used already/);
    const audit = new Audit(hub.dataDir).read().filter((r) => r.event === "pairing.refused");
    assert.deepEqual(audit.map((r) => r.outcome), ["unknown-code", "used"]);
    assert.ok(!JSON.stringify(audit).includes(code), "never the whole code in the record");
  });

  it("keeps the admin routes for admins: a viewer gets 403, anonymous 401, a poll without its token 401", async () => {
    const routes: Array<[string, string, unknown?]> = [
      ["GET", "/api/devices"],
      ["GET", "/api/pairing"],
      ["POST", "/api/pairing/approve", { code: "ABCD-EFGH", id: "x", owner: ADMIN.username }],
      ["POST", "/api/devices/front-door-pi/revoke"],
    ];
    for (const [method, route, body] of routes) {
      assert.equal((await call(hub.info.http, method, route, viewerToken, body)).status, 403, `${method} ${route} as a viewer`);
      const anonymous = await call(hub.info.http, method, route, undefined, body);
      assert.equal(anonymous.status, 401, `${method} ${route} anonymous`);
    }
    const ticket = await call(hub.info.http, "POST", "/api/pairing", undefined, piRequest("curious-pi"));
    assert.equal(ticket.status, 201);
    assert.equal((await call(hub.info.http, "GET", `/api/pairing/${String(ticket.body.id)}`)).status, 401);
    assert.equal((await call(hub.info.http, "GET", `/api/pairing/${String(ticket.body.id)}`, "not-its-token")).status, 401);
    const bad = await call(hub.info.http, "POST", "/api/pairing", undefined, { role: "all", suggestedId: "x", version: "1" });
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.error), /role/);
    assert.ok(new Audit(hub.dataDir).read().some((r) => r.event === "api.refused" && r.status === 403));
    assert.ok(new Audit(hub.dataDir).read().some((r) => r.event === "pairing.request.refused"));
    const stillThere = ((await call(hub.info.http, "GET", "/api/devices", adminToken)).body.devices as DeviceOverview[]).find((d) => d.id === "front-door-pi");
    assert.equal(stillThere?.revokedAt, undefined, "the viewer's revoke did nothing");
  });

  it("revokes a paired Pi: the list shows it, the broker drops it and refuses its certificate", async () => {
    const bundle = readBundle(ownBundleDir(pi.dataDir, "pi-under-test", {}))!;
    const before = await attempt(hub.info.mqtts!, tlsAs("front-door-pi:probe", bundle, bundle.ca), 5000);
    assert.ok(before.ok, "the Pi's certificate gets in before");
    before.client.end(true);
    const revoked = await call(hub.info.http, "POST", "/api/devices/front-door-pi/revoke", adminToken);
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    const row = ((await call(hub.info.http, "GET", "/api/devices", adminToken)).body.devices as DeviceOverview[]).find((d) => d.id === "front-door-pi")!;
    assert.ok(row.revokedAt);
    assert.equal(row.online, false);
    await until(() => new Audit(hub.dataDir).read().some((r) => r.event === "mqtt.client.revoked" && String(r.clientId).startsWith("front-door-pi")), "the Pi's connections dropped");
    assert.equal((await attempt(hub.info.mqtts!, tlsAs("front-door-pi:probe", bundle, bundle.ca), 5000)).ok, false, "its certificate is refused from then on");
    const again = await call(hub.info.http, "POST", "/api/devices/front-door-pi/revoke", adminToken);
    assert.equal(again.status, 409);
  });
});

describe("pairing: expired codes and the limits (a hub with a 1 s code and 3 requests per address)", function () {
  this.timeout(60_000);
  let hub: TestRuntime;
  let adminToken: string;

  before(async () => {
    hub = await hubWithUsers({ PIFOG_PAIR_CODE_SECONDS: "1", PIFOG_PAIR_REQUESTS: "3" });
    adminToken = await token(hub.info.http, ADMIN);
  });
  after(async () => {
    await hub?.stop();
  });

  it("refuses an expired code on both sides", async () => {
    const ticket = await call(hub.info.http, "POST", "/api/pairing", undefined, piRequest("slow-pi"));
    assert.equal(ticket.status, 201);
    const poll = () => call(hub.info.http, "GET", `/api/pairing/${String(ticket.body.id)}`, String(ticket.body.pollToken));
    await until(async () => (await poll()).status === 410, "the code to expire");
    const piSide = await poll();
    assert.match(String(piSide.body.error), /expired.*ask for a new one/);
    const adminSide = await call(hub.info.http, "POST", "/api/pairing/approve", adminToken, { code: ticket.body.code, id: "slow-pi", owner: ADMIN.username });
    assert.equal(adminSide.status, 410);
    assert.match(String(adminSide.body.error), /expired/);
    assert.ok(new Audit(hub.dataDir).read().some((r) => r.event === "pairing.refused" && r.outcome === "expired"));
  });

  it("limits pairing requests per address: 429 with Retry-After", async () => {
    // the test above made one
    for (const id of ["pi-2", "pi-3"]) assert.equal((await call(hub.info.http, "POST", "/api/pairing", undefined, piRequest(id))).status, 201);
    const limited = await call(hub.info.http, "POST", "/api/pairing", undefined, piRequest("pi-4"));
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get("retry-after")) > 0);
    assert.match(String(limited.body.error), /too many pairing requests/);
    assert.ok(new Audit(hub.dataDir).read().some((r) => r.event === "pairing.throttled"));
  });

  it("limits wrong codes per address: after five, 429 with Retry-After", async () => {
    // the expired code above was the first wrong one
    for (let i = 0; i < 4; i++) {
      assert.equal((await call(hub.info.http, "POST", "/api/pairing/approve", adminToken, { code: "ZZZZ-ZZZZ", id: "x", owner: ADMIN.username })).status, 404);
    }
    const limited = await call(hub.info.http, "POST", "/api/pairing/approve", adminToken, { code: "ZZZZ-ZZZZ", id: "x", owner: ADMIN.username });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get("retry-after")) > 0);
    assert.match(String(limited.body.error), /too many wrong codes/);
  });
});
