// What both history backends share: DUP detection, bucket merging, payload text.
import type { BucketPoint, HistoryRecord } from "./types";

/** How far back a redelivery is looked for. */
export const REPEAT_WINDOW_MS = 10 * 60_000;

/**
 * A redelivered QoS 1 message already stored: same client, packet id, topic and payload within the window.
 * Checked for records marked `dup`: a DUP from a broker, and every QoS 1 message on the embedded broker,
 * because publishers such as mqtt.js resend unacknowledged messages after a reconnect without the DUP flag.
 * A genuinely new message would have to repeat client, packet id, topic and payload within ten minutes to be
 * taken for a repeat (a client cycles through 65,535 packet ids).
 */
export function repeatKey(r: HistoryRecord): string | null {
  if (!r.dup || r.clientId === null || r.messageId === null) return null;
  return `${r.clientId}\u0000${r.messageId}\u0000${r.topic}\u0000${r.payload.toString("latin1")}`;
}

/** Repeats within one batch, then in what is stored already. */
export class RepeatFilter {
  private readonly seen = new Set<string>();

  isRepeat(record: HistoryRecord, storedAlready: (r: HistoryRecord) => boolean): boolean {
    const key = repeatKey(record);
    if (key === null) return false;
    if (this.seen.has(key)) return true;
    this.seen.add(key);
    return storedAlready(record);
  }
}

export interface RollupRow {
  topic: string;
  t: number;
  count: number;
  min: number | null;
  max: number | null;
  sum: number | null;
  /** How many of `count` had a numeric value. */
  n: number;
}

export function mergeBuckets(rows: RollupRow[]): BucketPoint[] {
  const byKey = new Map<string, RollupRow>();
  for (const r of rows) {
    const t = Number(r.t);
    const key = `${r.topic}\u0000${t}`;
    const prev = byKey.get(key);
    if (!prev) {
      byKey.set(key, { ...r, t, count: Number(r.count), n: Number(r.n), sum: r.sum === null ? null : Number(r.sum) });
      continue;
    }
    prev.count += Number(r.count);
    prev.n += Number(r.n);
    prev.sum = prev.sum === null && r.sum === null ? null : (prev.sum ?? 0) + Number(r.sum ?? 0);
    prev.min = prev.min === null ? r.min : r.min === null ? prev.min : Math.min(prev.min, r.min);
    prev.max = prev.max === null ? r.max : r.max === null ? prev.max : Math.max(prev.max, r.max);
  }
  return [...byKey.values()]
    .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.t - b.t))
    .map((r) => ({
      topic: r.topic,
      t: r.t,
      count: r.count,
      min: r.min === null ? null : Number(r.min),
      max: r.max === null ? null : Number(r.max),
      mean: r.n > 0 && r.sum !== null ? r.sum / r.n : null,
    }));
}

/** UTF-8 text, or `base64:…` when the payload is binary. */
export function payloadAsText(payload: Buffer): string {
  const text = payload.toString("utf8");
  return text.includes("\uFFFD") ? `base64:${payload.toString("base64")}` : text;
}
