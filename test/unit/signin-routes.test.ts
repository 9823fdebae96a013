// The people's sign-in pages over real HTTP (express on a loopback port, the real sessions, the real throttle, real
// bcrypt against a real user store): what a person signing in, failing, being locked and signing out sees, and what
// an attacker trying to bounce them elsewhere or guess passwords gets.
import assert from "node:assert/strict";
import express from "express";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import type { AuditEvent } from "../../nodes/lib/audit/audit";
import { filePeople } from "../../nodes/lib/security/people";
import { makeSignInThrottles } from "../../nodes/lib/security/sign-in";
import { escapeHtml } from "../../nodes/lib/security/signin-page";
import { oidcLabel, safeNext, signInRoutes } from "../../nodes/lib/security/signin-routes";
import { WebSessions } from "../../nodes/lib/security/web-sessions";
import { FakeClock } from "../support/fake-clock";
import { ensureTestPeople, TEST_PEOPLE } from "../support/people";

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

function request(url: string, o: { method?: string; from?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: o.method ?? "GET", localAddress: o.from, headers: o.headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on("error", reject);
    req.end(o.body);
  });
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = { "content-type": "application/x-www-form-urlencoded" };

describe("sign-in pages", function () {
  this.timeout(20_000);
  let dir: string;
  let server: http.Server;
  let base: string;
  let clock: FakeClock;
  let sessions: WebSessions;
  let audit: AuditEvent[];
  let oidc: { issuer?: string; name?: string } | undefined;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-signin-"));
    await ensureTestPeople(dir);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  beforeEach(async () => {
    clock = new FakeClock(Date.UTC(2026, 0, 1));
    const people = filePeople(dir);
    sessions = new WebSessions({ file: null, clock, lifetimeMs: 60 * 60_000, roleOf: (name) => people.roleOf(name) });
    audit = [];
    oidc = undefined;
    const throttle = makeSignInThrottles({ userAttempts: 3, addressAttempts: 6, lockMs: 60_000, nameAttempts: 5 }, clock).users;
    const app = express();
    app.use(signInRoutes({ sessions: () => sessions, people, throttle, audit: { record: (e) => audit.push(e) }, oidc: () => oidcLabel({ oidc }) }));
    server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const signIn = (username: string, password: string, o: { from?: string; next?: string; headers?: Record<string, string> } = {}) =>
    request(`${base}/signin`, { method: "POST", from: o.from, headers: { ...FORM, ...o.headers }, body: form({ username, password, next: o.next ?? "/ui/#!/1" }) });

  it("shows a self-contained sign-in form that keeps where to go next, escaped", async () => {
    const page = await request(`${base}/signin?next=${encodeURIComponent('/ui/?x="><script>alert(1)</script>')}`);
    assert.equal(page.status, 200);
    assert.match(String(page.headers["content-type"]), /^text\/html/);
    assert.match(String(page.headers["content-security-policy"]), /default-src 'none'/);
    assert.equal(page.headers["x-frame-options"], "DENY");
    assert.ok(!page.text.includes("<script"), "nothing the address says is run");
    assert.ok(page.text.includes(escapeHtml('/ui/?x=%22%3E%3Cscript%3Ealert(1)%3C/script%3E')), page.text);
    assert.ok(!/(src|href)="(https?:)?\/\//.test(page.text), "no external resource");
    assert.ok(!page.text.includes("signin-oidc"), "no OpenID Connect link when none is set up");
  });

  it("signs the right password in: an HttpOnly, SameSite=Strict session cookie and 303 to where the person was going", async () => {
    const p = TEST_PEOPLE.operator;
    const ok = await signIn(p.name, p.password);
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.location, "/ui/#!/1");
    const cookie = String(ok.headers["set-cookie"]);
    assert.match(cookie, /^pifog_session=[A-Za-z0-9_-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=3600$/);
    const session = sessions.fromCookie(cookie.split(";")[0]);
    assert.deepEqual(session && { name: session.name, role: session.role, via: session.via }, { name: p.name, role: "operator", via: "password" });
    assert.equal(audit.length, 0);
  });

  it("never sends a signed-in browser to another site: only a path of this one, else the dashboard", async () => {
    const p = TEST_PEOPLE.viewer;
    for (const [next, expected] of [
      ["https://evil.example/", "/ui/"],
      ["//evil.example/x", "/ui/"],
      ["/\\evil.example", "/ui/"],
      ["/%2F%2Fevil.example", "/%2F%2Fevil.example"],
      ["javascript:alert(1)", "/ui/"],
      ["/ui/\r\nSet-Cookie: x=1", "/ui/"],
      ["/signout", "/ui/"],
      ["", "/ui/"],
      ["/api/history/topics?x=1", "/api/history/topics?x=1"],
    ]) {
      assert.equal(safeNext(next), expected, next);
    }
    const bounced = await signIn(p.name, p.password, { next: "//evil.example/" });
    assert.equal(bounced.headers.location, "/ui/");
  });

  it("answers a wrong password and an unknown user alike, on the page, and audits both", async () => {
    const wrong = await signIn(TEST_PEOPLE.admin.name, "not the password");
    const unknown = await signIn("nobody-here", "not the password");
    for (const a of [wrong, unknown]) {
      assert.equal(a.status, 401);
      assert.match(a.text, /id="signin-error"[^>]*>Wrong user name or password\.</);
      assert.equal(a.headers["set-cookie"], undefined);
    }
    assert.equal(wrong.text.replace(TEST_PEOPLE.admin.name, "X"), unknown.text.replace("nobody-here", "X"), "the same page but for the name typed");
    assert.deepEqual(
      audit.map((e) => [e.event, e.via, e.user, e.reason]),
      [
        ["auth.refused", "signin", TEST_PEOPLE.admin.name, "wrong user name or password"],
        ["auth.refused", "signin", "nobody-here", "wrong user name or password"],
      ],
    );
  });

  it("takes as long for an unknown user as for a wrong password (one bcrypt check either way)", async () => {
    const people = filePeople(dir);
    const time = async (name: string) => {
      const t0 = process.hrtime.bigint();
      await people.checkPassword(name, "not the password");
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 7; i++) {
      known.push(await time(TEST_PEOPLE.admin.name));
      unknown.push(await time(`nobody-${i}`));
    }
    const [k, u] = [median(known), median(unknown)];
    assert.ok(u > k / 2 && u < k * 2, `a wrong password takes ${k.toFixed(1)} ms, an unknown user ${u.toFixed(1)} ms`);
    assert.ok(u > 5, `an unknown user is checked against a real hash (${u.toFixed(1)} ms)`);
  });

  it("locks a name from one address after 3 wrong passwords with a page saying how long to wait; the right person elsewhere still signs in", async () => {
    const p = TEST_PEOPLE.admin;
    for (let i = 0; i < 3; i++) assert.equal((await signIn(p.name, `wrong ${i}`, { from: "127.0.0.2" })).status, 401);
    const locked = await signIn(p.name, p.password, { from: "127.0.0.2" });
    assert.equal(locked.status, 429);
    assert.equal(locked.headers["retry-after"], "60");
    assert.match(locked.text, /Too many wrong passwords for this user name from this address: try again in 60 s/);
    assert.equal((await signIn(p.name, p.password, { from: "127.0.0.3" })).status, 303);
    assert.equal(audit.filter((e) => e.event === "auth.throttled").length, 1);
    clock.tick(60_000);
    assert.equal((await signIn(p.name, p.password, { from: "127.0.0.2" })).status, 303, "after the wait");
  });

  it("locks a name guessed from many addresses, from every address, for the wait", async () => {
    const p = TEST_PEOPLE.viewer;
    for (let i = 0; i < 5; i++) assert.equal((await signIn(p.name, `wrong ${i}`, { from: `127.0.0.${10 + (i % 3)}` })).status, 401);
    const locked = await signIn(p.name, p.password, { from: "127.0.0.20" });
    assert.equal(locked.status, 429);
    assert.match(locked.text, /Too many wrong passwords for this user name: try again in 60 s/);
    const t = audit.find((e) => e.event === "auth.throttled")!;
    assert.equal(t.user, p.name);
    assert.equal(t.address, "127.0.0.20");
  });

  it("locks an address trying many names", async () => {
    for (let i = 0; i < 6; i++) await signIn(`guess-${i}`, "password", { from: "127.0.0.4" });
    const locked = await signIn(TEST_PEOPLE.admin.name, TEST_PEOPLE.admin.password, { from: "127.0.0.4" });
    assert.equal(locked.status, 429);
    assert.match(locked.text, /from this address: try again in \d+ s/);
  });

  it("refuses a sign-in form posted from another site's page, and an empty form, with a clear page", async () => {
    const p = TEST_PEOPLE.admin;
    const foreign = await signIn(p.name, p.password, { headers: { origin: "https://evil.example" } });
    assert.equal(foreign.status, 403);
    assert.match(foreign.text, /another site/);
    assert.equal(foreign.headers["set-cookie"], undefined);
    assert.equal(audit[0]?.event, "auth.refused");
    assert.equal((await signIn(p.name, p.password, { headers: { origin: base } })).status, 303, "this site's own page");
    const empty = await request(`${base}/signin`, { method: "POST", headers: FORM, body: form({ username: "", password: "" }) });
    assert.equal(empty.status, 400);
    assert.match(empty.text, /Enter your user name and your password/);
  });

  it("signs out by a button: the session ends for good and the cookie is cleared, back to the sign-in page", async () => {
    const p = TEST_PEOPLE.operator;
    const cookie = String((await signIn(p.name, p.password)).headers["set-cookie"]).split(";")[0]!;
    const page = await request(`${base}/signout`, { headers: { cookie } });
    assert.match(page.text, new RegExp(`signed in as <strong>${p.name} \\(operator\\)`));
    assert.match(page.text, /<form method="post" action="\/signout">/);
    assert.ok(sessions.fromCookie(cookie), "a GET does not sign out");
    const foreign = await request(`${base}/signout`, { method: "POST", headers: { cookie, origin: "https://evil.example" } });
    assert.equal(foreign.status, 403);
    assert.ok(sessions.fromCookie(cookie), "another site cannot sign you out");
    const out = await request(`${base}/signout`, { method: "POST", headers: { cookie } });
    assert.equal(out.status, 303);
    assert.equal(out.headers.location, "/signin");
    assert.match(String(out.headers["set-cookie"]), /^pifog_session=; .*Max-Age=0/);
    assert.equal(sessions.fromCookie(cookie), null);
  });

  it("offers the OpenID Connect provider when one is set up", async () => {
    oidc = { issuer: "https://id.example.org/realms/fog" };
    const page = await request(`${base}/signin?next=/ui/`);
    assert.match(page.text, /<a class="oidc" id="signin-oidc" href="\/signin\/oidc\?next=%2Fui%2F">Sign in with id\.example\.org<\/a>/);
    oidc = { issuer: "https://id.example.org/", name: "Example <SSO>" };
    assert.match((await request(`${base}/signin`)).text, /Sign in with Example &lt;SSO&gt;/);
  });
});
