// GET /api/history?topic=&from=&to=&bucket=&limit=  and  GET /api/history/topics  (JSON)
import type { Express, Request, Response } from "express";
import type { HistoryStore } from "./types";

export interface HistoryProvider {
  readonly id: string;
  readonly store: HistoryStore | null;
}

const DAY_MS = 86_400_000;
const MAX_LIMIT = 10_000;

export class QueryError extends Error {}

/** An ISO date or milliseconds since the epoch. */
export function parseTime(value: unknown, fallback: number, name: string): number {
  if (value === undefined || value === "") return fallback;
  const text = String(value);
  const n = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(n)) throw new QueryError(`${name} must be an ISO date or milliseconds, not "${text.slice(0, 40)}"`);
  return n;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS };

/** `5m`, `1h`, `30s`, `1d`, milliseconds, or `auto` (about 200 points over the range). */
export function parseBucket(value: unknown, from: number, to: number): number | null {
  if (value === undefined || value === "") return null;
  const text = String(value);
  if (text === "auto") {
    const raw = Math.max(1000, Math.ceil((to - from) / 200));
    const steps = [1000, 5000, 10_000, 30_000, 60_000, 300_000, 600_000, 1_800_000, 3_600_000, 10_800_000, 21_600_000, DAY_MS];
    return steps.find((s) => s >= raw) ?? Math.ceil(raw / DAY_MS) * DAY_MS;
  }
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text);
  if (!m) throw new QueryError(`bucket must be like 30s, 5m, 1h, 1d, milliseconds or auto, not "${text.slice(0, 20)}"`);
  const ms = Number(m[1]) * (m[2] && m[2] !== "ms" ? UNITS[m[2]]! : 1);
  if (ms < 1000) throw new QueryError("bucket must be at least 1 s");
  return ms;
}

const mounted = new WeakSet<object>();

export function historyRoutes(app: Express, providers: () => HistoryProvider[]): void {
  if (mounted.has(app)) return;
  mounted.add(app);
  const storeFor = (req: Request): HistoryStore | null => {
    const all = providers();
    const wanted = typeof req.query.node === "string" ? all.find((p) => p.id === req.query.node) : all[0];
    return wanted?.store ?? null;
  };
  const fail = (res: Response, err: unknown) => {
    if (err instanceof QueryError) res.status(400).json({ error: err.message });
    else res.status(500).json({ error: (err as Error).message });
  };

  app.get("/api/history/topics", (req, res) => {
    const store = storeFor(req);
    if (!store) return void res.status(503).json({ error: "no history node is running" });
    store.topics().then(
      (topics) => res.json({ topics: topics.map((t) => ({ ...t, lastAt: new Date(t.lastAt).toISOString() })) }),
      (err) => fail(res, err),
    );
  });

  app.get("/api/history", (req, res) => {
    const store = storeFor(req);
    if (!store) return void res.status(503).json({ error: "no history node is running" });
    try {
      // one topic (or filter), or several: ?topic=a&topic=b
      const raw = req.query.topic;
      const topics = (Array.isArray(raw) ? raw : [raw]).filter((t): t is string => typeof t === "string" && t !== "");
      if (topics.length === 0) throw new QueryError("topic is required (an exact topic or an MQTT filter)");
      if (topics.length > 20) throw new QueryError("at most 20 topics at once");
      const to = parseTime(req.query.to, Date.now(), "to");
      const from = parseTime(req.query.from, to - DAY_MS, "from");
      if (from >= to) throw new QueryError("from must be before to");
      const limit = Math.min(MAX_LIMIT, Math.max(1, Number(req.query.limit ?? 1000) || 1000));
      const bucket = parseBucket(req.query.bucket, from, to);
      const range = { topic: topics.length === 1 ? topics[0] : topics, from: new Date(from).toISOString(), to: new Date(to).toISOString() };
      if (bucket === null) {
        Promise.all(topics.map((topic) => store.messages({ topic, from, to, limit }))).then(
          (lists) => {
            const messages = lists.flat().sort((a, b) => a.at - b.at).slice(0, limit);
            res.json({ ...range, messages: messages.map((m) => ({ ...m, at: new Date(m.at).toISOString() })) });
          },
          (err) => fail(res, err),
        );
      } else {
        Promise.all(topics.map((topic) => store.buckets({ topic, from, to, limit }, bucket))).then((lists) => {
          const series = new Map<string, Array<Record<string, unknown>>>();
          for (const points of lists) {
            const before = new Set(series.keys()); // a topic two filters match is taken from the first
            for (const p of points) {
              if (before.has(p.topic)) continue;
              const list = series.get(p.topic) ?? [];
              list.push({ t: new Date(p.t).toISOString(), count: p.count, min: p.min, max: p.max, mean: p.mean });
              series.set(p.topic, list);
            }
          }
          res.json({ ...range, bucket, series: [...series].map(([t, pts]) => ({ topic: t, points: pts })) });
        }, (err) => fail(res, err));
      }
    } catch (err) {
      fail(res, err);
    }
  });
}
