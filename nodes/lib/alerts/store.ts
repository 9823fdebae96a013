// The alert node's checkpoint in `<data dir>/state.db`: one row per (node, rule, topic) that is pending, in
// alert or cooling down. Raises, clears and acknowledgements are written before they are announced.
import type { SqliteDatabase } from "../store/sqlite";
import type { Track } from "./engine";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS alert_tracks (
  node TEXT NOT NULL,
  rule TEXT NOT NULL,
  topic TEXT NOT NULL,
  track TEXT NOT NULL,
  PRIMARY KEY (node, rule, topic)
)`;

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isNumOrNull = (v: unknown) => v === null || isNum(v);

/** A stored track, checked field by field: a damaged row is skipped, never trusted. */
export function parseTrack(text: string): Track | null {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null) return null;
  if (typeof v.rule !== "string" || typeof v.topic !== "string" || !isNum(v.value) || !isNum(v.valueAt)) return null;
  if (!isNumOrNull(v.pendingSince) || !isNumOrNull(v.cooldownUntil)) return null;
  const a = v.alert as Record<string, unknown> | null;
  if (a !== null) {
    if (typeof a !== "object" || typeof a.id !== "string" || typeof a.label !== "string") return null;
    if (a.condition !== "above" && a.condition !== "below") return null;
    if (![a.threshold, a.value, a.raisedAt, a.notifiedAt, a.repeats].every(isNum) || !isNumOrNull(a.acknowledgedAt)) return null;
  }
  return v as unknown as Track;
}

export class AlertStore {
  private readonly saveAll;
  private readonly loadAll;

  constructor(
    db: SqliteDatabase,
    private readonly node: string,
  ) {
    db.exec(SCHEMA);
    const upsert = db.prepare(
      "INSERT INTO alert_tracks (node, rule, topic, track) VALUES (?, ?, ?, ?) ON CONFLICT (node, rule, topic) DO UPDATE SET track = excluded.track",
    );
    const remove = db.prepare("DELETE FROM alert_tracks WHERE node = ? AND rule = ? AND topic = ?");
    this.saveAll = db.transaction((put: Track[], gone: Array<{ rule: string; topic: string }>) => {
      for (const g of gone) remove.run(this.node, g.rule, g.topic);
      for (const t of put) upsert.run(this.node, t.rule, t.topic, JSON.stringify(t));
    });
    this.loadAll = db.prepare("SELECT track FROM alert_tracks WHERE node = ? ORDER BY rule, topic");
  }

  /** One transaction for every change. */
  save(changes: { upsert: Track[]; remove: Array<{ rule: string; topic: string }> }): void {
    if (changes.upsert.length + changes.remove.length > 0) this.saveAll(changes.upsert, changes.remove);
  }

  load(): { tracks: Track[]; damaged: number } {
    const rows = this.loadAll.all(this.node) as Array<{ track: string }>;
    const tracks: Track[] = [];
    let damaged = 0;
    for (const r of rows) {
      const t = parseTrack(r.track);
      if (t) tracks.push(t);
      else damaged++;
    }
    return { tracks, damaged };
  }
}
