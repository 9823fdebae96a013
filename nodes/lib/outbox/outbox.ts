// The durable outbox: put → deliver → ack → delete. Whatever a cloud bridge accepts is committed to
// `<data dir>/outbox.db` before `put` returns, and deleted only after its delivery succeeded, so an outage,
// a restart or a crash only delays it. A crash in the middle of a delivery means that batch is delivered
// again after the restart (at least once): a receiver that can tell duplicates apart (ThingSpeak's
// `created_at`, a message id) makes that exactly once.
//
// One queue drains in order, one delivery at a time: the oldest items first, in batches, with at least
// `minIntervalMs` between the end of one attempt and the start of the next, and exponential backoff after a
// failure. All timers go through the injected Clock.
import type Database from "better-sqlite3";
import { EventEmitter } from "node:events";
import type { Clock } from "../clock";
import { dataDatabase, type DatabaseHandle, type SqliteDatabase, type SqlitePool } from "../store/sqlite";
import type { OutboxRegistry } from "./registry";

export interface OutboxItem<T> {
  /** Increasing in the order of `put`, across restarts. */
  readonly id: number;
  /** Clock time of the `put` (ms since the epoch). */
  readonly createdAt: number;
  /** Delivery attempts so far, this one included: more than 1 means it may have reached the receiver before. */
  readonly attempts: number;
  readonly payload: T;
}

/** What a successful delivery tells the outbox. Resolving with nothing acks the whole batch. */
export interface Delivered {
  /** How many of the oldest items of the batch were delivered (default: all); the rest stay queued. */
  count?: number;
  /** Saved with the ack, in the same transaction (see `Outbox.state`); `undefined` keeps the old state. */
  state?: unknown;
}

/** Throw this from `deliver` to keep the batch and say when to try again (a Retry-After, a bad key). */
export class DeliveryError extends Error {
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options: { retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "DeliveryError";
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Which of the oldest items may go now: how many, or nothing until a time (e.g. a window that is still open). */
export type Selection = number | { waitUntil: number };

export interface BackoffOptions {
  /** The first retry waits this long (default 1 s)… */
  initialMs?: number;
  /** …each further one `factor` times longer (default 2)… */
  factor?: number;
  /** …at most this long (default 5 min). */
  maxMs?: number;
}

export interface OutboxOptions<T> {
  dataDir: string;
  /** The runtime's open database files (the services' stores): an outbox opened without one has its own
   * connection, and only outboxes of one pool see each other's queues as taken. */
  pool?: SqlitePool;
  /** The queue's name: one table holds every queue, keyed by it. One open outbox per queue. */
  queue: string;
  clock: Clock;
  /** Delivers the oldest items, in order. Resolve when they were delivered; reject (ideally with a
   * DeliveryError) to keep them all and retry later. `signal` aborts when the outbox closes. */
  deliver: (items: OutboxItem<T>[], signal: AbortSignal) => Promise<Delivered | void>;
  /** Picks the leading part of the oldest items that may be delivered now (default: all of them). */
  select?: (items: OutboxItem<T>[], now: number) => Selection;
  /** Most items handed to one `select`/`deliver` (default 100). */
  batchSize?: number;
  /** Least time between the end of one attempt and the start of the next (default 0). */
  minIntervalMs?: number;
  backoff?: BackoffOptions;
  /** The runtime's open outboxes (the services' `outboxes`): this one is in it until it closes, so the metrics and
   * /health see its queue. */
  registry?: OutboxRegistry;
}

export interface OutboxSnapshot {
  queue: string;
  size: number;
  /** Clock time of the oldest queued item, or null when empty. */
  oldestAt: number | null;
  /** Failed attempts in a row (0 after a success). */
  failures: number;
  lastError: string | null;
  lastDeliveredAt: number | null;
  /** When the next attempt is due, or null when none is scheduled. */
  nextAttemptAt: number | null;
  /** After a failure: the earliest time of the retry; null when not failing. */
  retryAt: number | null;
  delivering: boolean;
}

export interface OutboxEvents<T> {
  delivered: [items: OutboxItem<T>[]];
  failed: [error: Error, retryInMs: number];
  /** Anything in the snapshot changed (put, ack, failure, schedule). */
  change: [];
}

export class OutboxBusyError extends Error {
  constructor(queue: string) {
    super(`outbox queue "${queue}" is already open in this process`);
    this.name = "OutboxBusyError";
  }
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    payload TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS outbox_queue_id ON outbox (queue, id);
  CREATE TABLE IF NOT EXISTS outbox_state (
    queue TEXT PRIMARY KEY,
    state TEXT NOT NULL
  );
`;

interface Row {
  id: number;
  created_at: number;
  attempts: number;
  payload: string;
}

type Statement = Database.Statement<unknown[]>;

export class Outbox<T> extends EventEmitter<OutboxEvents<T>> {
  readonly queue: string;
  private readonly handle: DatabaseHandle;
  private readonly db: SqliteDatabase;
  private readonly clock: Clock;
  private readonly batchSize: number;
  private readonly minIntervalMs: number;
  private readonly backoff: Required<BackoffOptions>;
  private readonly statements: Record<
    "insert" | "count" | "oldest" | "peek" | "attempt" | "ack" | "getState" | "setState",
    Statement
  >;
  private size_: number;
  private started = false;
  private closed = false;
  private timer: unknown = null;
  private timerAt: number | null = null;
  private inFlight: Promise<void> | null = null;
  private abort: AbortController | null = null;
  /** Earliest time of the next attempt: the minimum interval, a backoff or a `waitUntil`. */
  private notBefore = -Infinity;
  private failures = 0;
  /** `select` found nothing to send and named no time: wait for the next put. */
  private parked = false;
  private lastError: string | null = null;
  private lastDeliveredAt: number | null = null;
  private unregister: () => void = () => undefined;

  constructor(private readonly options: OutboxOptions<T>) {
    super();
    if (!options.queue) throw new Error("an outbox needs a queue name");
    this.queue = options.queue;
    this.clock = options.clock;
    this.batchSize = Math.max(1, Math.floor(options.batchSize ?? 100));
    this.minIntervalMs = Math.max(0, options.minIntervalMs ?? 0);
    this.backoff = {
      initialMs: Math.max(1, options.backoff?.initialMs ?? 1000),
      factor: Math.max(1, options.backoff?.factor ?? 2),
      maxMs: Math.max(1, options.backoff?.maxMs ?? 5 * 60_000),
    };
    this.handle = dataDatabase(options.dataDir, "outbox", options.pool);
    if (!this.handle.claim(this.queue)) {
      this.handle.release();
      throw new OutboxBusyError(this.queue);
    }
    try {
      this.db = this.handle.db;
      this.db.exec(SCHEMA);
      this.statements = {
        insert: this.db.prepare("INSERT INTO outbox (queue, created_at, payload) VALUES (?, ?, ?)"),
        count: this.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE queue = ?"),
        oldest: this.db.prepare("SELECT created_at FROM outbox WHERE queue = ? ORDER BY id LIMIT 1"),
        peek: this.db.prepare("SELECT id, created_at, attempts, payload FROM outbox WHERE queue = ? ORDER BY id LIMIT ?"),
        attempt: this.db.prepare("UPDATE outbox SET attempts = attempts + 1 WHERE queue = ? AND id BETWEEN ? AND ?"),
        ack: this.db.prepare("DELETE FROM outbox WHERE queue = ? AND id BETWEEN ? AND ?"),
        getState: this.db.prepare("SELECT state FROM outbox_state WHERE queue = ?"),
        setState: this.db.prepare(
          "INSERT INTO outbox_state (queue, state) VALUES (?, ?) ON CONFLICT(queue) DO UPDATE SET state = excluded.state",
        ),
      };
      this.size_ = (this.statements.count.get(this.queue) as { n: number }).n;
      if (options.registry) this.unregister = options.registry.add(this);
    } catch (err) {
      this.handle.unclaim(this.queue);
      this.handle.release();
      throw err;
    }
  }

  /** Queued items (put and not yet acked). */
  get size(): number {
    return this.size_;
  }

  /** Clock time of the oldest queued item, or null when the queue is empty. */
  oldestAt(): number | null {
    if (this.closed || this.size_ === 0) return null;
    const row = this.statements.oldest.get(this.queue) as { created_at: number } | undefined;
    return row ? row.created_at : null;
  }

  /** How long the oldest queued item has waited, in ms (0 when empty). */
  oldestAgeMs(): number {
    const at = this.oldestAt();
    return at === null ? 0 : Math.max(0, this.clock.now() - at);
  }

  /** The state saved with the last ack (see `Delivered.state`), or undefined. */
  state<S = unknown>(): S | undefined {
    const row = this.statements.getState.get(this.queue) as { state: string } | undefined;
    return row ? (JSON.parse(row.state) as S) : undefined;
  }

  snapshot(): OutboxSnapshot {
    return {
      queue: this.queue,
      size: this.size_,
      oldestAt: this.oldestAt(),
      failures: this.failures,
      lastError: this.lastError,
      lastDeliveredAt: this.lastDeliveredAt,
      nextAttemptAt: this.timerAt,
      retryAt: this.failures > 0 ? this.notBefore : null,
      delivering: this.inFlight !== null,
    };
  }

  /** Stores an item; it is on disk when this returns. Returns its id. */
  put(payload: T): number {
    return this.putMany([payload])[0] as number;
  }

  /** Stores several items in one transaction, in order. */
  putMany(payloads: T[]): number[] {
    this.assertOpen();
    const now = this.clock.now();
    const encoded = payloads.map((p) => {
      const text = JSON.stringify(p);
      if (text === undefined) throw new TypeError("an outbox item must be JSON-serialisable");
      return text;
    });
    const ids = this.db.transaction(() =>
      encoded.map((text) => Number(this.statements.insert.run(this.queue, now, text).lastInsertRowid)),
    )();
    this.size_ += ids.length;
    this.parked = false;
    this.emitSafely("change");
    this.kick();
    return ids;
  }

  /** The oldest items, without delivering them. */
  peek(limit = this.batchSize): OutboxItem<T>[] {
    this.assertOpen();
    return (this.statements.peek.all(this.queue, limit) as Row[]).map((r) => ({
      id: r.id,
      createdAt: r.created_at,
      attempts: r.attempts,
      payload: JSON.parse(r.payload) as T,
    }));
  }

  /** Deletes the oldest queued items without delivering them (a quota's "drop oldest" policy) and returns them.
   * An item already handed to a delivery in flight may still reach the receiver. */
  dropOldest(count: number): OutboxItem<T>[] {
    this.assertOpen();
    const dropped = this.peek(Math.max(0, Math.floor(count)));
    if (dropped.length === 0) return [];
    const first = (dropped[0] as OutboxItem<T>).id;
    const last = (dropped[dropped.length - 1] as OutboxItem<T>).id;
    const removed = this.statements.ack.run(this.queue, first, last).changes;
    this.size_ = Math.max(0, this.size_ - removed);
    this.emitSafely("change");
    return dropped;
  }

  /** Starts draining: what is already queued (from before a restart) goes first, after the minimum interval
   * (a start counts as an attempt, so a quick restart does not break the receiver's rate limit). */
  start(): void {
    this.assertOpen();
    this.started = true;
    this.notBefore = Math.max(this.notBefore, this.clock.now() + this.minIntervalMs);
    this.kick();
  }

  /** Forgets the backoff and tries as soon as the minimum interval allows (e.g. the user asked to flush). */
  retryNow(): void {
    if (this.closed) return;
    this.notBefore = -Infinity;
    this.parked = false;
    this.cancelTimer();
    this.kick();
  }

  /** Resolves when no delivery is in flight. */
  async settled(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }

  /** Stops draining, aborts a delivery in flight (its items stay queued) and releases the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unregister();
    this.cancelTimer();
    this.abort?.abort(new Error("outbox closed"));
    await this.settled();
    this.handle.unclaim(this.queue);
    this.handle.release();
    this.removeAllListeners();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`outbox queue "${this.queue}" is closed`);
  }

  /** Makes sure an attempt is scheduled if there is anything to deliver. */
  private kick(): void {
    if (!this.started || this.closed || this.inFlight || this.parked || this.size_ === 0) return;
    this.schedule(Math.max(this.clock.now(), this.notBefore));
  }

  private schedule(at: number): void {
    if (this.timer !== null && this.timerAt !== null && this.timerAt <= at) return;
    this.cancelTimer();
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.timerAt = null;
      this.inFlight = this.attempt().finally(() => {
        this.inFlight = null;
        this.abort = null;
        this.kick();
        this.emitSafely("change");
      });
    }, Math.max(0, at - this.clock.now()));
    this.emitSafely("change");
  }

  private cancelTimer(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = null;
  }

  private async attempt(): Promise<void> {
    if (this.closed || this.size_ === 0) return;
    const batch = this.peek(this.batchSize);
    if (batch.length === 0) return;
    let take = batch.length;
    if (this.options.select) {
      let selection: Selection;
      try {
        selection = this.options.select(batch, this.clock.now());
      } catch (err) {
        this.failed(err as Error);
        return;
      }
      if (typeof selection === "object") {
        // nothing may go yet; not a failure, and no attempt was made
        this.notBefore = Math.max(selection.waitUntil, this.notBefore);
        return;
      }
      take = Math.min(batch.length, Math.floor(selection));
      if (!(take > 0)) {
        this.parked = true;
        return;
      }
    }
    const first = batch[0] as OutboxItem<T>;
    const items = batch.slice(0, take).map((i) => ({ ...i, attempts: i.attempts + 1 }));
    const last = items[items.length - 1] as OutboxItem<T>;
    // recorded before delivering, so after a crash the receiver's side can be suspected of a duplicate
    this.statements.attempt.run(this.queue, first.id, last.id);
    this.abort = new AbortController();
    let outcome: Delivered | void;
    try {
      outcome = await this.options.deliver(items, this.abort.signal);
    } catch (err) {
      this.failed(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const count = Math.max(0, Math.min(items.length, Math.floor(outcome?.count ?? items.length)));
    const acked = items.slice(0, count);
    const state = outcome?.state;
    this.db.transaction(() => {
      if (count > 0) {
        const removed = this.statements.ack.run(this.queue, first.id, (acked[acked.length - 1] as OutboxItem<T>).id).changes;
        this.size_ = Math.max(0, this.size_ - removed);
      }
      if (state !== undefined) this.statements.setState.run(this.queue, JSON.stringify(state));
    })();
    const now = this.clock.now();
    this.failures = 0;
    this.lastError = null;
    this.lastDeliveredAt = now;
    this.notBefore = now + this.minIntervalMs;
    if (acked.length > 0) this.emitSafely("delivered", acked);
  }

  private failed(err: Error): void {
    this.failures++;
    const exponential = Math.min(
      this.backoff.maxMs,
      this.backoff.initialMs * Math.pow(this.backoff.factor, this.failures - 1),
    );
    const retryAfter = err instanceof DeliveryError && err.retryAfterMs !== undefined ? err.retryAfterMs : exponential;
    const wait = Math.max(retryAfter, this.minIntervalMs);
    this.lastError = err.message;
    this.notBefore = this.clock.now() + wait;
    this.emitSafely("failed", err, wait);
  }

  /** A listener that throws never stops the queue. */
  private emitSafely<K extends keyof OutboxEvents<T>>(event: K, ...args: OutboxEvents<T>[K]): void {
    try {
      (this.emit as (e: K, ...a: OutboxEvents<T>[K]) => boolean)(event, ...args);
    } catch {
      // the listener's own problem
    }
  }
}
