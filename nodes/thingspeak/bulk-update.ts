// ThingSpeak's bulk-write JSON API, as its documentation describes it
// (https://www.mathworks.com/help/thingspeak/bulkwritejsondata.html): readings become one update per window,
// at most 960 updates per call, each stamped with an absolute `created_at` or a `delta_t` (seconds since the
// previous entry), and the answers sorted into "accepted" and the kinds of "keep it and try later".
import { readValue, valueError } from "../lib/telemetry-value";

export const FIELDS = ["field1", "field2", "field3", "field4", "field5", "field6", "field7", "field8"] as const;
export type FieldName = (typeof FIELDS)[number];

export function isFieldName(v: unknown): v is FieldName {
  return typeof v === "string" && (FIELDS as readonly string[]).includes(v);
}

/** ThingSpeak's limits for a free account: calls at least 15 s apart, at most 960 updates per call. */
export const THINGSPEAK_MIN_INTERVAL_MS = 15_000;
export const THINGSPEAK_MAX_UPDATES = 960;

/** One reading as the outbox keeps it: the field it goes to, its value, and the topic it came from. */
export interface Reading {
  field: FieldName;
  value: number;
  topic?: string;
}

export interface TimedReading extends Reading {
  /** When it arrived (ms since the epoch). */
  at: number;
}

export type TimeMode = "created_at" | "delta_t";

/** One object of the `updates` array. */
export interface BulkUpdate extends Partial<Record<FieldName, number>> {
  created_at?: string;
  delta_t?: number;
}

/** The body of `POST <base>/channels/<id>/bulk_update.json`. */
export interface BulkUpdateBody {
  write_api_key: string;
  updates: BulkUpdate[];
}

export function parseReading(payload: unknown): number {
  // the shared telemetry parser: a plain number as ESPEasy sends it, or a JSON number / `value`
  const r = readValue(payload);
  if (r.ok) return r.value;
  throw valueError(r);
}

/** The readings of one window, merged: each field holds the latest reading of that field. */
export interface WindowUpdate {
  /** The window's index: floor(time / window length). */
  window: number;
  /** How many readings it merges. */
  readings: number;
  /** The time of its latest reading: the entry's time. */
  at: number;
  fields: Partial<Record<FieldName, number>>;
}

/** Windows are aligned to the epoch, so a window is the same after a restart. Readings are taken in the
 * order they arrived; a run of readings in one window becomes one update. */
export function mergeWindows(readings: TimedReading[], windowMs: number): WindowUpdate[] {
  const out: WindowUpdate[] = [];
  let current: WindowUpdate | undefined;
  for (const r of readings) {
    const window = Math.floor(r.at / windowMs);
    if (!current || current.window !== window) {
      current = { window, readings: 0, at: r.at, fields: {} };
      out.push(current);
    }
    current.readings++;
    current.at = Math.max(current.at, r.at);
    current.fields[r.field] = r.value;
  }
  return out;
}

/** How many of the oldest readings can go now: whole closed windows, at most `maxUpdates` of them. When the
 * batch may have cut the last window short (`batchFull`), that window waits for the next call unless it is
 * the only one. Otherwise, when the first window is still open: wait until it closes. */
export function readyReadings(
  readings: TimedReading[],
  now: number,
  windowMs: number,
  maxUpdates: number,
  batchFull: boolean,
): number | { waitUntil: number } {
  const windows = mergeWindows(readings, windowMs);
  const closed: WindowUpdate[] = [];
  for (const w of windows) {
    if ((w.window + 1) * windowMs > now) break;
    closed.push(w);
    if (closed.length >= maxUpdates) break;
  }
  if (closed.length === 0) {
    const first = windows[0];
    return first ? { waitUntil: (first.window + 1) * windowMs } : 0;
  }
  if (batchFull && closed.length === windows.length && closed.length > 1) closed.pop();
  return closed.reduce((sum, w) => sum + w.readings, 0);
}

export interface UpdateOptions {
  mode: TimeMode;
  /** A value for a field that none of a window's readings set (IoTitan's `field3 = 0` for the PIR). */
  defaults: Partial<Record<FieldName, number>>;
  /** The time of the entry sent before these (delta_t mode), if any. */
  previousEntryAt?: number;
}

/** The `updates` array for some windows, and the time of the last entry (for the next call's delta_t).
 * delta_t counts whole seconds since the previous entry: entry times are taken in whole seconds and
 * differenced, so rounding never accumulates; the first entry counts from the previous call's last entry
 * (0 when there was none), later ones are at least 1 s apart as ThingSpeak requires. */
export function bulkUpdates(windows: WindowUpdate[], options: UpdateOptions): { updates: BulkUpdate[]; lastEntryAt?: number } {
  const updates: BulkUpdate[] = [];
  let previousSecond = options.previousEntryAt === undefined ? undefined : Math.floor(options.previousEntryAt / 1000);
  let lastEntryAt = options.previousEntryAt;
  windows.forEach((w, index) => {
    const update: BulkUpdate = {};
    if (options.mode === "created_at") {
      update.created_at = new Date(w.at).toISOString();
      lastEntryAt = w.at;
    } else {
      let second = Math.floor(w.at / 1000);
      if (previousSecond === undefined) {
        update.delta_t = 0;
      } else {
        if (index > 0 && second <= previousSecond) second = previousSecond + 1;
        update.delta_t = Math.max(0, second - previousSecond);
      }
      previousSecond = second;
      lastEntryAt = second * 1000;
    }
    for (const f of FIELDS) {
      const value = w.fields[f] ?? options.defaults[f];
      if (value !== undefined) update[f] = value;
    }
    updates.push(update);
  });
  return { updates, lastEntryAt };
}

export type Answer =
  | { kind: "accepted" }
  | { kind: "bad-key"; detail: string }
  | { kind: "rate-limited"; retryAfterMs?: number; detail: string }
  | { kind: "rejected"; detail: string }
  | { kind: "unavailable"; detail: string };

/** Sorts ThingSpeak's answer. Only a 2xx that is not `0` counts as delivered. */
export function classifyAnswer(status: number, body: string, retryAfter: string | null): Answer {
  const text = body.trim();
  const detail = `HTTP ${status}${text ? ` ${text.slice(0, 80)}` : ""}`;
  if (status >= 200 && status < 300) {
    if (text === "0") return { kind: "unavailable", detail: `HTTP ${status} answered 0` };
    return { kind: "accepted" };
  }
  if (status === 401 || status === 403) return { kind: "bad-key", detail };
  if (status === 429) {
    const seconds = retryAfter === null ? NaN : Number(retryAfter);
    return { kind: "rate-limited", detail, retryAfterMs: Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined };
  }
  if (status === 408 || status >= 500) return { kind: "unavailable", detail };
  return { kind: "rejected", detail };
}
