// History in PostgreSQL (the scale-out backend), same behaviour as the SQLite store.
import pg from "pg";
import { filterToRegex, isWildcard, queryFilters } from "./filter-sql";
import { REPEAT_WINDOW_MS, RepeatFilter, mergeBuckets, payloadAsText, repeatKey, type RollupRow } from "./store-shared";
import {
  HOUR_MS,
  type BucketPoint,
  type HistoryQuery,
  type HistoryRecord,
  type HistoryStore,
  type StoredMessage,
  type TopicSummary,
} from "./types";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS pifog_history_messages (
  id BIGSERIAL PRIMARY KEY,
  topic TEXT NOT NULL,
  at BIGINT NOT NULL,
  value DOUBLE PRECISION,
  payload BYTEA NOT NULL,
  qos SMALLINT NOT NULL,
  retain BOOLEAN NOT NULL,
  client TEXT,
  mid INTEGER
);
CREATE INDEX IF NOT EXISTS pifog_history_messages_topic_at ON pifog_history_messages(topic, at);
CREATE INDEX IF NOT EXISTS pifog_history_messages_at ON pifog_history_messages(at);
CREATE INDEX IF NOT EXISTS pifog_history_messages_client_mid ON pifog_history_messages(client, mid) WHERE mid IS NOT NULL;
CREATE TABLE IF NOT EXISTS pifog_history_rollups (
  topic TEXT NOT NULL,
  hour BIGINT NOT NULL,
  count BIGINT NOT NULL,
  min DOUBLE PRECISION,
  max DOUBLE PRECISION,
  sum DOUBLE PRECISION,
  PRIMARY KEY (topic, hour)
);
`;

export interface PgHistoryOptions {
  /** Connections for reads: how many reads run at once (default 2). */
  readers?: number;
  /** The server cancels a read after this long (default 20 s). */
  readTimeoutMs?: number;
}

export class PgHistoryStore implements HistoryStore {
  readonly kind = "postgres" as const;
  private readonly pool: pg.Pool;
  /** Reads have their own connections: a burst of slow queries never takes the ones the writer needs. */
  private readonly reads: pg.Pool;
  private ready: Promise<void>;

  constructor(connection: pg.PoolConfig, options: PgHistoryOptions = {}) {
    this.pool = new pg.Pool({ max: 4, ...connection });
    this.pool.on("error", () => undefined); // an idle client's error: the next query reports it
    this.reads = new pg.Pool({ ...connection, max: options.readers ?? 2, statement_timeout: options.readTimeoutMs ?? 20_000 });
    this.reads.on("error", () => undefined);
    this.ready = this.pool.query(SCHEMA).then(() => undefined);
    this.ready.catch(() => undefined);
  }

  async insert(records: HistoryRecord[]): Promise<number> {
    if (records.length === 0) return 0;
    await this.ready;
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      // one look-up for the whole batch: which (client, packet id) pairs were stored in the window already
      const candidates = records.filter((r) => r.dup && r.clientId !== null && r.messageId !== null);
      const stored = new Set<string>();
      if (candidates.length > 0) {
        const found = await client.query(
          `SELECT client, mid, topic, payload FROM pifog_history_messages
           WHERE at > $1 AND (client, mid) IN (SELECT * FROM unnest($2::text[], $3::int[]))`,
          [Math.min(...candidates.map((r) => r.at)) - REPEAT_WINDOW_MS, candidates.map((r) => r.clientId), candidates.map((r) => r.messageId)],
        );
        for (const row of found.rows as Array<{ client: string; mid: number; topic: string; payload: Buffer }>) {
          const key = repeatKey({ dup: true, clientId: row.client, messageId: row.mid, topic: row.topic, payload: row.payload } as HistoryRecord);
          if (key) stored.add(key);
        }
      }
      const repeats = new RepeatFilter();
      const keep = records.filter((r) => !repeats.isRepeat(r, (q) => stored.has(repeatKey(q)!)));
      if (keep.length > 0) {
        await client.query(
          `INSERT INTO pifog_history_messages (topic, at, value, payload, qos, retain, client, mid)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::float8[], $4::bytea[], $5::smallint[], $6::bool[], $7::text[], $8::int[])`,
          [
            keep.map((r) => r.topic),
            keep.map((r) => r.at),
            keep.map((r) => r.value),
            keep.map((r) => r.payload),
            keep.map((r) => r.qos),
            keep.map((r) => r.retain),
            keep.map((r) => r.clientId),
            keep.map((r) => r.messageId),
          ],
        );
      }
      await client.query("COMMIT");
      return keep.length;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /**
   * The filters, then from and to. Exact topics are one `= ANY` (the (topic, at) index), the wildcard filters one
   * regular expression for them all: twenty filters evaluated one by one on every row took seconds.
   */
  private where(query: HistoryQuery, column: "at" | "hour", from = query.from) {
    const filters = queryFilters(query);
    const exact = filters.filter((f) => !isWildcard(f));
    const wild = filters.filter(isWildcard);
    const args: unknown[] = [];
    const any: string[] = [];
    if (wild.includes("#")) any.push("TRUE");
    else {
      if (exact.length > 0) any.push(`topic = ANY($${args.push(exact)}::text[])`);
      if (wild.length > 0) any.push(`topic ~ $${args.push(`^(?:${wild.map((f) => filterToRegex(f).slice(1, -1)).join("|")})$`)}`);
    }
    args.push(from, query.to);
    return { sql: `(${any.join(" OR ")}) AND ${column} >= $${args.length - 1} AND ${column} < $${args.length}`, args };
  }

  async messages(query: HistoryQuery): Promise<StoredMessage[]> {
    await this.ready;
    const w = this.where(query, "at");
    const res = await this.reads.query(
      `SELECT topic, at, value, payload, qos, retain FROM pifog_history_messages WHERE ${w.sql} ORDER BY at, id LIMIT $${w.args.length + 1}`,
      [...w.args, query.limit],
    );
    const out: StoredMessage[] = [];
    let bytes = 0;
    for (const r of res.rows as Array<{ topic: string; at: string; value: number | null; payload: Buffer; qos: number; retain: boolean }>) {
      const payload = payloadAsText(r.payload);
      out.push({ topic: r.topic, at: Number(r.at), value: r.value, payload, qos: r.qos, retain: r.retain });
      bytes += payload.length;
      if (query.maxBytes !== undefined && bytes >= query.maxBytes) break;
    }
    return out;
  }

  async buckets(query: HistoryQuery, bucketMs: number): Promise<BucketPoint[]> {
    await this.ready;
    const b = Math.max(1, Math.floor(bucketMs));
    const w = this.where(query, "at");
    const raw = await this.reads.query(
      `SELECT topic, (at / ${b}) * ${b} AS t, count(*) AS count, min(value) AS min, max(value) AS max, sum(value) AS sum, count(value) AS n
       FROM pifog_history_messages WHERE ${w.sql} GROUP BY topic, t ORDER BY topic, t LIMIT $${w.args.length + 1}`,
      [...w.args, query.limit],
    );
    const rw = this.where(query, "hour", Math.floor(query.from / HOUR_MS) * HOUR_MS);
    const rolled = await this.reads.query(
      `SELECT topic, (hour / ${b}) * ${b} AS t, sum(count) AS count, min(min) AS min, max(max) AS max, sum(sum) AS sum, sum(count) AS n
       FROM pifog_history_rollups WHERE ${rw.sql} GROUP BY topic, t ORDER BY topic, t LIMIT $${rw.args.length + 1}`,
      [...rw.args, query.limit],
    );
    return mergeBuckets([...raw.rows, ...rolled.rows] as RollupRow[]).slice(0, query.limit);
  }

  async topics(limit = 100_000): Promise<TopicSummary[]> {
    await this.ready;
    const res = await this.reads.query(
      `SELECT m.topic, c.count, m.at, m.value, m.payload
       FROM (SELECT topic, count(*) AS count, max(id) AS last FROM pifog_history_messages GROUP BY topic ORDER BY topic LIMIT $1) c
       JOIN pifog_history_messages m ON m.id = c.last ORDER BY m.topic`,
      [limit],
    );
    return res.rows.map((r: { topic: string; count: string; at: string; value: number | null; payload: Buffer }) => ({
      topic: r.topic,
      count: Number(r.count),
      lastAt: Number(r.at),
      lastValue: r.value,
      lastPayload: payloadAsText(r.payload),
    }));
  }

  async prune(before: number, rollupsBefore: number): Promise<{ rolledUp: number; deleted: number }> {
    await this.ready;
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const rolled = await client.query(
        `INSERT INTO pifog_history_rollups (topic, hour, count, min, max, sum)
         SELECT topic, (at / ${HOUR_MS}) * ${HOUR_MS} AS h, count(value), min(value), max(value), sum(value)
         FROM pifog_history_messages WHERE at < $1 AND value IS NOT NULL GROUP BY topic, h
         ON CONFLICT (topic, hour) DO UPDATE SET count = pifog_history_rollups.count + excluded.count,
           min = LEAST(pifog_history_rollups.min, excluded.min), max = GREATEST(pifog_history_rollups.max, excluded.max),
           sum = coalesce(pifog_history_rollups.sum, 0) + coalesce(excluded.sum, 0)`,
        [before],
      );
      const deleted = await client.query("DELETE FROM pifog_history_messages WHERE at < $1", [before]);
      await client.query("DELETE FROM pifog_history_rollups WHERE hour < $1", [rollupsBefore]);
      await client.query("COMMIT");
      return { rolledUp: rolled.rowCount ?? 0, deleted: deleted.rowCount ?? 0 };
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async count(): Promise<number> {
    await this.ready;
    const res = await this.pool.query("SELECT count(*) AS n FROM pifog_history_messages");
    return Number(res.rows[0].n);
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.end(), this.reads.end()]);
  }
}
