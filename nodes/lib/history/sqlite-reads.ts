// The history's reads on SQLite, run by the reader threads (sqlite-read-worker.ts) on their own read-only
// connections, never on the event loop: a read over a month of messages takes a second, and the broker's
// acknowledgements and the dashboard must not wait for it.
import type { Database } from "better-sqlite3";
import { topicMatches } from "../mqtt/topic-filter";
import { bucketsAnswer, messagesAnswer, topicsAnswer, type AnswerRequest } from "./answer";
import { filterToGlob, isWildcard, queryFilters } from "./filter-sql";
import { mergeBuckets, payloadAsText, type RollupRow } from "./store-shared";
import { HOUR_MS, type BucketPoint, type HistoryQuery, type StoredMessage, type TopicSummary } from "./types";

export type ReadRequest =
  | { op: "messages"; query: HistoryQuery }
  | { op: "buckets"; query: HistoryQuery; bucketMs: number }
  | { op: "topics"; limit: number }
  | { op: "count" }
  | { op: "answer"; req: AnswerRequest };

/** What a reader connection needs before its first read. */
export function prepareReader(db: Database): void {
  db.pragma("busy_timeout = 5000");
  db.function("mqtt_match", { deterministic: true }, (filter: unknown, topic: unknown) =>
    topicMatches(String(filter), String(topic)) ? 1 : 0,
  );
}

function where(query: HistoryQuery, column: "at" | "hour", from: number): { sql: string; args: unknown[] } {
  const args: unknown[] = [];
  const any = queryFilters(query).map((f) => {
    if (!isWildcard(f)) {
      args.push(f);
      return "topic = ?";
    }
    args.push(filterToGlob(f), f);
    return "(topic GLOB ? AND mqtt_match(?, topic))";
  });
  args.push(from, query.to);
  return { sql: `(${any.join(" OR ")}) AND ${column} >= ? AND ${column} < ?`, args };
}

interface Row {
  topic: string;
  at: number;
  value: number | null;
  payload: Buffer;
  qos: number;
  retain: number;
}

function messages(db: Database, query: HistoryQuery): StoredMessage[] {
  const w = where(query, "at", query.from);
  const rows = db
    .prepare(`SELECT topic, at, value, payload, qos, retain FROM history_messages WHERE ${w.sql} ORDER BY at, id LIMIT ?`)
    .iterate(...w.args, query.limit) as IterableIterator<Row>;
  const out: StoredMessage[] = [];
  let bytes = 0;
  for (const r of rows) {
    const payload = payloadAsText(r.payload);
    out.push({ topic: r.topic, at: r.at, value: r.value, payload, qos: r.qos, retain: r.retain === 1 });
    bytes += payload.length;
    if (query.maxBytes !== undefined && bytes >= query.maxBytes) break;
  }
  return out;
}

function buckets(db: Database, query: HistoryQuery, bucketMs: number): BucketPoint[] {
  const b = Math.max(1, Math.floor(bucketMs)); // an integer literal: a bound number would divide as REAL
  const w = where(query, "at", query.from);
  const raw = db
    .prepare(
      `SELECT topic, (at / ${b}) * ${b} AS t, count(*) AS count, min(value) AS min, max(value) AS max, sum(value) AS sum, count(value) AS n
       FROM history_messages WHERE ${w.sql} GROUP BY topic, t ORDER BY topic, t LIMIT ?`,
    )
    .all(...w.args, query.limit) as RollupRow[];
  const rw = where(query, "hour", Math.floor(query.from / HOUR_MS) * HOUR_MS);
  const rollups = db
    .prepare(
      `SELECT topic, (hour / ${b}) * ${b} AS t, sum(count) AS count, min(min) AS min, max(max) AS max, sum(sum) AS sum, sum(count) AS n
       FROM history_rollups WHERE ${rw.sql} GROUP BY topic, t ORDER BY topic, t LIMIT ?`,
    )
    .all(...rw.args, query.limit) as RollupRow[];
  return mergeBuckets([...raw, ...rollups]).slice(0, query.limit);
}

function topics(db: Database, limit: number): TopicSummary[] {
  const rows = db
    .prepare(
      `SELECT m.topic AS topic, c.count AS count, m.at AS at, m.value AS value, m.payload AS payload
       FROM (SELECT topic, count(*) AS count, max(id) AS last FROM history_messages GROUP BY topic ORDER BY topic LIMIT ?) c
       JOIN history_messages m ON m.id = c.last ORDER BY m.topic`,
    )
    .all(limit) as Array<{ topic: string; count: number; at: number; value: number | null; payload: Buffer }>;
  return rows.map((r) => ({ topic: r.topic, count: r.count, lastAt: r.at, lastValue: r.value, lastPayload: payloadAsText(r.payload) }));
}

function answer(db: Database, req: AnswerRequest): Uint8Array {
  return new TextEncoder().encode(answerText(db, req));
}

function answerText(db: Database, req: AnswerRequest): string {
  switch (req.kind) {
    case "messages":
      return messagesAnswer(req.query, messages(db, req.query));
    case "buckets":
      return bucketsAnswer(req.query, req.bucket, buckets(db, req.query, req.bucket));
    case "topics":
      return topicsAnswer(req.limit, topics(db, req.limit));
  }
}

export function runRead(db: Database, req: ReadRequest): unknown {
  switch (req.op) {
    case "messages":
      return messages(db, req.query);
    case "buckets":
      return buckets(db, req.query, req.bucketMs);
    case "topics":
      return topics(db, req.limit);
    case "count":
      return (db.prepare("SELECT count(*) AS n FROM history_messages").get() as { n: number }).n;
    case "answer":
      return answer(db, req.req);
  }
}
