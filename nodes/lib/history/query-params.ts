// The history API's parameters, checked and held to a budget before any query runs: a query that would read
// too much is refused with a 400 that names the limit, instead of being run and stalling everyone else.
import { filterProblem } from "../mqtt/topic-filter";

export class QueryError extends Error {}

const DAY_MS = 86_400_000;

/** Every figure a query is held to (the README's History API section lists them). */
export const HISTORY_BUDGET = {
  /** Messages in one answer (and the default when none is asked for). */
  maxLimit: 10_000,
  defaultLimit: 1000,
  /** Topics or filters in one query. */
  maxTopics: 20,
  /** Characters in one topic or filter. */
  maxTopicLength: 1024,
  /** The range a query over raw messages may span. */
  maxRawRangeMs: 31 * DAY_MS,
  /** The range a bucketed query may span (the hourly roll-ups are kept two years by default). */
  maxBucketRangeMs: 3660 * DAY_MS,
  /** Buckets per series: range / bucket. */
  maxBuckets: 10_000,
  minBucketMs: 1000,
  maxBucketMs: 366 * DAY_MS,
  /** Points in one bucketed answer, all series together. */
  maxPoints: 100_000,
  /** Payload bytes in one answer of messages: past it the answer is cut and says so. */
  maxBytes: 8 * 1024 * 1024,
  /** Topics listed by /api/history/topics. */
  maxTopicList: 10_000,
} as const;

/** The latest time a date can name and still print as an ISO date (year 9999). */
const MAX_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

export interface ParsedHistoryQuery {
  topics: string[];
  from: number;
  to: number;
  limit: number;
  /** Milliseconds, or null for raw messages. */
  bucket: number | null;
}

/** One value of a query parameter: `?x=1&x=2` and `?x[a]=1` are refused rather than guessed at. */
function single(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new QueryError(`${name} must be given once, as plain text`);
  return value;
}

const shown = (text: string, n = 40) => JSON.stringify(text.length > n ? `${text.slice(0, n)}…` : text);

/** An ISO 8601 date or milliseconds since 1970, up to the year 9999. */
export function parseTime(value: unknown, fallback: number, name: string): number {
  const text = single(value, name);
  if (text === undefined || text === "") return fallback;
  let n: number;
  if (/^-?\d+$/.test(text)) {
    if (text.startsWith("-")) throw new QueryError(`${name} must not be negative (milliseconds since 1970)`);
    n = text.length > 16 ? Infinity : Number(text);
  } else if (ISO.test(text)) {
    // Date.parse takes 2026-02-30 for 2 March: a day the month does not have is a mistake, not a date
    const [y, mo, d] = text.slice(0, 10).split("-").map(Number) as [number, number, number];
    n = new Date(Date.UTC(y, mo - 1, d)).getUTCDate() === d ? Date.parse(text) : NaN;
    if (!Number.isFinite(n)) throw new QueryError(`${name} is not a date: ${shown(text)}`);
  } else {
    throw new QueryError(`${name} must be an ISO 8601 date or milliseconds since 1970, not ${shown(text)}`);
  }
  if (n < 0 || n > MAX_TIME) throw new QueryError(`${name} must be between 1970 and the year 9999`);
  return n;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS };
const AUTO_STEPS = [1000, 5000, 10_000, 30_000, 60_000, 300_000, 600_000, 1_800_000, 3_600_000, 10_800_000, 21_600_000, DAY_MS];

/** `5m`, `1h`, `30s`, `1d`, milliseconds, or `auto` (about 200 points over the range); null when not asked for. */
export function parseBucket(value: unknown, from: number, to: number): number | null {
  const text = single(value, "bucket");
  if (text === undefined || text === "") return null;
  if (text === "auto") {
    const raw = Math.max(1000, Math.ceil((to - from) / 200));
    return AUTO_STEPS.find((s) => s >= raw) ?? Math.ceil(raw / DAY_MS) * DAY_MS;
  }
  const m = /^(\d{1,12})(ms|s|m|h|d)?$/.exec(text);
  if (!m) throw new QueryError(`bucket must be like 30s, 5m, 1h, 1d, milliseconds or auto, not ${shown(text, 20)}`);
  const ms = Number(m[1]) * UNITS[m[2] ?? "ms"]!;
  if (ms < HISTORY_BUDGET.minBucketMs || ms > HISTORY_BUDGET.maxBucketMs) throw new QueryError("bucket must be 1 s..366 d");
  return ms;
}

export function parseLimit(value: unknown): number {
  const text = single(value, "limit");
  if (text === undefined || text === "") return HISTORY_BUDGET.defaultLimit;
  const n = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= HISTORY_BUDGET.maxLimit)) throw new QueryError(`limit must be 1..${HISTORY_BUDGET.maxLimit}`);
  return n;
}

/** One topic or MQTT filter, or several (`?topic=a&topic=b`). */
export function parseTopics(value: unknown): string[] {
  const list = value === undefined ? [] : Array.isArray(value) ? value : [value];
  if (list.some((t) => typeof t !== "string")) throw new QueryError("topic must be plain text");
  const topics = (list as string[]).filter((t) => t !== "");
  if (topics.length === 0) throw new QueryError("topic is required (an exact topic or an MQTT filter)");
  if (topics.length > HISTORY_BUDGET.maxTopics) throw new QueryError(`at most ${HISTORY_BUDGET.maxTopics} topics in one query`);
  for (const t of topics) {
    if (t.length > HISTORY_BUDGET.maxTopicLength) throw new QueryError(`a topic is at most ${HISTORY_BUDGET.maxTopicLength} characters`);
    const problem = filterProblem(t);
    if (problem) throw new QueryError(`topic ${shown(t)} is not an MQTT topic filter: ${problem}`);
  }
  return [...new Set(topics)];
}

/** The whole query of GET /api/history, or a QueryError saying what is wrong or which limit it passes. */
export function parseHistoryQuery(query: Record<string, unknown>, now: number): ParsedHistoryQuery {
  const topics = parseTopics(query.topic);
  const to = parseTime(query.to, Math.min(now, MAX_TIME), "to");
  const from = parseTime(query.from, Math.max(0, to - DAY_MS), "from");
  if (from >= to) throw new QueryError("from must be before to");
  const limit = parseLimit(query.limit);
  const bucket = parseBucket(query.bucket, from, to);
  const range = to - from;
  if (bucket === null && range > HISTORY_BUDGET.maxRawRangeMs) {
    throw new QueryError("range over raw data is at most 31 days (ask for buckets, e.g. bucket=auto, for longer)");
  }
  if (bucket !== null) {
    if (range > HISTORY_BUDGET.maxBucketRangeMs) throw new QueryError("range is at most 3660 days");
    if (Math.ceil(range / bucket) > HISTORY_BUDGET.maxBuckets) {
      throw new QueryError(`at most ${HISTORY_BUDGET.maxBuckets} buckets (range / bucket): take a larger bucket or a shorter range`);
    }
  }
  return { topics, from, to, limit, bucket };
}
