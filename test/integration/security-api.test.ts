// The history API's sign-in on the real runtime: a user of the identity store (`pifog user add`) gets a token from
// POST /api/auth and reads with it; no token, a forged, an altered, an expired or a /v1 account's token is refused
// (401, audited), and a history token is no /v1 token either.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { signToken, jwtSecret } from "../../nodes/lib/accounts/jwt";
import { AUDIT_FILE } from "../../nodes/lib/audit/audit";
import { addUser } from "../../nodes/lib/identity/admin";
import { ApiTokens } from "../../nodes/lib/security/api-tokens";
import { startRuntime, type TestRuntime } from "../support/runtime";
import { until } from "../support/until";

describe("history API sign-in (real runtime, role sensorhub)", function () {
  this.timeout(60_000);
  let rt: TestRuntime;
  let base: string;

  before(async () => {
    rt = await startRuntime({ role: "sensorhub" });
    base = rt.info.http;
    // added while the runtime runs, as `pifog user add vera --role viewer` would
    await addUser(rt.dataDir, "vera", "viewer", "vera's long password");
  });
  after(() => rt?.stop());

  const audit = (): Array<{ event: string; reason?: string; status?: number }> =>
    fs
      .readFileSync(path.join(rt.dataDir, AUDIT_FILE), "utf8")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as { event: string; reason?: string; status?: number });

  const signIn = (username: string, password: string) =>
    fetch(`${base}/api/auth`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username, password }) });
  const history = (token?: string) => fetch(`${base}/api/history/topics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

  it("gives a viewer a token that reads the history; a wrong password gets none", async () => {
    const wrong = await signIn("vera", "not it at all");
    assert.equal(wrong.status, 401);
    assert.ok(audit().some((r) => r.event === "auth.refused"), "the wrong password is audited");
    // the store reloads the user added after the start
    let res = await signIn("vera", "vera's long password");
    await until(async () => (res = await signIn("vera", "vera's long password")).status === 200, "vera's sign-in");
    const body = (await res.json()) as { token: string; role: string; expiresAt: string };
    assert.equal(body.role, "viewer");
    assert.ok(Date.parse(body.expiresAt) > Date.now());
    const read = await history(body.token);
    assert.equal(read.status, 200);
    assert.ok(Array.isArray(((await read.json()) as { topics: unknown[] }).topics));
  });

  it("refuses no token, a forged, an altered, an expired and a /v1 account token, each audited", async () => {
    const own = ApiTokens.forDataDir(rt.dataDir, { now: () => Date.now() });
    const good = own.issue({ name: "vera", role: "viewer" }).token;
    const [h, p, s] = good.split(".") as [string, string, string];
    const raised = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, "base64url").toString()), role: "admin" })).toString("base64url");
    const cases: Array<[string, string | undefined, RegExp]> = [
      ["none", undefined, /sign in first/],
      ["forged", new ApiTokens("not the hub's secret", { now: () => Date.now() }).issue({ name: "mallory", role: "admin" }).token, /invalid token signature/],
      ["altered", `${h}.${raised}.${s}`, /invalid token signature/],
      ["expired", ApiTokens.forDataDir(rt.dataDir, { now: () => Date.now() - 2 * 3_600_000 }).issue({ name: "vera", role: "viewer" }).token, /expired/],
      ["/v1 account", signToken("0b3a2c1e-0000-4000-8000-000000000000", jwtSecret(rt.dataDir), Date.now()), /invalid token signature|not for this API/],
    ];
    for (const [name, token, why] of cases) {
      const before = audit().length;
      const res = await history(token);
      assert.equal(res.status, 401, name);
      assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer realm="pifog"/, name);
      assert.match(((await res.json()) as { error: string }).error, why, name);
      await until(() => audit().slice(before).some((r) => r.event === "api.refused" && why.test(r.reason ?? "")), `${name} in the audit`);
    }
  });
});
