// What a signed-in browser's session opens over HTTP: the dashboard (any role; a page without one goes to sign in,
// anything else gets 401), and PiFog's API as its role allows, with a foreign page's POST refused (CSRF), every
// refusal audited. Real express on a loopback port, real sessions.
import assert from "node:assert/strict";
import express from "express";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { AuditEvent } from "../../nodes/lib/audit/audit";
import type { UserRole } from "../../nodes/lib/identity/types";
import { requireRole } from "../../nodes/lib/security/api-auth";
import { ApiTokens } from "../../nodes/lib/security/api-tokens";
import { dashboardHttpGuard } from "../../nodes/lib/security/dashboard-http";
import { WebSessions } from "../../nodes/lib/security/web-sessions";
import { FakeClock } from "../support/fake-clock";

describe("session guards", () => {
  let server: http.Server;
  let base: string;
  let clock: FakeClock;
  let sessions: WebSessions;
  let roles: Map<string, UserRole>;
  let audit: AuditEvent[];
  let tokens: ApiTokens;

  beforeEach(async () => {
    clock = new FakeClock(Date.UTC(2026, 0, 1));
    roles = new Map([
      ["vic", "viewer"],
      ["ola", "operator"],
      ["ada", "admin"],
    ]);
    sessions = new WebSessions({ file: null, clock, lifetimeMs: 60_000, roleOf: (n) => roles.get(n) ?? null });
    audit = [];
    tokens = new ApiTokens("a-secret-for-the-test-that-is-long-enough", clock);
    const parts = { tokens: () => tokens, audit: { record: (e: AuditEvent) => audit.push(e) }, sessions: () => sessions };
    const app = express();
    app.use("/ui", dashboardHttpGuard(() => sessions), (_req, res) => res.send("the dashboard"));
    app.get("/api/read", requireRole("viewer", parts), (_req, res) => res.json({ ok: true }));
    app.post("/api/act", requireRole("operator", parts), (_req, res) => res.json({ ok: true }));
    app.delete("/api/manage", requireRole("admin", parts), (_req, res) => res.json({ ok: true }));
    server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const cookieOf = (name: string) => sessions.start({ name, role: roles.get(name)!, via: "password" }).setCookie.split(";")[0]!;

  it("sends a browser without a session from a dashboard page to the sign-in page, and back after", async () => {
    const page = await fetch(`${base}/ui/?x=1`, { redirect: "manual", headers: { accept: "text/html,application/xhtml+xml" } });
    assert.equal(page.status, 302);
    assert.equal(page.headers.get("location"), "/signin?next=%2Fui%2F%3Fx%3D1");
    const script = await fetch(`${base}/ui/js/app.min.js`, { headers: { accept: "*/*" } });
    assert.equal(script.status, 401, "a file that is not a page is refused");
    const post = await fetch(`${base}/ui/`, { method: "POST", headers: { accept: "text/html" } });
    assert.equal(post.status, 401);
  });

  it("lets a session of any role see the dashboard, until it expires or its person is removed", async () => {
    for (const name of ["vic", "ola", "ada"]) {
      const res = await fetch(`${base}/ui/`, { headers: { cookie: cookieOf(name), accept: "text/html" } });
      assert.equal(res.status, 200, name);
    }
    const cookie = cookieOf("vic");
    clock.tick(60_000);
    assert.equal((await fetch(`${base}/ui/`, { redirect: "manual", headers: { cookie, accept: "text/html" } })).status, 302, "expired");
    const other = cookieOf("ola");
    roles.delete("ola");
    assert.equal((await fetch(`${base}/ui/`, { redirect: "manual", headers: { cookie: other, accept: "text/html" } })).status, 302, "removed");
  });

  it("opens the API to a session as its role allows: 401 without, 403 for a role too small, audited", async () => {
    assert.equal((await fetch(`${base}/api/read`)).status, 401);
    assert.equal((await fetch(`${base}/api/read`, { headers: { cookie: "pifog_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAA" } })).status, 401, "an unknown session");
    assert.equal((await fetch(`${base}/api/read`, { headers: { cookie: cookieOf("vic") } })).status, 200);
    const small = await fetch(`${base}/api/act`, { method: "POST", headers: { cookie: cookieOf("vic") } });
    assert.equal(small.status, 403);
    assert.match(((await small.json()) as { error: string }).error, /vic is a viewer; this needs operator/);
    assert.equal((await fetch(`${base}/api/act`, { method: "POST", headers: { cookie: cookieOf("ola") } })).status, 200);
    assert.equal((await fetch(`${base}/api/manage`, { method: "DELETE", headers: { cookie: cookieOf("ola") } })).status, 403);
    assert.equal((await fetch(`${base}/api/manage`, { method: "DELETE", headers: { cookie: cookieOf("ada") } })).status, 200);
    assert.deepEqual(
      audit.map((e) => [e.event, e.status]),
      [
        ["api.refused", 401],
        ["api.refused", 401],
        ["api.refused", 403],
        ["api.refused", 403],
      ],
    );
    assert.equal(audit[2]!.who, "user:vic from 127.0.0.1");
  });

  it("refuses a state-changing request with a session cookie from another site's page (CSRF), not from this one's", async () => {
    const cookie = cookieOf("ada");
    const foreign = await fetch(`${base}/api/manage`, { method: "DELETE", headers: { cookie, origin: "https://evil.example" } });
    assert.equal(foreign.status, 403);
    assert.match(((await foreign.json()) as { error: string }).error, /must come from a page of this site/);
    assert.equal((await fetch(`${base}/api/manage`, { method: "DELETE", headers: { cookie, origin: "null" } })).status, 403);
    assert.equal((await fetch(`${base}/api/manage`, { method: "DELETE", headers: { cookie, origin: base } })).status, 200);
    assert.equal((await fetch(`${base}/api/read`, { headers: { cookie, origin: "https://evil.example" } })).status, 200, "a read changes nothing");
    assert.equal(audit.filter((e) => e.status === 403).length, 2);
  });

  it("still takes a bearer token, and a bad one is not rescued by a cookie", async () => {
    const { token } = tokens.issue({ name: "script", role: "viewer" });
    assert.equal((await fetch(`${base}/api/read`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    const both = await fetch(`${base}/api/read`, { headers: { authorization: "Bearer nonsense", cookie: cookieOf("ada") } });
    assert.equal(both.status, 401);
  });
});
