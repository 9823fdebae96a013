// The history API's JSON answers. Built where the store reads: SQLite's reader threads turn rows into the
// final text there, so the event loop only sends a string (turning 10,000 rows into 2 MB of JSON takes it
// 20-90 ms on a busy Pi-sized machine, and twenty of those at once were still a stall), already UTF-8.
import type { BucketPoint, HistoryQuery, HistoryStore, StoredMessage, TopicSummary } from "./types";

export type AnswerRequest =
  | { kind: "messages"; query: HistoryQuery & { topic: string[]; maxBytes: number } }
  | { kind: "buckets"; query: HistoryQuery & { topic: string[] }; bucket: number }
  | { kind: "topics"; limit: number };

const iso = (ms: number) => new Date(ms).toISOString();

function range(query: HistoryQuery & { topic: string[] }) {
  return { topic: query.topic.length === 1 ? query.topic[0] : query.topic, from: iso(query.from), to: iso(query.to) };
}

export function messagesAnswer(query: HistoryQuery & { topic: string[]; maxBytes: number }, messages: StoredMessage[]): string {
  const chars = messages.reduce((n, m) => n + m.payload.length, 0);
  return JSON.stringify({
    ...range(query),
    messages: messages.map((m) => ({ ...m, at: iso(m.at) })),
    // cut by the size budget: ask again from the last message's time for the rest
    ...(chars >= query.maxBytes ? { truncated: true } : {}),
  });
}

export function bucketsAnswer(query: HistoryQuery & { topic: string[] }, bucket: number, points: BucketPoint[]): string {
  const series = new Map<string, Array<Record<string, unknown>>>();
  for (const p of points) {
    const list = series.get(p.topic) ?? [];
    list.push({ t: iso(p.t), count: p.count, min: p.min, max: p.max, mean: p.mean });
    series.set(p.topic, list);
  }
  return JSON.stringify({
    ...range(query),
    bucket,
    series: [...series].map(([topic, pts]) => ({ topic, points: pts })),
    ...(points.length >= query.limit ? { truncated: true } : {}),
  });
}

export function topicsAnswer(limit: number, topics: TopicSummary[]): string {
  return JSON.stringify({
    topics: topics.map((t) => ({ ...t, lastAt: iso(t.lastAt) })),
    ...(topics.length >= limit ? { truncated: true } : {}),
  });
}

/** For a store that answers on the event loop (PostgreSQL: its rows arrive there anyway). */
export async function answerFrom(store: HistoryStore, req: AnswerRequest): Promise<Uint8Array> {
  return Buffer.from(await answerText(store, req));
}

async function answerText(store: HistoryStore, req: AnswerRequest): Promise<string> {
  switch (req.kind) {
    case "messages":
      return messagesAnswer(req.query, await store.messages(req.query));
    case "buckets":
      return bucketsAnswer(req.query, req.bucket, await store.buckets(req.query, req.bucket));
    case "topics":
      return topicsAnswer(req.limit, await store.topics(req.limit));
  }
}
