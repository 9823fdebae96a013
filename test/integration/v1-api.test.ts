// The /v1 account API on a running power hub (role powerhub), as detectordag's frontend calls it: accounts made
// with the CLI, device states fed by a power Pi over MQTT, then every endpoint and every error case.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { signToken } from "../../nodes/lib/accounts/jwt";
import { TestClient } from "../support/mqtt";
import { MQTT_ADMIN, ROOT, startRuntime, type TestRuntime } from "../support/runtime";

const ACCOUNTS_CLI = path.join(ROOT, "dist", "nodes", "lib", "accounts", "cli.js");
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

describe("the /v1 account API", function () {
  this.timeout(60_000);
  let fog: TestRuntime;
  let base: string;
  let sam: { token: string; accountId: string };
  let kim: { token: string; accountId: string };
  let attachedFrom = 0;
  let attachedTo = 0;

  function accounts(...args: string[]) {
    const r = spawnSync(process.execPath, [ACCOUNTS_CLI, ...args], { env: { ...process.env, PIFOG_DATA_DIR: fog.dataDir, PIFOG_ROLE: "powerhub" }, encoding: "utf8" });
    assert.equal(r.status, 0, `accounts ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  }

  async function call(method: string, url: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: {
        ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...options.headers,
      },
      body: options.body === undefined ? undefined : typeof options.body === "string" ? options.body : JSON.stringify(options.body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : null };
  }

  async function login(username: string, password: string) {
    const r = await call("POST", "/v1/auth", { body: { username, password } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as { token: string; accountId: string };
  }

  before(async () => {
    fog = await startRuntime({ role: "powerhub" });
    base = fog.info.http;
    accounts("create", "--username", "sam@example.com", "--password", "correct horse", "--email", "sam@example.com", "--email", "alex@example.com");
    accounts("create", "--username", "kim@example.com", "--password", "kims password");
    accounts("attach", "--account", "sam@example.com", "--device", "garage", "--name", "Garage");
    attachedFrom = Date.now();
    accounts("attach", "--account", "kim@example.com", "--device", "kims-pi");
    attachedTo = Date.now();
    // a power Pi reports: online, mains off since T0 (the hub's tracker records it)
    const pi = await TestClient.connect(fog.info.mqtt, { ...MQTT_ADMIN, clientId: "pifog-garage" }); // as the garage Pi's link names itself
    try {
      await pi.subscribe("pifog/garage/connection");
      await pi.publish("pifog/garage/status", JSON.stringify({ state: "online", device: "garage", role: "powerpi", addresses: [], bootTime: new Date(T0).toISOString(), startedAt: new Date(T0).toISOString(), version: "t", hardware: "sim", timestamp: new Date(T0).toISOString() }), { retain: true });
      await pi.publish("pifog/garage/power", JSON.stringify({ device: "garage", mains: "off", changedAt: new Date(T0).toISOString(), battery: null, timestamp: new Date(T0).toISOString() }), { retain: true });
      await pi.waitFor("pifog/garage/connection", (m) => m.payload.includes('"connected"'));
    } finally {
      await pi.end();
    }
    sam = await login("sam@example.com", "correct horse");
    kim = await login("kim@example.com", "kims password");
  });

  after(async () => {
    await fog?.stop();
  });

  describe("POST /v1/auth", () => {
    it("answers a token and the account id, with the original's CORS and content type", async () => {
      const r = await call("POST", "/v1/auth", { body: { username: "sam@example.com", password: "correct horse" } });
      assert.equal(r.status, 200);
      assert.deepEqual(Object.keys(r.body!).sort(), ["accountId", "token"]);
      assert.match(r.body!.accountId as string, /^[0-9a-f-]{36}$/);
      assert.equal((r.body!.token as string).split(".").length, 3);
      assert.equal(r.headers.get("access-control-allow-origin"), "*");
      assert.match(r.headers.get("content-type") ?? "", /^application\/json; charset=UTF-8$/i);
      assert.equal(sam.accountId, r.body!.accountId);
      assert.notEqual(sam.accountId, kim.accountId);
    });

    it("403 for a wrong password or an unknown user, with an error body", async () => {
      for (const body of [{ username: "sam@example.com", password: "wrong horse" }, { username: "nobody@example.com", password: "correct horse" }]) {
        const r = await call("POST", "/v1/auth", { body });
        assert.equal(r.status, 403, JSON.stringify(body));
        assert.equal(typeof r.body!.error, "string");
        assert.equal(r.body!.token, undefined);
      }
    });

    it("400 for a bad body", async () => {
      for (const body of ["not json", "[1,2]", "{}", JSON.stringify({ username: "sam@example.com" }), JSON.stringify({ username: 1, password: 2 })]) {
        const r = await call("POST", "/v1/auth", { body });
        assert.equal(r.status, 400, body);
        assert.equal(typeof r.body!.error, "string", body);
      }
    });
  });

  describe("accounts", () => {
    it("GET /v1/accounts/{id} answers the username and the e-mails", async () => {
      const r = await call("GET", `/v1/accounts/${sam.accountId}`, { token: sam.token });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { username: "sam@example.com", emails: ["sam@example.com", "alex@example.com"] });
      const k = await call("GET", `/v1/accounts/${kim.accountId}`, { token: kim.token });
      assert.deepEqual(k.body, { username: "kim@example.com", emails: [] }, "an empty list, never null");
    });

    it("PATCH /v1/accounts/{id} replaces the e-mails and answers the account", async () => {
      const r = await call("PATCH", `/v1/accounts/${kim.accountId}`, { token: kim.token, body: { emails: ["kim@example.com", "kim@example.org"] } });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { username: "kim@example.com", emails: ["kim@example.com", "kim@example.org"] });
      assert.deepEqual((await call("GET", `/v1/accounts/${kim.accountId}`, { token: kim.token })).body!.emails, ["kim@example.com", "kim@example.org"]);
      assert.match(accounts("list"), /kim@example\.com, kim@example\.org/, "the CLI sees the same store");
    });

    it("PATCH with bad e-mails or without them is 400 and changes nothing", async () => {
      for (const body of [{ emails: ["not an address"] }, { emails: "kim@example.com" }, { emails: [1] }, {}, "[]"]) {
        const r = await call("PATCH", `/v1/accounts/${kim.accountId}`, { token: kim.token, body });
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal(typeof r.body!.error, "string");
      }
      assert.deepEqual((await call("GET", `/v1/accounts/${kim.accountId}`, { token: kim.token })).body!.emails, ["kim@example.com", "kim@example.org"]);
    });

    it("another account's id (or an unknown one) is 404 Not found, for every account endpoint", async () => {
      for (const [method, url, body] of [
        ["GET", `/v1/accounts/${kim.accountId}`, undefined],
        ["PATCH", `/v1/accounts/${kim.accountId}`, { emails: ["evil@example.com"] }],
        ["GET", `/v1/accounts/${kim.accountId}/devices`, undefined],
        ["GET", "/v1/accounts/00000000-0000-4000-8000-000000000000", undefined],
        ["GET", "/v1/accounts/not-a-uuid", undefined],
      ] as const) {
        const r = await call(method, url, { token: sam.token, body });
        assert.equal(r.status, 404, `${method} ${url}`);
        assert.deepEqual(r.body, { error: "Not found" });
      }
      assert.deepEqual((await call("GET", `/v1/accounts/${kim.accountId}`, { token: kim.token })).body!.emails, ["kim@example.com", "kim@example.org"]);
    });
  });

  describe("devices", () => {
    it("GET /v1/accounts/{id}/devices answers each device's power and connection as the original did", async () => {
      const r = await call("GET", `/v1/accounts/${sam.accountId}/devices`, { token: sam.token });
      assert.equal(r.status, 200);
      const list = r.body as unknown as Array<Record<string, any>>;
      assert.equal(list.length, 1);
      const d = list[0]!;
      assert.deepEqual(Object.keys(d).sort(), ["connection", "deviceId", "name", "state"]);
      assert.equal(d.name, "Garage");
      assert.equal(d.deviceId, "garage");
      assert.deepEqual(d.state, { power: "off", updated: "2026-01-01T12:00:00Z" }, "the power Pi's time, RFC 3339 as Go writes it");
      assert.equal(d.connection.status, "connected");
      assert.match(d.connection.updated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      // a device the hub has not heard from yet: values the original's frontend can show (it throws on null and
      // loses the card), "disconnected" and power "on" since it was attached
      const k = (await call("GET", `/v1/accounts/${kim.accountId}/devices`, { token: kim.token })).body as unknown as Array<Record<string, any>>;
      assert.equal(k.length, 1);
      assert.deepEqual(Object.keys(k[0]!).sort(), ["connection", "deviceId", "name", "state"]);
      assert.deepEqual({ name: k[0]!.name, deviceId: k[0]!.deviceId }, { name: "kims-pi", deviceId: "kims-pi" });
      assert.equal(k[0]!.state.power, "on");
      assert.equal(k[0]!.connection.status, "disconnected");
      assert.equal(k[0]!.state.updated, k[0]!.connection.updated);
      const attached = Date.parse(k[0]!.connection.updated);
      assert.ok(attached >= attachedFrom && attached <= attachedTo, `dated from its attachment, not ${k[0]!.connection.updated}`);
      assert.doesNotMatch(JSON.stringify(k), /null/);
    });

    it("PATCH /v1/devices/{id} renames the device and answers it", async () => {
      const r = await call("PATCH", "/v1/devices/garage", { token: sam.token, body: { name: "Garage freezer" } });
      assert.equal(r.status, 200);
      assert.equal(r.body!.name, "Garage freezer");
      assert.equal(r.body!.deviceId, "garage");
      assert.deepEqual(r.body!.state, { power: "off", updated: "2026-01-01T12:00:00Z" });
      const list = (await call("GET", `/v1/accounts/${sam.accountId}/devices`, { token: sam.token })).body as unknown as Array<{ name: string }>;
      assert.equal(list[0]!.name, "Garage freezer");
    });

    it("PATCH /v1/devices/{id} with a bad name is 400", async () => {
      for (const body of [{ name: "" }, { name: 7 }, {}, { name: "x".repeat(200) }]) {
        const r = await call("PATCH", "/v1/devices/garage", { token: sam.token, body });
        assert.equal(r.status, 400, JSON.stringify(body));
      }
    });

    it("another account's device, an unknown one or a bad id is 404 and is not renamed", async () => {
      for (const id of ["kims-pi", "no-such-device", "bad%2Fid"]) {
        const r = await call("PATCH", `/v1/devices/${id}`, { token: sam.token, body: { name: "mine now" } });
        assert.equal(r.status, 404, id);
        assert.deepEqual(r.body, { error: "Not found" });
      }
      const k = (await call("GET", `/v1/accounts/${kim.accountId}/devices`, { token: kim.token })).body as unknown as Array<{ name: string }>;
      assert.equal(k[0]!.name, "kims-pi");
    });
  });

  describe("authorisation", () => {
    const protectedCalls = () =>
      [
        ["GET", `/v1/accounts/${sam.accountId}`, undefined],
        ["PATCH", `/v1/accounts/${sam.accountId}`, { emails: ["evil@example.com"] }],
        ["GET", `/v1/accounts/${sam.accountId}/devices`, undefined],
        ["PATCH", "/v1/devices/garage", { name: "evil" }],
      ] as const;

    it("401 without an Authorization header (the original answered 500)", async () => {
      for (const [method, url, body] of protectedCalls()) {
        const r = await call(method, url, { body });
        assert.equal(r.status, 401, `${method} ${url}`);
        assert.equal(typeof r.body!.error, "string");
      }
      for (const header of ["", "Basic c2FtOnB3", "Bearer", sam.token]) {
        const r = await call("GET", `/v1/accounts/${sam.accountId}`, { headers: { authorization: header } });
        assert.equal(r.status, 401, `Authorization: ${header.slice(0, 20)}`);
      }
    });

    it("403 for a tampered, a foreign or an expired token", async () => {
      const [h, p, s] = sam.token.split(".");
      const claims = JSON.parse(Buffer.from(p!, "base64url").toString());
      const asKim = Buffer.from(JSON.stringify({ ...claims, sub: kim.accountId, accountId: kim.accountId })).toString("base64url");
      const secret = fs.readFileSync(path.join(fog.dataDir, "jwt-secret"), "utf8").trim();
      assert.equal(fs.statSync(path.join(fog.dataDir, "jwt-secret")).mode & 0o777, 0o600);
      const tokens = {
        tampered: `${h}.${asKim}.${s}`,
        "another secret": signToken(sam.accountId, "not the hub's secret", Date.now()),
        expired: signToken(sam.accountId, secret, Date.now() - 3 * 3_600_000),
        garbage: "abc.def.ghi",
      };
      for (const [what, token] of Object.entries(tokens)) {
        for (const [method, url, body] of protectedCalls()) {
          const r = await call(method, url, { token, body });
          assert.equal(r.status, 403, `${what}: ${method} ${url}`);
          assert.equal(typeof r.body!.error, "string");
        }
      }
      // the same secret, still valid: accepted (so the expired case above failed for its expiry alone)
      const fresh = signToken(sam.accountId, secret, Date.now() - 3_600_000);
      assert.equal((await call("GET", `/v1/accounts/${sam.accountId}`, { token: fresh })).status, 200);
      // nothing changed underneath
      assert.deepEqual((await call("GET", `/v1/accounts/${sam.accountId}`, { token: sam.token })).body!.emails, ["sam@example.com", "alex@example.com"]);
    });
  });

  describe("the accounts CLI", () => {
    function fails(args: string[], code: number, message: RegExp) {
      const r = spawnSync(process.execPath, [ACCOUNTS_CLI, ...args], { env: { ...process.env, PIFOG_DATA_DIR: fog.dataDir, PIFOG_ROLE: "powerhub" }, encoding: "utf8" });
      assert.equal(r.status, code, `accounts ${args.join(" ")}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message);
    }

    it("says what is wrong, with exit 2 for bad usage and 1 for a refusal", () => {
      fails(["frobnicate"], 2, /unknown command "frobnicate"/);
      fails(["create", "--password", "long enough"], 2, /--username is required/);
      fails(["create", "--username", "x@example.com", "--password"], 2, /--password needs a value/);
      fails(["attach", "--account", "sam@example.com", "--device", "a/b"], 2, /not a device id/);
      fails(["emails", "--account", "sam@example.com"], 2, /--email .* or --clear/);
      fails(["create", "--username", "sam@example.com", "--password", "long enough"], 1, /taken/);
      fails(["create", "--username", "new@example.com", "--password", "short"], 1, /at least 8/);
      fails(["attach", "--account", "nobody@example.com", "--device", "x"], 1, /no account with username "nobody@example.com"/);
      fails(["emails", "--account", "sam@example.com", "--email", "nope"], 1, /e-mail addresses/);
    });

    it("lists accounts, their e-mails and devices (as JSON too)", () => {
      const list = JSON.parse(accounts("list", "--json")) as Array<{ username: string; emails: string[]; devices: Array<{ id: string }> }>;
      assert.deepEqual(list.map((a) => [a.username, a.devices.map((d) => d.id)]), [["kim@example.com", ["kims-pi"]], ["sam@example.com", ["garage"]]]);
      assert.ok(list.every((a) => !("password_hash" in a) && !("passwordHash" in a)), "no password hashes");
    });
  });

  describe("CORS and the rest", () => {
    it("answers a preflight as the original: 200, any origin, Content-Type and Authorization, GET PATCH POST", async () => {
      for (const url of ["/v1/auth", `/v1/accounts/${sam.accountId}`, "/v1/devices/garage"]) {
        const res = await fetch(`${base}${url}`, {
          method: "OPTIONS",
          headers: { origin: "http://frontend.example", "access-control-request-method": "PATCH", "access-control-request-headers": "authorization,content-type" },
        });
        assert.equal(res.status, 200, url);
        assert.equal(res.headers.get("access-control-allow-origin"), "*");
        assert.equal(res.headers.get("access-control-allow-headers"), "Content-Type,Authorization");
        assert.equal(res.headers.get("access-control-allow-methods"), "GET,PATCH,POST");
      }
    });

    it("errors carry the CORS header too, so a browser can read them", async () => {
      const r = await call("GET", `/v1/accounts/${sam.accountId}`);
      assert.equal(r.status, 401);
      assert.equal(r.headers.get("access-control-allow-origin"), "*");
    });

    it("an unknown /v1 path is a JSON 404", async () => {
      const r = await call("GET", "/v1/nothing-here", { token: sam.token });
      assert.equal(r.status, 404);
      assert.deepEqual(r.body, { error: "Not found" });
    });
  });
});
