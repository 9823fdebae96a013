// The history API's HTTP side with a store that answers when the test says so: refusals are 400s and 503s
// with a reason (and Retry-After), audited; a caller who hangs up while waiting costs no read.
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import http from "node:http";
import express from "express";
import type { AuditEvent } from "../../nodes/lib/audit/audit";
import { signToken } from "../../nodes/lib/accounts/jwt";
import { historyRoutes } from "../../nodes/lib/history/http-api";
import { ApiTokens } from "../../nodes/lib/security/api-tokens";
import type { HistoryQuery, HistoryStore, StoredMessage } from "../../nodes/lib/history/types";
import { until } from "../support/until";

class HeldStore {
  readonly kind = "postgres" as const;
  readonly asked: HistoryQuery[] = [];
  private readonly held: Array<() => void> = [];

  messages(query: HistoryQuery): Promise<StoredMessage[]> {
    this.asked.push(query);
    return new Promise((resolve) => this.held.push(() => resolve([{ topic: "a", at: 0, value: 1, payload: "1", qos: 1, retain: false }])));
  }

  releaseAll(): void {
    for (const r of this.held.splice(0)) r();
  }
}

describe("history API over HTTP", () => {
  let server: http.Server;
  let base: string;
  let store: HeldStore;
  const audit: AuditEvent[] = [];
  /** Topics whose request reached the routes (the route queues it in the same tick), and whose caller hung up. */
  let arrived: string[];
  let closed: string[];
  const now = { t: Date.parse("2026-12-06T12:00:00Z") };
  const tokens = new ApiTokens("the hub's api secret", { now: () => now.t });
  const viewer = tokens.issue({ name: "vera", role: "viewer" }).token;
  /** fetch as the viewer vera */
  const fetchAs = (url: string, init: RequestInit = {}, token = viewer) => fetch(url, { ...init, headers: { authorization: `Bearer ${token}` } });

  beforeEach(async () => {
    store = new HeldStore();
    audit.length = 0;
    arrived = [];
    closed = [];
    const app = express();
    app.use((req, res, next) => {
      const topic = String(req.query.topic);
      res.on("close", () => res.writableFinished || closed.push(topic));
      next();
      arrived.push(topic);
    });
    historyRoutes(app, () => [{ id: "h", store: store as unknown as HistoryStore }], {
      auth: { tokens: () => tokens, audit: { record: (e) => audit.push(e) }, sessions: () => null },
      audit: { record: (e) => audit.push(e) },
      gate: { running: 1, queued: 1 },
    });
    server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    store.releaseAll();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it("runs one, queues one, and refuses the next with 503, Retry-After and a reason, audited", async () => {
    const first = fetchAs(`${base}/api/history?topic=a`);
    await until(() => store.asked.length === 1, "the first query to run");
    const second = fetchAs(`${base}/api/history?topic=b`);
    await until(() => arrived.includes("b"), "the second query to wait for its turn");
    const third = await fetchAs(`${base}/api/history?topic=c`);
    assert.equal(third.status, 503);
    assert.match(third.headers.get("retry-after") ?? "", /^\d+$/);
    assert.match(((await third.json()) as { error: string }).error, /too many history queries at once/);
    assert.equal(audit.at(-1)?.event, "history.query.busy");
    store.releaseAll();
    assert.equal((await first).status, 200);
    await until(() => store.asked.length === 2, "the queued query to run");
    store.releaseAll();
    const body = (await (await second).json()) as { topic: string; messages: Array<{ at: string }> };
    assert.equal(body.topic, "b");
    assert.equal(body.messages[0]!.at, "1970-01-01T00:00:00.000Z");
  });

  it("refuses a bad parameter with a 400 before any read, audited with who and why", async () => {
    const res = await fetchAs(`${base}/api/history?topic=a%2F%23%2Fb`);
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /"#" must be alone in the last level/);
    assert.equal(store.asked.length, 0);
    assert.equal(audit[0]?.event, "history.query.refused");
    assert.equal(audit[0]?.via, "http");
    assert.match(String(audit[0]?.who), /127\.0\.0\.1/);
  });

  it("does not read for a caller who hung up while waiting for a turn", async () => {
    const first = fetchAs(`${base}/api/history?topic=a`);
    await until(() => store.asked.length === 1, "the first query to run");
    const abort = new AbortController();
    const second = fetchAs(`${base}/api/history?topic=b`, { signal: abort.signal }).catch(() => null);
    await until(() => arrived.includes("b"), "the second query to wait for its turn");
    abort.abort();
    await second;
    await until(() => closed.includes("b"), "the server to see the second caller hang up");
    store.releaseAll();
    assert.equal((await first).status, 200);
    const third = fetchAs(`${base}/api/history?topic=c`);
    await until(() => store.asked.length >= 2, "the next query to run");
    store.releaseAll();
    assert.equal((await third).status, 200);
    assert.deepEqual(store.asked.map((q) => q.topic), [["a"], ["c"]], "b was never read");
  });

  describe("who may read", () => {
    const refusedWith = async (token: string | null, why: RegExp) => {
      const res = await fetch(`${base}/api/history?topic=a`, token === null ? {} : { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 401);
      assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer realm="pifog"/);
      assert.match(((await res.json()) as { error: string }).error, why);
      assert.equal(store.asked.length, 0, "nothing was read");
      assert.equal(audit.at(-1)?.event, "api.refused");
      assert.match(String(audit.at(-1)?.reason), why);
    };

    it("refuses a request without a token, saying how to sign in", () => refusedWith(null, /POST \/api\/auth/));

    it("refuses a forged token (signed with another secret)", () =>
      refusedWith(new ApiTokens("an attacker's secret", { now: () => now.t }).issue({ name: "mallory", role: "admin" }).token, /invalid token signature/));

    it("refuses an expired token", () =>
      refusedWith(new ApiTokens("the hub's api secret", { now: () => now.t - 2 * 3_600_000 }).issue({ name: "vera", role: "viewer" }).token, /expired/));

    it("refuses a /v1 account token, even one made with the same secret", () =>
      refusedWith(signToken("0b3a2c1e-0000-4000-8000-000000000000", "the hub's api secret", now.t), /not for this API/));

    it("refuses an altered token (the role raised)", () => {
      const [h, p, sig] = viewer.split(".") as [string, string, string];
      const claims = JSON.parse(Buffer.from(p, "base64url").toString()) as Record<string, unknown>;
      return refusedWith(`${h}.${Buffer.from(JSON.stringify({ ...claims, role: "admin" })).toString("base64url")}.${sig}`, /invalid token signature/);
    });
  });
});
