// Tumbling windows of per-topic statistics: count, min, max, mean, standard deviation, first, last.
// Pure: the caller says what time it is. Windows are aligned to multiples of their length since the epoch
// (5 min: :00, :05, …), so a window restored after a restart is the same window, and close times are predictable.
import type { WindowStats } from "../contract";

/** Running aggregates of one topic in one window. Mean and variance by Welford's method (stable), and a
 * plain sum as well, since the published mean is sum / count as IoTitan's pandas computed it. */
export interface Aggregate {
  count: number;
  sum: number;
  mean: number;
  /** Sum of squared differences from the mean (Welford's M2). */
  m2: number;
  min: number;
  max: number;
  first: number;
  last: number;
  firstAt: number;
  lastAt: number;
}

export function newAggregate(value: number, at: number): Aggregate {
  return { count: 1, sum: value, mean: value, m2: 0, min: value, max: value, first: value, last: value, firstAt: at, lastAt: at };
}

/** Adds one reading in place. */
export function addValue(a: Aggregate, value: number, at: number): void {
  a.count++;
  a.sum += value;
  const delta = value - a.mean;
  a.mean += delta / a.count;
  a.m2 += delta * (value - a.mean);
  if (value < a.min) a.min = value;
  if (value > a.max) a.max = value;
  a.last = value;
  a.lastAt = at;
}

/** The aggregate of two sets of readings (Chan et al.'s parallel variance); `first`/`last` by time. */
export function mergeAggregates(a: Aggregate, b: Aggregate): Aggregate {
  const count = a.count + b.count;
  const delta = b.mean - a.mean;
  const earlier = b.firstAt < a.firstAt ? b : a;
  const later = b.lastAt >= a.lastAt ? b : a;
  return {
    count,
    sum: a.sum + b.sum,
    mean: a.mean + (delta * b.count) / count,
    m2: a.m2 + b.m2 + (delta * delta * a.count * b.count) / count,
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
    first: earlier.first,
    firstAt: earlier.firstAt,
    last: later.last,
    lastAt: later.lastAt,
  };
}

/** The published mean: sum / count, clamped into [min, max] against rounding. */
export function meanOf(a: Aggregate): number {
  const m = a.sum / a.count;
  return Math.min(a.max, Math.max(a.min, m));
}

/** Sample standard deviation (n − 1), as pandas' `describe()`; null for one reading. */
export function stddevOf(a: Aggregate): number | null {
  if (a.count < 2) return null;
  return Math.sqrt(Math.max(0, a.m2) / (a.count - 1));
}

export function windowStartOf(t: number, windowMs: number): number {
  return Math.floor(t / windowMs) * windowMs;
}

export function windowStats(device: string, topic: string, a: Aggregate, start: number, end: number): WindowStats {
  const iso = (t: number) => new Date(t).toISOString();
  return {
    device,
    topic,
    windowStart: iso(start),
    windowEnd: iso(end),
    count: a.count,
    min: a.min,
    max: a.max,
    mean: meanOf(a),
    stddev: stddevOf(a),
    first: a.first,
    last: a.last,
    firstAt: iso(a.firstAt),
    lastAt: iso(a.lastAt),
  };
}

/** One window's readings by topic. */
export interface Window {
  start: number;
  end: number;
  windowMs: number;
  topics: Map<string, Aggregate>;
}

export type AddOutcome = "added" | "full";

/**
 * The window in progress and its topics. `add` never publishes: the caller's timer calls `close` at `end`
 * (and `add` tells the caller when a reading arrives after `end`, before the timer ran, so it can close first).
 */
export class TumblingWindows {
  current: Window;
  /** Topics changed since the last `takeDirty`: what a checkpoint has to write. */
  private dirty = new Set<string>();

  constructor(
    readonly windowMs: number,
    now: number,
    readonly maxTopics = 10_000,
  ) {
    this.current = this.windowAt(now);
  }

  private windowAt(t: number): Window {
    const start = windowStartOf(t, this.windowMs);
    return { start, end: start + this.windowMs, windowMs: this.windowMs, topics: new Map() };
  }

  /** True when `at` is past the window in progress: close it first. */
  isPast(at: number): boolean {
    return at >= this.current.end;
  }

  /** Adds a reading to the window in progress (a reading stamped a little before it, from a timer that
   * fired early, counts in it too). */
  add(topic: string, value: number, at: number): AddOutcome {
    const a = this.current.topics.get(topic);
    if (a) {
      addValue(a, value, at);
    } else {
      if (this.current.topics.size >= this.maxTopics) return "full";
      this.current.topics.set(topic, newAggregate(value, at));
    }
    this.dirty.add(topic);
    return "added";
  }

  /** Ends the window in progress and starts the one holding `now` (or the next one, if `now` is early). */
  close(now: number): Window {
    const closed = this.current;
    this.current = this.windowAt(Math.max(now, closed.end));
    this.dirty.clear();
    return closed;
  }

  /** Puts restored aggregates into the window in progress, merged with anything already there. */
  restore(topics: Iterable<[string, Aggregate]>): void {
    for (const [topic, restored] of topics) {
      const have = this.current.topics.get(topic);
      this.current.topics.set(topic, have ? mergeAggregates(restored, have) : { ...restored });
    }
  }

  takeDirty(): Array<[string, Aggregate]> {
    const out: Array<[string, Aggregate]> = [];
    for (const topic of this.dirty) {
      const a = this.current.topics.get(topic);
      if (a) out.push([topic, a]);
    }
    this.dirty.clear();
    return out;
  }

  get readings(): number {
    let n = 0;
    for (const a of this.current.topics.values()) n += a.count;
    return n;
  }
}

/** A checkpointed window as it was stored. */
export interface StoredWindow {
  start: number;
  windowMs: number;
  topics: Map<string, Aggregate>;
}

export interface RestorePlan {
  /** Windows that ended while the node was down (or whose length no longer matches): publish them now. */
  finished: Window[];
  /** Aggregates of the window in progress now. */
  current: Map<string, Aggregate>;
}

/**
 * What to do with checkpointed windows at start: one that ended is finished (publish it); the one holding
 * `now`, with the same length, goes on; one of another length that has not ended is cut short at `now`.
 */
export function planRestore(stored: StoredWindow[], now: number, windowMs: number): RestorePlan {
  const finished: Window[] = [];
  const current = new Map<string, Aggregate>();
  const currentStart = windowStartOf(now, windowMs);
  for (const w of stored) {
    const end = w.start + w.windowMs;
    if (w.windowMs === windowMs && w.start === currentStart) {
      for (const [topic, a] of w.topics) {
        const have = current.get(topic);
        current.set(topic, have ? mergeAggregates(have, a) : a);
      }
    } else {
      // cut short at now; a window from the future (the clock went back, as on a Pi without RTC) ends at its start
      finished.push({ start: w.start, end: end <= now ? end : Math.max(now, w.start), windowMs: w.windowMs, topics: w.topics });
    }
  }
  finished.sort((a, b) => a.start - b.start);
  return { finished, current };
}
