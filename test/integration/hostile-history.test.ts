// Hostile input on the history API, on the real runtime (sensorhub role, the embedded broker, history.db with
// 150,000 messages): twenty heavy queries at once, a few rounds, must not stall MQTT for everyone else (on the
// old code they ran synchronously on the event loop: round trips of many seconds); every query is answered
// (200, or 503 with Retry-After and a reason), never left hanging; bad parameters and over-budget queries are
// refused with a 400 that says why, and audited.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SqliteHistoryStore } from "../../nodes/lib/history/sqlite-store";
import pg from "pg";
import { PgHistoryStore } from "../../nodes/lib/history/pg-store";
import type { HistoryRecord, HistoryStore } from "../../nodes/lib/history/types";
import { RoundTripProbe, type RoundTrips } from "../support/rtt";
import { redeploy, startRuntime, viewerHeaders, type TestRuntime } from "../support/runtime";
import { until } from "../support/until";

const PG_ADMIN = process.env.PIFOG_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

const ROWS = 150_000;
const TOPICS = 40;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** What a house of ESPEasy sensors leaves in a day: JSON readings on 40 topics over the last 20 hours. */
async function fillHistory(store: HistoryStore, now: number): Promise<void> {
  try {
    const start = now - 20 * HOUR;
    for (let i = 0; i < ROWS; ) {
      const batch: HistoryRecord[] = [];
      for (const end = Math.min(ROWS, i + 5000); i < end; i++) {
        const value = 20 + (i % 100) / 10;
        batch.push({
          topic: `iotitan/home/room${i % TOPICS}/dht11/${Math.floor(i / TOPICS) % 2 ? "humidity" : "temperature"}`,
          payload: Buffer.from(JSON.stringify({ value, device: `esp-${i % TOPICS}`, rssi: -60 - (i % 20), uptime: i })),
          value,
          at: start + Math.floor((i * 20 * HOUR) / ROWS),
          qos: 1,
          retain: false,
          clientId: `esp-${i % TOPICS}`,
          messageId: (i % 65535) + 1,
          dup: false,
        });
      }
      await store.insert(batch);
    }
  } finally {
    await store.close();
  }
}

interface Answer {
  status: number;
  retryAfter: string | null;
  text: string;
  ms: number;
}

interface Body {
  error?: string;
  messages?: unknown[];
  series?: unknown[];
  topics?: unknown[];
}

// the bodies are parsed after the flood: parsing 2 MB answers in this process would delay the probe's own
// round trips, which must measure the runtime alone
async function fetchAnswer(base: string, query: string): Promise<Answer> {
  const t0 = performance.now();
  const res = await fetch(`${base}${query}`, { signal: AbortSignal.timeout(60_000), headers: viewers.get(base) });
  const text = await res.text();
  return { status: res.status, retryAfter: res.headers.get("retry-after"), text, ms: performance.now() - t0 };
}

/** Each runtime's viewer headers, by its HTTP base URL. */
const viewers = new Map<string, Record<string, string>>();

async function get(base: string, query: string): Promise<Answer & { body: Body }> {
  const a = await fetchAnswer(base, query);
  return { ...a, body: JSON.parse(a.text) as Body };
}

function heavyQueries(now: number): string[] {
  const twenty = Array.from({ length: 20 }, (_, i) => `topic=${encodeURIComponent(`iotitan/home/room${i}/+/#`)}`).join("&");
  const week = `from=${now - 7 * DAY}&to=${now}`;
  const kinds = [
    "/api/history?topic=%23&limit=10000",
    `/api/history?${twenty}&limit=10000`,
    `/api/history?topic=%23&bucket=5m&${week}`,
    "/api/history/topics",
  ];
  // interleaved, so that each kind is among those the gate lets in
  return Array.from({ length: 20 }, (_, i) => kinds[i % kinds.length]!);
}

const fmt = (r: RoundTrips) => `p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms (${r.count} round trips, ${r.lost} lost)`;

/** Twenty heavy queries at once, three rounds, while the probe measures MQTT round trips. */
async function flood(base: string, probe: RoundTripProbe, now: number): Promise<void> {
  const quiet = await probe.measure(30);
  console.log(`      round trips, quiet:                ${fmt(quiet)}`);
  probe.start(10);
  const answers: Answer[] = [];
  for (let round = 0; round < 3; round++) {
    answers.push(...(await Promise.all(heavyQueries(now).map((q) => fetchAnswer(base, q)))));
  }
  const flood = await probe.stop();
  console.log(`      round trips, 3 × 20 heavy queries: ${fmt(flood)}`);
  const by = (s: number) => answers.filter((a) => a.status === s);
  console.log(
    `      answers: ${by(200).length} × 200, ${by(503).length} × 503; slowest ${Math.round(Math.max(...answers.map((a) => a.ms)))} ms`,
  );

  for (const a of answers) {
    assert.ok([200, 503].includes(a.status), `HTTP ${a.status}: ${a.text.slice(0, 200)}`);
    if (a.status === 503) {
      assert.match((JSON.parse(a.text) as Body).error ?? "", /too many history queries|busy|took longer/);
      assert.match(a.retryAfter ?? "", /^\d+$/, "a 503 says when to come back");
    }
  }
  assert.ok(by(200).length >= 12, "the queries the gate lets through are answered");
  const full = answers.map((a) => (a.status === 200 ? (JSON.parse(a.text) as Body) : {})).find((b) => (b.messages?.length ?? 0) > 0);
  assert.equal(full?.messages?.length, 10_000, "a heavy query gets what it asked for");
  const bodies = answers.filter((a) => a.status === 200).map((a) => JSON.parse(a.text) as Body);
  assert.ok(bodies.some((b) => (b.topics?.length ?? 0) >= TOPICS * 2), "the topic list is answered whole");
  assert.ok(bodies.some((b) => (b.series?.length ?? 0) >= TOPICS * 2), "the week in 5-minute buckets is answered for every topic");
  assert.equal(flood.lost, 0, "no round trip lost");
  assert.ok(flood.count >= 20, `the probe kept measuring (${flood.count})`);
  assert.ok(flood.p99 < 2000, `round-trip p99 under the flood (8 s before): ${fmt(flood)}`);
}

describe("hostile input: the history API", function () {
  this.timeout(240_000);
  let rt: TestRuntime;
  let dataDir: string;
  let probe: RoundTripProbe;
  let base: string;
  const now = Date.now();

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-hostile-history-"));
    const t0 = performance.now();
    await fillHistory(new SqliteHistoryStore(dataDir), now);
    console.log(`      history.db filled with ${ROWS} messages on ${TOPICS * 2} topics in ${Math.round(performance.now() - t0)} ms`);
    rt = await startRuntime({ role: "sensorhub", dataDir });
    base = rt.info.http;
    viewers.set(base, viewerHeaders(rt.dataDir));
    probe = await RoundTripProbe.connect(rt.info.mqtt, "history");
  });

  after(async () => {
    await probe?.close();
    await rt?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("answers twenty heavy queries at once, a few rounds, while MQTT round trips stay fast", () => flood(base, probe, now));

  it("refuses each bad parameter with a 400 that says why", async () => {
    const cases: Array<[string, RegExp]> = [
      ["/api/history?topic=a&from=-1", /from must not be negative/],
      ["/api/history?topic=a&to=-5", /to must not be negative/],
      ["/api/history?topic=a&from=99999999999999999", /from must be between 1970 and the year 9999/],
      ["/api/history?topic=a&from=yesterday", /from must be an ISO 8601 date or milliseconds/],
      ["/api/history?topic=a&from=2026-02-30T00:00:00Z", /from is not a date|from must be/],
      ["/api/history?topic=a&from=2000&to=1000", /from must be before to/],
      ["/api/history?topic=a%2F%23%2Fb", /"#" must be alone in the last level/],
      ["/api/history?topic=a%2Fb%23", /"#" must be alone in the last level/],
      ["/api/history?topic=a%2Fb%2B%2Fc", /"\+" must be alone in its level/],
      [`/api/history?topic=${"x".repeat(1025)}`, /a topic is at most 1024 characters/],
      ["/api/history?from=0", /topic is required/],
      ["/api/history?topic[x]=a", /topic must be plain text/],
      ["/api/history?topic=a&bucket=999999999999d", /bucket must be 1 s\.\.366 d/],
      ["/api/history?topic=a&bucket=500ms", /bucket must be 1 s\.\.366 d/],
      ["/api/history?topic=a&bucket=5weeks", /bucket must be like 30s, 5m/],
      ["/api/history?topic=a&limit=abc", /limit must be 1\.\.10000/],
      ["/api/history?topic=a&limit=0", /limit must be 1\.\.10000/],
      ["/api/history?topic=a&limit=-3", /limit must be 1\.\.10000/],
      ["/api/history?topic=a&limit=1&limit=2", /limit must be given once/],
    ];
    for (const [query, reason] of cases) {
      const a = await get(base, query);
      assert.equal(a.status, 400, `${query}: HTTP ${a.status} ${JSON.stringify(a.body).slice(0, 200)}`);
      assert.match(a.body.error ?? "", reason, query);
    }
  });

  it("refuses an over-budget query with a 400 naming the limit, and audits every refusal", async () => {
    const topics = Array.from({ length: 21 }, (_, i) => `topic=t${i}`).join("&");
    const cases: Array<[string, RegExp]> = [
      [`/api/history?${topics}`, /at most 20 topics/],
      ["/api/history?topic=a&limit=10001", /limit must be 1\.\.10000/],
      [`/api/history?topic=a&from=${now - 40 * DAY}&to=${now}`, /range over raw data is at most 31 days/],
      [`/api/history?topic=a&from=${now - 30 * DAY}&to=${now}&bucket=1s`, /at most 10000 buckets/],
      [`/api/history?topic=a&from=0&to=${now}&bucket=1d`, /range is at most 3660 days/],
    ];
    for (const [query, reason] of cases) {
      const a = await get(base, query);
      assert.equal(a.status, 400, `${query.slice(0, 80)}: HTTP ${a.status}`);
      assert.match(a.body.error ?? "", reason, query.slice(0, 80));
    }
    // the same range over buckets is fine, and so is the month over raw data
    assert.equal((await get(base, `/api/history?topic=a&from=${now - 40 * DAY}&to=${now}&bucket=auto`)).status, 200);
    assert.equal((await get(base, `/api/history?topic=a&from=${now - 31 * DAY}&to=${now}`)).status, 200);

    const audit = fs
      .readFileSync(path.join(dataDir, "audit.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { event: string; via: string; who?: string; reason: string });
    const refused = audit.filter((e) => e.event === "history.query.refused");
    assert.ok(refused.some((e) => /at most 20 topics/.test(e.reason) && e.via === "http" && e.who));
    assert.ok(refused.some((e) => /from must not be negative/.test(e.reason)));
  });
});

describe("hostile input: the history API on PostgreSQL", function () {
  this.timeout(240_000);
  let rt: TestRuntime;
  let probe: RoundTripProbe;
  const now = Date.now();
  const name = `pifog_hostile_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
  const url = new URL(PG_ADMIN);
  url.pathname = `/${name}`;

  before(async () => {
    const admin = new pg.Client({ connectionString: PG_ADMIN });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const t0 = performance.now();
    await fillHistory(new PgHistoryStore({ connectionString: url.toString() }), now);
    console.log(`      PostgreSQL filled with ${ROWS} messages on ${TOPICS * 2} topics in ${Math.round(performance.now() - t0)} ms`);
    rt = await startRuntime({ role: "sensorhub" });
    viewers.set(rt.info.http, viewerHeaders(rt.dataDir));
    await redeploy(rt.info.http, (flows) => {
      const history = flows.find((n) => n.id === "sensorhub-history")!;
      history.backend = "postgres";
      history.pgUrl = url.toString();
    });
    await until(async () => {
      const res = await fetch(`${rt.info.http}/api/history/topics`, { headers: viewerHeaders(rt.dataDir) });
      return res.status === 200 && ((await res.json()) as Body).topics!.length >= TOPICS * 2;
    }, "the history node on PostgreSQL");
    probe = await RoundTripProbe.connect(rt.info.mqtt, "history-pg");
  });

  after(async () => {
    await probe?.close();
    await rt?.stop();
    const admin = new pg.Client({ connectionString: PG_ADMIN });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });

  it("answers twenty heavy queries at once, a few rounds, while MQTT round trips stay fast", () => flood(rt.info.http, probe, now));

  it("holds PostgreSQL to the same budget", async () => {
    const a = await get(rt.info.http, `/api/history?topic=a&from=${now - 40 * DAY}&to=${now}`);
    assert.equal(a.status, 400);
    assert.match(a.body.error ?? "", /range over raw data is at most 31 days/);
    assert.match((await get(rt.info.http, "/api/history?topic=a%2F%23%2Fb")).body.error ?? "", /"#" must be alone/);
  });
});
