// History in SQLite (the embedded default): better-sqlite3, WAL, one transaction per batch.
import type { Statement } from "better-sqlite3";
import { topicMatches } from "../mqtt/topic-filter";
import { dataDatabase, type DatabaseHandle } from "../store/sqlite";
import {
  HOUR_MS,
  filterToLike,
  type BucketPoint,
  type HistoryQuery,
  type HistoryRecord,
  type HistoryStore,
  type StoredMessage,
  type TopicSummary,
} from "./types";
import { REPEAT_WINDOW_MS, RepeatFilter, mergeBuckets, payloadAsText, type RollupRow } from "./store-shared";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS history_messages (
  id INTEGER PRIMARY KEY,
  topic TEXT NOT NULL,
  at INTEGER NOT NULL,
  value REAL,
  payload BLOB NOT NULL,
  qos INTEGER NOT NULL,
  retain INTEGER NOT NULL,
  client TEXT,
  mid INTEGER
);
CREATE INDEX IF NOT EXISTS history_messages_topic_at ON history_messages(topic, at);
CREATE INDEX IF NOT EXISTS history_messages_at ON history_messages(at);
CREATE INDEX IF NOT EXISTS history_messages_client_mid ON history_messages(client, mid) WHERE mid IS NOT NULL;
CREATE TABLE IF NOT EXISTS history_rollups (
  topic TEXT NOT NULL,
  hour INTEGER NOT NULL,
  count INTEGER NOT NULL,
  min REAL,
  max REAL,
  sum REAL,
  PRIMARY KEY (topic, hour)
);
`;

// The unary + keeps SQLite on the (client, mid) index: on (topic, at) it would walk every message of the topic
// in the window, and the cost of each insert would grow with the table.
const REPEAT_SQL = "SELECT 1 FROM history_messages WHERE client = ? AND mid = ? AND +at > ? AND +topic = ? AND payload = ? LIMIT 1";

interface Row {
  topic: string;
  at: number;
  value: number | null;
  payload: Buffer;
  qos: number;
  retain: number;
}

export class SqliteHistoryStore implements HistoryStore {
  readonly kind = "sqlite" as const;
  private readonly handle: DatabaseHandle;
  private readonly insertRow: Statement;
  private readonly findRepeat: Statement;
  private readonly insertMany: (records: HistoryRecord[]) => number;

  constructor(dataDir: string, name = "history") {
    this.handle = dataDatabase(dataDir, name);
    const db = this.handle.db;
    db.exec(SCHEMA);
    this.insertRow = db.prepare(
      "INSERT INTO history_messages (topic, at, value, payload, qos, retain, client, mid) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    );
    this.findRepeat = db.prepare(REPEAT_SQL);
    this.insertMany = db.transaction((records: HistoryRecord[]) => {
      let added = 0;
      const repeats = new RepeatFilter();
      const stored = (q: HistoryRecord) => !!this.findRepeat.get(q.clientId, q.messageId, q.at - REPEAT_WINDOW_MS, q.topic, q.payload);
      records.forEach((r) => {
        if (repeats.isRepeat(r, stored)) return;
        this.insertRow.run(r.topic, r.at, r.value, r.payload, r.qos, r.retain ? 1 : 0, r.clientId, r.messageId);
        added++;
      });
      return added;
    });
  }

  async insert(records: HistoryRecord[]): Promise<number> {
    return records.length === 0 ? 0 : this.insertMany(records);
  }

  private where(query: HistoryQuery): { sql: string; args: unknown[]; exact: boolean; check: (topic: string) => boolean } {
    const { like, exact } = filterToLike(query.topic);
    return exact
      ? { sql: "topic = ? AND at >= ? AND at < ?", args: [like, query.from, query.to], exact, check: () => true }
      : { sql: "topic LIKE ? ESCAPE '\\' AND at >= ? AND at < ?", args: [like, query.from, query.to], exact, check: (t) => topicMatches(query.topic, t) };
  }

  async messages(query: HistoryQuery): Promise<StoredMessage[]> {
    const w = this.where(query);
    const rows = this.handle.db
      .prepare(`SELECT topic, at, value, payload, qos, retain FROM history_messages WHERE ${w.sql} ORDER BY at, id LIMIT ?`)
      // a LIKE pattern lets `+` span levels: fetch more, keep what the MQTT filter really matches
      .all(...w.args, w.exact ? query.limit : query.limit * 4) as Row[];
    return rows
      .filter((r) => w.check(r.topic))
      .slice(0, query.limit)
      .map((r) => ({ topic: r.topic, at: r.at, value: r.value, payload: payloadAsText(r.payload), qos: r.qos, retain: r.retain === 1 }));
  }

  async buckets(query: HistoryQuery, bucketMs: number): Promise<BucketPoint[]> {
    const w = this.where(query);
    const b = Math.max(1, Math.floor(bucketMs)); // an integer literal: a bound number would divide as REAL
    const raw = this.handle.db
      .prepare(
        `SELECT topic, (at / ${b}) * ${b} AS t, count(*) AS count, min(value) AS min, max(value) AS max, sum(value) AS sum, count(value) AS n
         FROM history_messages WHERE ${w.sql} GROUP BY topic, t ORDER BY topic, t`,
      )
      .all(...w.args) as RollupRow[];
    const rw = this.where({ ...query, from: Math.floor(query.from / HOUR_MS) * HOUR_MS });
    const rollups = this.handle.db
      .prepare(
        `SELECT topic, (hour / ${b}) * ${b} AS t, sum(count) AS count, min(min) AS min, max(max) AS max, sum(sum) AS sum, sum(count) AS n
         FROM history_rollups WHERE ${rw.sql.replace(/\bat\b/g, "hour")} GROUP BY topic, t ORDER BY topic, t`,
      )
      .all(...rw.args) as RollupRow[];
    return mergeBuckets([...raw, ...rollups].filter((r) => w.check(r.topic)));
  }

  async topics(): Promise<TopicSummary[]> {
    const rows = this.handle.db
      .prepare(
        `SELECT m.topic AS topic, c.count AS count, m.at AS at, m.value AS value, m.payload AS payload
         FROM (SELECT topic, count(*) AS count, max(id) AS last FROM history_messages GROUP BY topic) c
         JOIN history_messages m ON m.id = c.last ORDER BY m.topic`,
      )
      .all() as Array<{ topic: string; count: number; at: number; value: number | null; payload: Buffer }>;
    return rows.map((r) => ({ topic: r.topic, count: r.count, lastAt: r.at, lastValue: r.value, lastPayload: payloadAsText(r.payload) }));
  }

  async prune(before: number, rollupsBefore: number): Promise<{ rolledUp: number; deleted: number }> {
    const db = this.handle.db;
    return db.transaction(() => {
      const rolled = db
        .prepare(
          `INSERT INTO history_rollups (topic, hour, count, min, max, sum)
           SELECT topic, (at / ${HOUR_MS}) * ${HOUR_MS} AS h, count(value), min(value), max(value), sum(value)
           FROM history_messages WHERE at < ? AND value IS NOT NULL GROUP BY topic, h
           ON CONFLICT(topic, hour) DO UPDATE SET count = count + excluded.count,
             min = min(coalesce(min, excluded.min), coalesce(excluded.min, min)),
             max = max(coalesce(max, excluded.max), coalesce(excluded.max, max)),
             sum = coalesce(sum, 0) + coalesce(excluded.sum, 0)`,
        )
        .run(before).changes;
      const deleted = db.prepare("DELETE FROM history_messages WHERE at < ?").run(before).changes;
      db.prepare("DELETE FROM history_rollups WHERE hour < ?").run(rollupsBefore);
      return { rolledUp: rolled, deleted };
    })();
  }

  /** How SQLite runs the redelivery look-up (for the test that keeps it on its index). */
  repeatPlan(): string {
    const rows = this.handle.db
      .prepare(`EXPLAIN QUERY PLAN ${REPEAT_SQL}`)
      .all("c", 1, 0, "t", Buffer.alloc(0)) as Array<{ detail: string }>;
    return rows.map((r) => r.detail).join("; ");
  }

  async count(): Promise<number> {
    return (this.handle.db.prepare("SELECT count(*) AS n FROM history_messages").get() as { n: number }).n;
  }

  async close(): Promise<void> {
    this.handle.release();
  }
}
