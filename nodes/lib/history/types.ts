// The history logger's record and its storage backends' one interface (SQLite embedded, PostgreSQL scale-out).
import type { AnswerRequest } from "./answer";

export interface HistoryRecord {
  topic: string;
  payload: Buffer;
  /** The numeric value when the payload has one (a plain number, or a JSON number / `value` field). */
  value: number | null;
  /** Milliseconds since the epoch, when the logger took it. */
  at: number;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** Who published it and with which packet id: lets a redelivered (DUP) QoS 1 message be stored once. */
  clientId: string | null;
  messageId: number | null;
  /** May be a redelivery of a message already stored (see store-shared.ts isRepeat). */
  dup: boolean;
}

export interface StoredMessage {
  topic: string;
  at: number;
  value: number | null;
  payload: string;
  qos: number;
  retain: boolean;
}

export interface BucketPoint {
  topic: string;
  /** Bucket start, ms. */
  t: number;
  count: number;
  min: number | null;
  max: number | null;
  mean: number | null;
}

export interface TopicSummary {
  topic: string;
  count: number;
  lastAt: number;
  lastValue: number | null;
  lastPayload: string;
}

export interface HistoryQuery {
  /** An exact topic or an MQTT filter (`+`, `#`), or several: a message matching any of them. */
  topic: string | readonly string[];
  from: number;
  to: number;
  /** Messages: at most this many, oldest first. Buckets: at most this many points. */
  limit: number;
  /** Messages: stop once the payloads returned (as text) add up to this many characters (the one that crosses it is kept). */
  maxBytes?: number;
}

export interface HistoryStore {
  readonly kind: "sqlite" | "postgres";
  /** Stores the records in one transaction; resolves once committed. Returns how many were new (not DUP repeats). */
  insert(records: HistoryRecord[]): Promise<number>;
  messages(query: HistoryQuery): Promise<StoredMessage[]>;
  buckets(query: HistoryQuery, bucketMs: number): Promise<BucketPoint[]>;
  /** Every topic (the first `limit`, by name) with its count and last message. */
  topics(limit?: number): Promise<TopicSummary[]>;
  /** Rolls raw messages older than `before` into hourly roll-ups and deletes them; drops roll-ups older than `rollupsBefore`. */
  prune(before: number, rollupsBefore: number): Promise<{ rolledUp: number; deleted: number }>;
  count(): Promise<number>;
  /** The history API's JSON answer, where a store can build it off the event loop (see answer.ts). */
  answer?(req: AnswerRequest): Promise<Uint8Array>;
  close(): Promise<void>;
}

export const HOUR_MS = 3_600_000;
