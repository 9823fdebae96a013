// The stats node's checkpoint in `<data dir>/state.db`: the running aggregates of each window, per node,
// written in one transaction for the topics that changed since the last checkpoint (never per message), and
// deleted once the window's statistics have been published.
import type { SqliteDatabase } from "../store/sqlite";
import type { Aggregate, StoredWindow } from "./window";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS stats_windows (
  node TEXT NOT NULL,
  window_start INTEGER NOT NULL,
  window_ms INTEGER NOT NULL,
  topic TEXT NOT NULL,
  count INTEGER NOT NULL,
  sum REAL NOT NULL,
  mean REAL NOT NULL,
  m2 REAL NOT NULL,
  min REAL NOT NULL,
  max REAL NOT NULL,
  first REAL NOT NULL,
  last REAL NOT NULL,
  first_at INTEGER NOT NULL,
  last_at INTEGER NOT NULL,
  PRIMARY KEY (node, window_start, window_ms, topic)
)`;

interface Row {
  window_start: number;
  window_ms: number;
  topic: string;
  count: number;
  sum: number;
  mean: number;
  m2: number;
  min: number;
  max: number;
  first: number;
  last: number;
  first_at: number;
  last_at: number;
}

export class StatsCheckpoint {
  private readonly upsert;
  private readonly saveMany;
  private readonly removeWindow;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly node: string,
  ) {
    db.exec(SCHEMA);
    this.upsert = db.prepare(
      `INSERT INTO stats_windows (node, window_start, window_ms, topic, count, sum, mean, m2, min, max, first, last, first_at, last_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (node, window_start, window_ms, topic) DO UPDATE SET
         count = excluded.count, sum = excluded.sum, mean = excluded.mean, m2 = excluded.m2,
         min = excluded.min, max = excluded.max, first = excluded.first, last = excluded.last,
         first_at = excluded.first_at, last_at = excluded.last_at`,
    );
    this.saveMany = db.transaction((start: number, windowMs: number, entries: Array<[string, Aggregate]>) => {
      for (const [topic, a] of entries) {
        this.upsert.run(this.node, start, windowMs, topic, a.count, a.sum, a.mean, a.m2, a.min, a.max, a.first, a.last, a.firstAt, a.lastAt);
      }
    });
    this.removeWindow = db.prepare("DELETE FROM stats_windows WHERE node = ? AND window_start = ? AND window_ms = ?");
  }

  /** Writes the given topics of one window (one transaction, one fsync). */
  save(start: number, windowMs: number, entries: Array<[string, Aggregate]>): void {
    if (entries.length > 0) this.saveMany(start, windowMs, entries);
  }

  /** Forgets a window once its statistics are out. */
  remove(start: number, windowMs: number): void {
    this.removeWindow.run(this.node, start, windowMs);
  }

  load(): StoredWindow[] {
    const rows = this.db
      .prepare("SELECT * FROM stats_windows WHERE node = ? ORDER BY window_start, window_ms, topic")
      .all(this.node) as Row[];
    const windows = new Map<string, StoredWindow>();
    for (const r of rows) {
      const key = `${r.window_start}/${r.window_ms}`;
      let w = windows.get(key);
      if (!w) {
        w = { start: r.window_start, windowMs: r.window_ms, topics: new Map() };
        windows.set(key, w);
      }
      w.topics.set(r.topic, {
        count: r.count,
        sum: r.sum,
        mean: r.mean,
        m2: r.m2,
        min: r.min,
        max: r.max,
        first: r.first,
        last: r.last,
        firstAt: r.first_at,
        lastAt: r.last_at,
      });
    }
    return [...windows.values()];
  }
}
