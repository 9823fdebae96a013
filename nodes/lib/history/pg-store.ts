// History in PostgreSQL (the scale-out backend), same behaviour as the SQLite store.
import pg from "pg";
import { topicMatches } from "../mqtt/topic-filter";
import { REPEAT_WINDOW_MS, RepeatFilter, mergeBuckets, payloadAsText, repeatKey, type RollupRow } from "./store-shared";
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

export class PgHistoryStore implements HistoryStore {
  readonly kind = "postgres" as const;
  private readonly pool: pg.Pool;
  private ready: Promise<void>;

  constructor(connection: pg.PoolConfig) {
    this.pool = new pg.Pool({ max: 4, ...connection });
    this.pool.on("error", () => undefined); // an idle client's error: the next query reports it
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

  private where(query: HistoryQuery, column = "at") {
    const { like, exact } = filterToLike(query.topic);
    return {
      sql: `${exact ? "topic = $1" : "topic LIKE $1"} AND ${column} >= $2 AND ${column} < $3`,
      args: [like, query.from, query.to] as unknown[],
      exact,
      check: (t: string) => exact || topicMatches(query.topic, t),
    };
  }

  async messages(query: HistoryQuery): Promise<StoredMessage[]> {
    await this.ready;
    const w = this.where(query);
    const res = await this.pool.query(
      `SELECT topic, at, value, payload, qos, retain FROM pifog_history_messages WHERE ${w.sql} ORDER BY at, id LIMIT $4`,
      [...w.args, w.exact ? query.limit : query.limit * 4],
    );
    return res.rows
      .filter((r: { topic: string }) => w.check(r.topic))
      .slice(0, query.limit)
      .map((r: { topic: string; at: string; value: number | null; payload: Buffer; qos: number; retain: boolean }) => ({
        topic: r.topic,
        at: Number(r.at),
        value: r.value,
        payload: payloadAsText(r.payload),
        qos: r.qos,
        retain: r.retain,
      }));
  }

  async buckets(query: HistoryQuery, bucketMs: number): Promise<BucketPoint[]> {
    await this.ready;
    const w = this.where(query);
    const raw = await this.pool.query(
      `SELECT topic, (at / $4) * $4 AS t, count(*) AS count, min(value) AS min, max(value) AS max, sum(value) AS sum, count(value) AS n
       FROM pifog_history_messages WHERE ${w.sql} GROUP BY topic, t ORDER BY topic, t`,
      [...w.args, bucketMs],
    );
    const rw = this.where({ ...query, from: Math.floor(query.from / HOUR_MS) * HOUR_MS }, "hour");
    const rolled = await this.pool.query(
      `SELECT topic, (hour / $4) * $4 AS t, sum(count) AS count, min(min) AS min, max(max) AS max, sum(sum) AS sum, sum(count) AS n
       FROM pifog_history_rollups WHERE ${rw.sql} GROUP BY topic, t ORDER BY topic, t`,
      [...rw.args, bucketMs],
    );
    return mergeBuckets(([...raw.rows, ...rolled.rows] as RollupRow[]).filter((r) => w.check(r.topic)));
  }

  async topics(): Promise<TopicSummary[]> {
    await this.ready;
    const res = await this.pool.query(
      `SELECT m.topic, c.count, m.at, m.value, m.payload
       FROM (SELECT topic, count(*) AS count, max(id) AS last FROM pifog_history_messages GROUP BY topic) c
       JOIN pifog_history_messages m ON m.id = c.last ORDER BY m.topic`,
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
    await this.pool.end();
  }
}
