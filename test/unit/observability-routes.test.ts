// GET /metrics and GET /health as their routes answer (real express on a loopback port, real tokens and sessions):
// anyone gets only up/down from /health — 503 when the runtime is down, so a healthcheck fails — someone signed in
// gets the judgement (with the same 503), and /metrics or a bad credential is refused with a reason, audited.
import assert from "node:assert/strict";
import express from "express";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { AuditEvent } from "../../nodes/lib/audit/audit";
import { observabilityRoutes } from "../../nodes/lib/metrics/http";
import { judgeRuntime, type RuntimeFacts } from "../../nodes/lib/metrics/runtime-health";
import { ApiTokens } from "../../nodes/lib/security/api-tokens";
import { WebSessions } from "../../nodes/lib/security/web-sessions";
import { FakeClock } from "../support/fake-clock";

describe("the /metrics and /health routes", () => {
  let server: http.Server;
  let base: string;
  let audit: AuditEvent[];
  let tokens: ApiTokens;
  let sessions: WebSessions;
  let facts: RuntimeFacts;
  let healthAsked: number;

  beforeEach(async () => {
    const clock = new FakeClock(Date.UTC(2026, 11, 7));
    audit = [];
    healthAsked = 0;
    tokens = new ApiTokens("a-secret-for-the-test-that-is-long-enough", clock);
    sessions = new WebSessions({ file: null, clock, lifetimeMs: 60_000, roleOf: () => "viewer" });
    facts = {
      now: clock.now(),
      broker: { kind: "embedded", listening: true, clients: 1, store: null },
      flows: { started: true, nodes: 3, inError: [] },
      history: [],
      dataDir: { writable: true, error: null },
      outboxes: [],
    };
    const metrics = {
      exposition: async () => ({ contentType: "text/plain; version=0.0.4; charset=utf-8", body: "# HELP x y\n# TYPE x gauge\nx 1\n" }),
      health: () => {
        healthAsked++;
        return judgeRuntime(facts);
      },
    };
    const app = express();
    app.use(observabilityRoutes({ tokens: () => tokens, audit: { record: (e) => audit.push(e) }, sessions: () => sessions, metrics: () => metrics }));
    server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const bearer = () => ({ authorization: `Bearer ${tokens.issue({ name: "prometheus", role: "viewer" }).token}` });

  it("gives anyone only up, or down with 503, and nothing of why", async () => {
    let res = await fetch(`${base}/health`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.deepEqual(await res.json(), { status: "up" });
    facts.flows.inError = [{ id: "n1", type: "thingspeak", text: "bad key" }];
    res = await fetch(`${base}/health`);
    assert.deepEqual([res.status, await res.json()], [200, { status: "up" }], "degraded is up");
    facts.broker = { kind: "embedded", listening: false, clients: 0, store: null };
    res = await fetch(`${base}/health`);
    assert.deepEqual([res.status, await res.json()], [503, { status: "down" }]);
    const head = await fetch(`${base}/health`, { method: "HEAD" });
    assert.equal(head.status, 503);
    assert.equal(audit.length, 0, "asking is no refusal");
  });

  it("gives someone signed in (token or session) the judgement, 503 when down", async () => {
    facts.history = [{ node: "h1", kind: "postgres", lastError: "connection refused", rows: 0 }];
    const cookie = sessions.start({ name: "vic", role: "viewer", via: "password" }).setCookie.split(";")[0]!;
    for (const headers of [bearer(), { cookie }]) {
      const res = await fetch(`${base}/health`, { headers });
      assert.equal(res.status, 503);
      const body = (await res.json()) as { status: string; components: { stores: { status: string; reasons: string[] } } };
      assert.equal(body.status, "down");
      assert.equal(body.components.stores.status, "down");
      assert.match(body.components.stores.reasons[0]!, /history h1 \(postgres\) cannot commit: connection refused/);
    }
  });

  it("refuses /metrics without a sign-in and /health with a bad token: 401, the reason, the audit", async () => {
    const none = await fetch(`${base}/metrics`);
    assert.equal(none.status, 401);
    assert.match(none.headers.get("www-authenticate") ?? "", /Bearer realm="pifog"/);
    assert.match(((await none.json()) as { error: string }).error, /sign in first/);
    const bad = await fetch(`${base}/health`, { headers: { authorization: "Bearer forged" } });
    assert.equal(bad.status, 401);
    assert.match(((await bad.json()) as { error: string }).error, /invalid token/);
    assert.equal(healthAsked, 0, "nothing judged for a refused request");
    assert.deepEqual(
      audit.map((e) => [e.event, e.path, e.status]),
      [
        ["api.refused", "/metrics", 401],
        ["api.refused", "/health", 401],
      ],
    );
  });

  it("serves the exposition as prom-client words its type", async () => {
    const res = await fetch(`${base}/metrics`, { headers: bearer() });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    assert.equal(await res.text(), "# HELP x y\n# TYPE x gauge\nx 1\n");
  });
});
