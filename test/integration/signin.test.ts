// One sign-in on a real runtime (issue 12): the user store's people sign in to the dashboard, the editor takes its
// admins only, the API takes a viewer's session, a user removed from the store loses their session at once, a name
// guessed from many addresses is locked on every sign-in page alike, and an upgraded install keeps its editor password.
import assert from "node:assert/strict";
import bcrypt from "bcryptjs";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { Audit, type AuditRecord } from "../../nodes/lib/audit/audit";
import { addUser, removeUser } from "../../nodes/lib/identity/admin";
import { signInCookie, TEST_PEOPLE } from "../support/people";
import { startRuntime, type TestRuntime } from "../support/runtime";
import { until } from "../support/until";

/** A POST from a chosen loopback address (another machine, as far as the runtime can tell). */
function post(url: string, from: string, body: string, type: string): Promise<{ status: number; text: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", localAddress: from, headers: { "content-type": type } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const editorLogin = (base: string, username: string, password: string, from = "127.0.0.1") =>
  post(`${base}/admin/auth/token`, from, new URLSearchParams({ client_id: "node-red-editor", grant_type: "password", scope: "*", username, password }).toString(), "application/x-www-form-urlencoded");
const pageSignIn = (base: string, username: string, password: string, from = "127.0.0.1") =>
  post(`${base}/signin`, from, new URLSearchParams({ username, password, next: "/ui/" }).toString(), "application/x-www-form-urlencoded");

const auditOf = (fog: TestRuntime): AuditRecord[] => new Audit(fog.dataDir).read();

describe("one sign-in (real runtime, all-in-one)", function () {
  this.timeout(60_000);
  let fog: TestRuntime;

  before(async () => {
    fog = await startRuntime({ role: "all", env: { PIFOG_SIGNIN_NAME_ATTEMPTS: "6" } });
  });
  after(async () => {
    await fog?.stop();
  });

  it("lets the store's admins into the editor and tells a viewer or an operator the editor is for admins, audited", async () => {
    const base = fog.info.http;
    assert.equal((await editorLogin(base, TEST_PEOPLE.admin.name, TEST_PEOPLE.admin.password)).status, 200);
    for (const role of ["viewer", "operator"] as const) {
      const p = TEST_PEOPLE[role];
      const refused = await editorLogin(base, p.name, p.password);
      assert.equal(refused.status, 403, role);
      assert.match(refused.text, new RegExp(`${p.name} is a ${role}; only admins use the editor`));
    }
    const audit = auditOf(fog).filter((r) => r.via === "editor" && r.event === "auth.refused");
    assert.deepEqual(audit.map((r) => r.user), [TEST_PEOPLE.viewer.name, TEST_PEOPLE.operator.name]);
  });

  it("takes an admin added to the store while it runs, and drops a removed user's session at once", async () => {
    const base = fog.info.http;
    await addUser(fog.dataDir, "new-admin", "admin", "new-admin-password");
    await until(async () => (await editorLogin(base, "new-admin", "new-admin-password")).status === 200, "the new admin signs in to the editor", 10_000);
    const cookie = await signInCookie(base, "viewer");
    await addUser(fog.dataDir, "short-lived", "viewer", "short-lived-password");
    let theirs = "";
    await until(
      async () => {
        const res = await pageSignIn(base, "short-lived", "short-lived-password");
        theirs = String(res.headers["set-cookie"]).split(";")[0]!;
        return res.status === 303;
      },
      "short-lived signs in",
      10_000,
    );
    assert.equal((await fetch(`${base}/api/history/topics`, { headers: { cookie: theirs } })).status, 200);
    await removeUser(fog.dataDir, "short-lived");
    await until(async () => (await fetch(`${base}/api/history/topics`, { headers: { cookie: theirs } })).status === 401, "the removed user's session refused", 10_000);
    assert.equal((await fetch(`${base}/ui/`, { redirect: "manual", headers: { cookie: theirs, accept: "text/html" } })).status, 302);
    assert.equal((await fetch(`${base}/api/history/topics`, { headers: { cookie } })).status, 200, "the others stay signed in");
  });

  it("locks a name guessed from many addresses on the sign-in page and at the editor alike, and says how long", async () => {
    const base = fog.info.http;
    const name = TEST_PEOPLE.admin.name;
    // six wrong passwords from three addresses, none of them past its own limit (5 per address and name)
    for (let i = 0; i < 6; i++) {
      const from = `127.0.0.${2 + (i % 3)}`;
      const r = i % 2 ? await editorLogin(base, name, `wrong ${i}`, from) : await pageSignIn(base, name, `wrong ${i}`, from);
      assert.equal(r.status, i % 2 ? 403 : 401, `attempt ${i + 1}`);
    }
    const page = await pageSignIn(base, name, TEST_PEOPLE.admin.password, "127.0.0.9");
    assert.equal(page.status, 429);
    assert.match(page.text, /Too many wrong passwords for this user name: try again in \d+ s/);
    assert.ok(Number(page.headers["retry-after"]) >= 1);
    const editor = await editorLogin(base, name, TEST_PEOPLE.admin.password, "127.0.0.9");
    assert.equal(editor.status, 429);
    assert.equal((await pageSignIn(base, TEST_PEOPLE.viewer.name, TEST_PEOPLE.viewer.password, "127.0.0.9")).status, 303, "other names sign in");
    const audit = auditOf(fog).filter((r) => r.user === name);
    assert.equal(audit.filter((r) => r.event === "auth.refused").length, 6, "every wrong password audited");
    assert.equal(audit.filter((r) => r.event === "auth.throttled").length, 2);
  });
});

describe("an upgraded install (its editor password in admin.json, no user store yet)", function () {
  this.timeout(60_000);

  it("keeps the editor password: user admin signs in to the editor and the dashboard with it", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-upgrade-"));
    fs.writeFileSync(path.join(dataDir, "admin.json"), JSON.stringify({ username: "admin", hash: bcrypt.hashSync("the old editor password", 10) }), { mode: 0o600 });
    const fog = await startRuntime({ role: "doorpi", dataDir, testUsers: false, env: { PIFOG_ADMIN_PASSWORD: "" } });
    try {
      assert.doesNotMatch(fog.output(), /password "/, "no new password is made");
      assert.equal((await editorLogin(fog.info.http, "admin", "the old editor password")).status, 200);
      assert.equal((await pageSignIn(fog.info.http, "admin", "the old editor password")).status, 303);
    } finally {
      await fog.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
