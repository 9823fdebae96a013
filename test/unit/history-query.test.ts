// The history API's parameters and budget (query-params.ts), the gate that bounds how many queries run
// (query-gate.ts), and the SQL forms of an MQTT filter (filter-sql.ts).
import assert from "node:assert/strict";
import { bucketsAnswer, messagesAnswer } from "../../nodes/lib/history/answer";
import { filterToGlob, filterToRegex } from "../../nodes/lib/history/filter-sql";
import { QueryBusy, QueryGate } from "../../nodes/lib/history/query-gate";
import { QueryError, parseHistoryQuery } from "../../nodes/lib/history/query-params";
import { filterProblem, topicMatches } from "../../nodes/lib/mqtt/topic-filter";
import { FakeClock } from "../support/fake-clock";

const NOW = Date.UTC(2026, 11, 6, 12);
const DAY = 86_400_000;
const parse = (q: Record<string, unknown>) => parseHistoryQuery(q, NOW);
const refused = (q: Record<string, unknown>, reason: RegExp) =>
  assert.throws(() => parse(q), (err: Error) => err instanceof QueryError && reason.test(err.message), JSON.stringify(q).slice(0, 80));

describe("history query parameters", () => {
  it("takes the usual queries as before: defaults, ISO dates, milliseconds, several topics, auto buckets", () => {
    assert.deepEqual(parse({ topic: "a/+/c" }), { topics: ["a/+/c"], from: NOW - DAY, to: NOW, limit: 1000, bucket: null });
    const q = parse({ topic: ["a", "b/#", "a"], from: "2026-12-01T00:00:00Z", to: String(NOW), limit: "10000", bucket: "15m" });
    assert.deepEqual(q, { topics: ["a", "b/#"], from: Date.UTC(2026, 11, 1), to: NOW, limit: 10_000, bucket: 900_000 });
    assert.equal(parse({ topic: "a", from: String(NOW - 365 * DAY), bucket: "auto" }).bucket, 2 * DAY);
    assert.equal(parse({ topic: "a", from: "2026-12-06", to: "2026-12-06T11:00:00.123+01:00" }).to, Date.UTC(2026, 11, 6, 10, 0, 0, 123));
  });

  it("refuses times that are negative, out of range, not ISO 8601, or days a month does not have", () => {
    refused({ topic: "a", from: "-1" }, /^from must not be negative/);
    refused({ topic: "a", to: "99999999999999999" }, /^to must be between 1970 and the year 9999/);
    refused({ topic: "a", from: "March 7" }, /^from must be an ISO 8601 date or milliseconds/);
    refused({ topic: "a", from: "2026-13-01" }, /^from is not a date/);
    refused({ topic: "a", from: "2026-02-29" }, /^from is not a date/);
    refused({ topic: "a", from: String(NOW), to: String(NOW) }, /^from must be before to/);
    refused({ topic: "a", from: ["1", "2"] }, /^from must be given once/);
  });

  it("refuses what is not an MQTT filter, and topics past their length or count", () => {
    refused({ topic: "a/#/b" }, /"#" must be alone in the last level/);
    refused({ topic: "a/b#" }, /"#" must be alone in the last level/);
    refused({ topic: "a/b+/c" }, /"\+" must be alone in its level/);
    refused({ topic: "a\u0000b" }, /must not contain U\+0000/);
    refused({ topic: "x".repeat(1025) }, /^a topic is at most 1024 characters/);
    refused({}, /^topic is required/);
    refused({ topic: { x: "a" } }, /^topic must be plain text/);
    refused({ topic: Array.from({ length: 21 }, (_, i) => `t${i}`) }, /^at most 20 topics/);
    assert.equal(parse({ topic: Array.from({ length: 20 }, (_, i) => `t${i}`) }).topics.length, 20);
  });

  it("holds the limit, the bucket and the range to the budget, naming the limit", () => {
    for (const limit of ["abc", "0", "-3", "10001", "1e3", "1.5"]) refused({ topic: "a", limit }, /^limit must be 1\.\.10000$/);
    refused({ topic: "a", bucket: "999999999999d" }, /^bucket must be 1 s\.\.366 d$/);
    refused({ topic: "a", bucket: "999ms" }, /^bucket must be 1 s\.\.366 d$/);
    refused({ topic: "a", bucket: "1w" }, /^bucket must be like 30s, 5m, 1h, 1d, milliseconds or auto/);
    refused({ topic: "a", from: String(NOW - 32 * DAY) }, /^range over raw data is at most 31 days/);
    assert.equal(parse({ topic: "a", from: String(NOW - 31 * DAY) }).bucket, null);
    refused({ topic: "a", from: String(NOW - 12 * DAY), bucket: "100s" }, /^at most 10000 buckets/);
    assert.equal(parse({ topic: "a", from: String(NOW - 10 * DAY), bucket: "100s" }).bucket, 100_000);
    refused({ topic: "a", from: "0", bucket: "1d" }, /^range is at most 3660 days/);
  });
});

describe("MQTT filters in SQL", () => {
  const topics = ["a", "a/b", "a/b/c", "a//c", "a/x/y/c", "ab/c", "A/b/c", "a/[x]*/c", "a/.*/c", "", "/a", "b"];
  for (const filter of ["#", "a/#", "a/+/c", "+", "+/#", "a/+/#", "a/[x]*/c", "a/.*/c", "/+"]) {
    it(`${filter} matches in PostgreSQL's regular expression as topicMatches does`, () => {
      assert.equal(filterProblem(filter), null);
      const re = new RegExp(filterToRegex(filter), "s");
      for (const t of topics) assert.equal(re.test(t), topicMatches(filter, t), `${filter} vs ${JSON.stringify(t)}`);
    });
  }

  it("gives SQLite a GLOB with the filter's literal prefix, wildcards escaped", () => {
    assert.equal(filterToGlob("pifog/+/doors"), "pifog/*/doors");
    assert.equal(filterToGlob("pifog/#"), "pifog*");
    assert.equal(filterToGlob("a*/[b]?/#"), "a[*]/[[]b[]][?]*");
  });
});

describe("history query gate", () => {
  const slow = () => {
    let finish!: (v: string) => void;
    const p = new Promise<string>((r) => (finish = r));
    return { p, finish };
  };

  it("runs a few at once, lets a few wait their turn, and refuses the rest at once with a retry time", async () => {
    const clock = new FakeClock();
    const gate = new QueryGate({ running: 2, queued: 2, waitMs: 10_000, timeoutMs: 20_000, clock });
    const works = Array.from({ length: 5 }, () => slow());
    const started: number[] = [];
    const runs = works.map((w, i) => gate.run(() => (started.push(i), w.p)));
    const fifth = await runs[4]!.then(() => null, (err: unknown) => err);
    assert.ok(fifth instanceof QueryBusy);
    assert.match(fifth.message, /too many history queries at once/);
    assert.equal(fifth.retryAfterS, 2);
    assert.deepEqual(started, [0, 1]);
    assert.deepEqual([gate.inFlight, gate.queued], [2, 2]);
    works[0]!.finish("a");
    assert.equal(await runs[0], "a");
    await Promise.resolve();
    assert.deepEqual(started, [0, 1, 2], "the first waiting takes the free slot");
    for (const w of works) w.finish("x");
    assert.deepEqual(await Promise.all(runs.slice(1, 4)), ["x", "x", "x"]);
    assert.deepEqual([gate.inFlight, gate.queued], [0, 0]);
  });

  it("tells a query that waited too long, or ran too long, to come back; a slow one keeps its slot until it ends", async () => {
    const clock = new FakeClock();
    const gate = new QueryGate({ running: 1, queued: 1, waitMs: 1000, timeoutMs: 5000, clock });
    const long = slow();
    const first = gate.run(() => long.p);
    const second = gate.run(() => Promise.resolve("never"));
    clock.tick(1000);
    await assert.rejects(second, (err: Error) => err instanceof QueryBusy && /waited 1 s for its turn/.test(err.message));
    clock.tick(4000);
    await assert.rejects(first, (err: Error) => err instanceof QueryBusy && /took longer than 5 s/.test(err.message));
    assert.equal(gate.inFlight, 1, "the store is still working on it");
    long.finish("late");
    await long.p;
    await Promise.resolve();
    assert.equal(gate.inFlight, 0);
    assert.equal(await gate.run(() => Promise.resolve("next")), "next");
  });
});

describe("history answers", () => {
  const query = { topic: ["a/#"], from: 0, to: 1000, limit: 10, maxBytes: 10 };
  const msg = (payload: string) => ({ topic: "a/b", at: 1, value: null, payload, qos: 1, retain: false });

  it("says when the size budget cut the messages, and only then", () => {
    const cut = JSON.parse(messagesAnswer(query, [msg("12345"), msg("67890")])) as Record<string, unknown>;
    assert.equal(cut.truncated, true);
    assert.equal(cut.topic, "a/#");
    assert.equal((cut.messages as Array<{ at: string }>)[0]!.at, "1970-01-01T00:00:00.001Z");
    assert.equal("truncated" in (JSON.parse(messagesAnswer(query, [msg("1234")])) as object), false);
  });

  it("says when the points budget cut the series", () => {
    const pt = (t: number) => ({ topic: "a/b", t, count: 1, min: 1, max: 1, mean: 1 });
    const cut = JSON.parse(bucketsAnswer({ ...query, topic: ["a/#", "b"], limit: 2 }, 1000, [pt(0), pt(1000)])) as Record<string, unknown>;
    assert.deepEqual([cut.topic, cut.truncated, (cut.series as unknown[]).length], [["a/#", "b"], true, 1]);
  });
});
