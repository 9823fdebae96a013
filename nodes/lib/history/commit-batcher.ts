// Group commit: records arriving while a transaction runs go into the next one, so a burst of QoS 1
// messages costs a few fsyncs, not one each. Each add() resolves only once its record is committed.
import { performance } from "node:perf_hooks";
import type { Clock } from "../clock";
import type { HistoryRecord, HistoryStore } from "./types";

interface Pending {
  record: HistoryRecord;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Who watches the commits (the runtime's metrics and /health). */
export interface CommitObserver {
  /** A transaction of `rows` records committed after `seconds`. */
  committed(rows: number, seconds: number): void;
  /** A transaction failed (its records were refused, never acknowledged). */
  failed(err: Error): void;
}

export interface BatcherOptions {
  /** At most this many records in one transaction. */
  maxBatch: number;
  /** How long the first record of a batch waits for company (0: the next turn of the event loop). */
  maxDelayMs: number;
  clock: Clock;
  observer?: CommitObserver;
}

export class CommitBatcher {
  private queue: Pending[] = [];
  private committing = false;
  private timer: unknown = null;
  private closed = false;
  committed = 0;
  failures = 0;
  lastError: Error | null = null;

  constructor(private readonly store: HistoryStore, private readonly options: BatcherOptions, private readonly onCommit?: (n: number) => void) {}

  get backlog(): number {
    return this.queue.length;
  }

  add(record: HistoryRecord): Promise<void> {
    if (this.closed) return Promise.reject(new Error("history is closing"));
    return new Promise((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.committing || this.timer !== null) return;
    if (this.queue.length >= this.options.maxBatch || this.options.maxDelayMs <= 0) {
      this.timer = setImmediate(() => this.flush());
    } else {
      this.timer = this.options.clock.setTimeout(() => this.flush(), this.options.maxDelayMs);
    }
  }

  private async flush(): Promise<void> {
    this.timer = null;
    if (this.committing || this.queue.length === 0) return;
    this.committing = true;
    const batch = this.queue.splice(0, this.options.maxBatch);
    // a duration, not a time of day: measured, never scheduled on, so not the injected clock
    const started = performance.now();
    try {
      await this.store.insert(batch.map((p) => p.record));
      this.committed += batch.length;
      this.observe((o) => o.committed(batch.length, (performance.now() - started) / 1000));
      for (const p of batch) p.resolve();
      this.onCommit?.(batch.length);
    } catch (err) {
      this.failures++;
      this.lastError = err as Error;
      this.observe((o) => o.failed(err as Error));
      for (const p of batch) p.reject(err as Error);
    } finally {
      this.committing = false;
      if (this.queue.length > 0) this.schedule();
    }
  }

  /** An observer that throws never fails a commit. */
  private observe(tell: (o: CommitObserver) => void): void {
    if (!this.options.observer) return;
    try {
      tell(this.options.observer);
    } catch {
      // the observer's own problem
    }
  }

  /** Commits what is queued, then refuses new records. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.queue.length > 0 || this.committing) {
      if (!this.committing) await this.flush();
      else await new Promise((r) => setImmediate(r));
    }
  }
}
