// The owner's account setup on a running power hub (role powerhub): /admin/pifog/accounts behind the Node-RED
// editor's own login (a token from POST /admin/auth/token), as the dashboard's "Owner setup" group calls it.
import assert from "node:assert/strict";
import { AccountStore } from "../../nodes/lib/accounts/store";
import { startRuntime, type TestRuntime } from "../support/runtime";

const ADMIN_PASSWORD = "test-admin-password";

interface Answer {
  status: number;
  body: any;
}

describe("the owner's account setup (/admin/pifog/accounts)", function () {
  this.timeout(60_000);
  let fog: TestRuntime;
  let base: string;
  let adminToken: string;

  async function call(method: string, url: string, options: { token?: string; body?: unknown } = {}): Promise<Answer> {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: {
        ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      },
      body: options.body === undefined ? undefined : typeof options.body === "string" ? options.body : JSON.stringify(options.body),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      // Node-RED's own 401 is not JSON
    }
    return { status: res.status, body };
  }

  async function editorToken(password: string): Promise<{ status: number; token?: string }> {
    const res = await fetch(`${base}/admin/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_id: "node-red-editor", grant_type: "password", scope: "*", username: "admin", password }),
    });
    const body = (await res.json().catch(() => ({}))) as { access_token?: string };
    return { status: res.status, token: body.access_token };
  }

  /** The store as the CLI and the e-mail node see it, opened on the runtime's data dir. */
  function inStore<T>(fn: (store: AccountStore) => T): T {
    const store = new AccountStore(fog.dataDir);
    let result: T;
    try {
      result = fn(store);
    } catch (err) {
      store.close();
      throw err;
    }
    // password checks and hashing are asynchronous: the store stays open until they are done
    if (result instanceof Promise) return result.finally(() => store.close()) as T;
    store.close();
    return result;
  }

  before(async () => {
    fog = await startRuntime({ role: "powerhub" });
    base = fog.info.http;
    const t = await editorToken(ADMIN_PASSWORD);
    assert.equal(t.status, 200);
    adminToken = t.token!;
  });

  after(async () => {
    await fog?.stop();
  });

  const writes = () =>
    [
      ["POST", "/admin/pifog/accounts", { username: "mallory@example.com", password: "long enough", emails: [] }],
      ["POST", "/admin/pifog/accounts/sam@example.com/devices", { deviceId: "garage" }],
    ] as const;

  it("401 without a token, and changes nothing", async () => {
    for (const [method, url, body] of [["GET", "/admin/pifog/accounts", undefined] as const, ...writes()]) {
      const r = await call(method, url, { body });
      assert.equal(r.status, 401, `${method} ${url}`);
    }
    assert.equal(inStore((s) => s.accounts().length), 0);
  });

  it("401 with a bad token (made up, or the /v1 kind), and no token for a wrong editor password", async () => {
    assert.notEqual((await editorToken("not the admin password")).status, 200);
    assert.equal((await editorToken("not the admin password")).token, undefined);
    for (const token of ["made-up-token", `${adminToken}x`, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"]) {
      for (const [method, url, body] of [["GET", "/admin/pifog/accounts", undefined] as const, ...writes()]) {
        const r = await call(method, url, { token, body });
        assert.ok([401, 403].includes(r.status), `${method} ${url} with ${token.slice(0, 12)}…: ${r.status}`);
      }
    }
    assert.equal(inStore((s) => s.accounts().length), 0);
  });

  it("with the editor's token: makes an account, attaches a device, and lists them", async () => {
    const made = await call("POST", "/admin/pifog/accounts", { token: adminToken, body: { username: "sam@example.com", password: "correct horse", emails: ["sam@example.com", "alex@example.com"] } });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal(made.body.username, "sam@example.com");
    assert.deepEqual(made.body.emails, ["sam@example.com", "alex@example.com"]);
    assert.match(made.body.id, /^[0-9a-f-]{36}$/);
    assert.equal(made.body.password, undefined);

    const attached = await call("POST", "/admin/pifog/accounts/sam@example.com/devices", { token: adminToken, body: { deviceId: "garage", name: "Garage" } });
    assert.equal(attached.status, 200, JSON.stringify(attached.body));
    assert.equal(attached.body.account, "sam@example.com");
    assert.equal(attached.body.device.deviceId, "garage");
    assert.equal(attached.body.device.name, "Garage");
    assert.equal(attached.body.movedFrom, null);

    // the store has them: the account's owner logs in on /v1 and sees the device
    assert.deepEqual(inStore((s) => s.recipients("garage")), ["sam@example.com", "alex@example.com"]);
    const login = await call("POST", "/v1/auth", { body: { username: "sam@example.com", password: "correct horse" } });
    assert.equal(login.status, 200);
    const devices = await call("GET", `/v1/accounts/${login.body.accountId}/devices`, { token: login.body.token });
    assert.deepEqual(devices.body.map((d: { deviceId: string; name: string }) => [d.deviceId, d.name]), [["garage", "Garage"]]);

    const list = await call("GET", "/admin/pifog/accounts", { token: adminToken });
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.body.accounts.map((a: { username: string; emails: string[]; devices: Array<{ deviceId: string }> }) => [a.username, a.emails, a.devices.map((d) => d.deviceId)]),
      [["sam@example.com", ["sam@example.com", "alex@example.com"], ["garage"]]],
    );
    // every device the hub knows, attached or not (the hub itself has reported too)
    const known = new Map(list.body.devices.map((d: { deviceId: string; account: string | null }) => [d.deviceId, d.account]));
    assert.equal(known.get("garage"), "sam@example.com");
    assert.ok([...known.entries()].every(([id, account]) => id === "garage" || account === null), JSON.stringify(list.body.devices));
    assert.ok(!JSON.stringify(list.body).includes("password"), "no password hashes in the listing");
  });

  it("a taken username is 409 with an error, and the first account keeps its password", async () => {
    const r = await call("POST", "/admin/pifog/accounts", { token: adminToken, body: { username: "sam@example.com", password: "another password", emails: [] } });
    assert.equal(r.status, 409);
    assert.equal(typeof r.body.error, "string");
    assert.match(r.body.error, /taken/);
    assert.ok(await inStore((s) => s.verify("sam@example.com", "correct horse")), "the old password still works");
    assert.equal(await inStore((s) => s.verify("sam@example.com", "another password")), null);
  });

  it("bad requests are 400 (or 404 for an unknown account) with an error, and change nothing", async () => {
    const cases: Array<[string, unknown, number]> = [
      ["/admin/pifog/accounts", { username: "", password: "long enough" }, 400],
      ["/admin/pifog/accounts", { username: "kim@example.com", password: "short" }, 400],
      ["/admin/pifog/accounts", { username: "kim@example.com", password: "long enough", emails: ["not an address"] }, 400],
      ["/admin/pifog/accounts", { username: "kim@example.com" }, 400],
      ["/admin/pifog/accounts", [1, 2], 400],
      ["/admin/pifog/accounts/sam@example.com/devices", { deviceId: "a/b" }, 400],
      ["/admin/pifog/accounts/sam@example.com/devices", { deviceId: "kims-pi", name: "x".repeat(200) }, 400],
      ["/admin/pifog/accounts/sam@example.com/devices", {}, 400],
      ["/admin/pifog/accounts/nobody@example.com/devices", { deviceId: "kims-pi" }, 404],
    ];
    for (const [url, body, status] of cases) {
      const r = await call("POST", url, { token: adminToken, body });
      assert.equal(r.status, status, `${url} ${JSON.stringify(body).slice(0, 60)}: ${JSON.stringify(r.body)}`);
      assert.equal(typeof r.body.error, "string");
    }
    assert.deepEqual(inStore((s) => s.accounts().map((a) => a.username)), ["sam@example.com"]);
    assert.equal(inStore((s) => s.device("kims-pi")), null);
  });

  it("attaching a device that is another account's moves it and says from whom", async () => {
    assert.equal((await call("POST", "/admin/pifog/accounts", { token: adminToken, body: { username: "kim@example.com", password: "kims password", emails: ["kim@example.com"] } })).status, 201);
    const r = await call("POST", "/admin/pifog/accounts/kim@example.com/devices", { token: adminToken, body: { deviceId: "garage" } });
    assert.equal(r.status, 200);
    assert.equal(r.body.movedFrom, "sam@example.com");
    assert.equal(r.body.device.name, "Garage", "the name stays when none is given");
    assert.deepEqual(inStore((s) => s.recipients("garage")), ["kim@example.com"]);
  });

  it("a revoked editor token no longer passes", async () => {
    const t = await editorToken(ADMIN_PASSWORD);
    assert.equal((await call("GET", "/admin/pifog/accounts", { token: t.token })).status, 200);
    const revoked = await call("POST", "/admin/auth/revoke", { token: t.token, body: { token: t.token } });
    assert.equal(revoked.status, 200);
    assert.equal((await call("GET", "/admin/pifog/accounts", { token: t.token })).status, 401);
  });
});
