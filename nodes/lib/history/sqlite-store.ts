// History in SQLite (the embedded default): better-sqlite3, WAL, one transaction per batch on the event loop;
// every read on reader threads (sqlite-read-pool.ts).
import type { Statement } from "better-sqlite3";
import { dataDatabase, type DatabaseHandle, type SqlitePool } from "../store/sqlite";
import type { AnswerRequest } from "./answer";
import { queryFilters } from "./filter-sql";
import { SqliteReadPool } from "./sqlite-read-pool";
import {
  HOUR_MS,
  type BucketPoint,
  type HistoryQuery,
  type HistoryRecord,
  type HistoryStore,
  type StoredMessage,
  type TopicSummary,
} from "./types";
import { REPEAT_WINDOW_MS, RepeatFilter } from "./store-shared";

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

export interface SqliteHistoryOptions {
  /** Reader threads: how many reads run at once (default 2). */
  readers?: number;
  /** The runtime's open database files (the services' stores); else a connection of its own. */
  pool?: SqlitePool;
}

export class SqliteHistoryStore implements HistoryStore {
  readonly kind = "sqlite" as const;
  private readonly handle: DatabaseHandle;
  private readonly insertRow: Statement;
  private readonly findRepeat: Statement;
  private readonly insertMany: (records: HistoryRecord[]) => number;
  private readonly reads: SqliteReadPool;

  constructor(dataDir: string, name = "history", options: SqliteHistoryOptions = {}) {
    this.handle = dataDatabase(dataDir, name, options.pool);
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
    this.reads = new SqliteReadPool(this.handle.file, options.readers ?? 2);
  }

  async insert(records: HistoryRecord[]): Promise<number> {
    return records.length === 0 ? 0 : this.insertMany(records);
  }

  messages(query: HistoryQuery): Promise<StoredMessage[]> {
    return this.reads.run({ op: "messages", query: { ...query, topic: queryFilters(query) } });
  }

  buckets(query: HistoryQuery, bucketMs: number): Promise<BucketPoint[]> {
    return this.reads.run({ op: "buckets", query: { ...query, topic: queryFilters(query) }, bucketMs });
  }

  topics(limit = 100_000): Promise<TopicSummary[]> {
    return this.reads.run({ op: "topics", limit });
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

  /** The API's JSON answer, read and written on a reader thread: the event loop only sends it. */
  answer(req: AnswerRequest): Promise<Uint8Array> {
    return this.reads.run({ op: "answer", req });
  }

  count(): Promise<number> {
    return this.reads.run({ op: "count" });
  }

  async close(): Promise<void> {
    await this.reads.close();
    this.handle.release();
  }
}
