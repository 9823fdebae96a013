// How many history queries a store runs at once: a few, a few more wait their turn, and the rest are told to
// come back later (503 with Retry-After) instead of piling up behind each other until everything times out.
import type { Clock } from "../clock";

/** Refused for now: the caller answers 503 with `Retry-After: retryAfterS`. */
export class QueryBusy extends Error {
  constructor(message: string, readonly retryAfterS: number) {
    super(message);
  }
}

export interface QueryGateOptions {
  /** Queries running at once. */
  running: number;
  /** Queries waiting for a turn; one more is refused at once. */
  queued: number;
  /** How long a query may wait for its turn. */
  waitMs: number;
  /** How long a caller waits for a running query; the query keeps its slot until it really ends. */
  timeoutMs: number;
  clock: Clock;
}

export const DEFAULT_GATE = { running: 2, queued: 8, waitMs: 10_000, timeoutMs: 20_000 } as const;

interface Waiter {
  start(): void;
  timer: unknown;
}

export class QueryGate {
  private active = 0;
  private readonly waiting: Waiter[] = [];

  constructor(private readonly o: QueryGateOptions) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active < this.o.running) return this.start(work);
    if (this.waiting.length >= this.o.queued) {
      return Promise.reject(new QueryBusy(`too many history queries at once (${this.o.running} running, ${this.o.queued} waiting): try again shortly`, 2));
    }
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        start: () => {
          this.o.clock.clearTimeout(waiter.timer);
          this.start(work).then(resolve, reject);
        },
        timer: this.o.clock.setTimeout(() => {
          const i = this.waiting.indexOf(waiter);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(new QueryBusy(`the history is busy: the query waited ${Math.round(this.o.waitMs / 1000)} s for its turn`, 5));
        }, this.o.waitMs),
      };
      this.waiting.push(waiter);
    });
  }

  private start<T>(work: () => Promise<T>): Promise<T> {
    this.active++;
    let running: Promise<T>;
    try {
      running = work();
    } catch (err) {
      running = Promise.reject(err as Error);
    }
    const done = () => {
      this.active--;
      this.waiting.shift()?.start();
    };
    running.then(done, done);
    return new Promise<T>((resolve, reject) => {
      const timer = this.o.clock.setTimeout(
        () => reject(new QueryBusy(`the query took longer than ${Math.round(this.o.timeoutMs / 1000)} s: ask for less`, 10)),
        this.o.timeoutMs,
      );
      running.then(
        (v) => {
          this.o.clock.clearTimeout(timer);
          resolve(v);
        },
        (err: unknown) => {
          this.o.clock.clearTimeout(timer);
          reject(err as Error);
        },
      );
    });
  }
}
