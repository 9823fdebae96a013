// The hub's clips and stills: one SQLite row per (device, item id) in `<data dir>/clips.db`, the bytes in a
// ClipFiles (a folder of the data dir, or S3). An upload is recorded `pending` before its bytes move and `stored`
// after, so a crash in between leaves a pending row the Pi's retry completes; a repeat of a stored item changes
// nothing. Retention removes the oldest (by start) past an age and past a total size.
import { EventEmitter } from "node:events";
import type { Clock } from "../clock";
import type { DatabaseHandle, SqlitePool } from "../store/sqlite";
import type { ByteRange, ClipFiles } from "./clip-files";
import { mediaExtension, mediaType } from "./spool-item";
import type { ClipRecord, SpoolItem } from "./types";

export class ClipConflict extends Error {}

export interface Retention {
  /** Stored items older than this (by start) go; 0 = no age limit. */
  maxAgeMs: number;
  /** The oldest go while the total (media + thumbnails) is above this; 0 = no size limit. */
  maxBytes: number;
}

export interface ClipQuery {
  device?: string;
  kind?: "clip" | "still";
  /** Clock ms, start >= from and start < to. */
  from?: number;
  to?: number;
  order?: "asc" | "desc";
  limit?: number;
}

export interface AcceptResult {
  record: ClipRecord;
  /** It was stored already (same sha256): nothing changed. */
  duplicate: boolean;
}

interface Row {
  device: string;
  id: string;
  kind: "clip" | "still";
  start: number;
  end_ms: number;
  duration_ms: number;
  score: number;
  format: SpoolItem["format"];
  sha256: string;
  bytes: number;
  frames: number;
  thumbnail_bytes: number;
  status: "pending" | "stored";
  stored_at: number | null;
  location: "local" | "s3";
}

function toRecord(r: Row): ClipRecord {
  return {
    id: r.id,
    kind: r.kind,
    device: r.device,
    start: r.start,
    end: r.end_ms,
    durationMs: r.duration_ms,
    score: r.score,
    format: r.format,
    sha256: r.sha256,
    bytes: r.bytes,
    frames: r.frames,
    status: r.status,
    storedAt: r.stored_at,
    location: r.location,
  };
}

export function mediaKey(r: Pick<ClipRecord, "device" | "id" | "format">): string {
  return `${r.device}/${r.id}.${mediaExtension(r.format)}`;
}

export function thumbnailKey(r: Pick<ClipRecord, "device" | "id">): string {
  return `${r.device}/${r.id}.thumb.jpg`;
}

export class ClipStore extends EventEmitter<{ stored: [record: ClipRecord] }> {
  private readonly handle: DatabaseHandle;
  /** One accept per item at a time (a Pi's retry may overlap its own earlier attempt). */
  private readonly busy = new Map<string, Promise<unknown>>();

  constructor(
    private readonly o: { dataDir: string; pool: SqlitePool; files: ClipFiles; clock: Clock; retention: Retention },
  ) {
    super();
    this.handle = o.pool.data(o.dataDir, "clips");
    this.handle.db.exec(`CREATE TABLE IF NOT EXISTS clips (
      device TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, start INTEGER NOT NULL, end_ms INTEGER NOT NULL,
      duration_ms INTEGER NOT NULL, score REAL NOT NULL, format TEXT NOT NULL, sha256 TEXT NOT NULL, bytes INTEGER NOT NULL,
      frames INTEGER NOT NULL, thumbnail_bytes INTEGER NOT NULL, status TEXT NOT NULL, stored_at INTEGER, location TEXT NOT NULL,
      PRIMARY KEY (device, id));
      CREATE INDEX IF NOT EXISTS clips_start ON clips (start);`);
  }

  get files(): ClipFiles {
    return this.o.files;
  }

  get(device: string, id: string): ClipRecord | null {
    const row = this.handle.db.prepare("SELECT * FROM clips WHERE device = ? AND id = ?").get(device, id) as Row | undefined;
    return row ? toRecord(row) : null;
  }

  /** Whether an item is stored already with these bytes (true), not yet (false); a ClipConflict when other bytes are. */
  isStored(item: Pick<SpoolItem, "device" | "id" | "sha256">): boolean {
    const r = this.get(item.device, item.id);
    if (!r || r.status !== "stored") return false;
    if (r.sha256 !== item.sha256) throw new ClipConflict(`item ${item.id} of ${item.device} is stored already with other bytes (sha256 ${r.sha256})`);
    return true;
  }

  /** Stores an upload whose media and thumbnail are complete (checked) files; they are moved (or uploaded) away. */
  accept(item: SpoolItem, media: string, thumbnail: string, thumbnailBytes: number): Promise<AcceptResult> {
    const key = `${item.device}/${item.id}`;
    const before = this.busy.get(key) ?? Promise.resolve();
    const run = before.catch(() => undefined).then(() => this.acceptNow(item, media, thumbnail, thumbnailBytes));
    this.busy.set(key, run);
    const forget = () => {
      if (this.busy.get(key) === run) this.busy.delete(key);
    };
    run.then(forget, forget);
    return run;
  }

  private async acceptNow(item: SpoolItem, media: string, thumbnail: string, thumbnailBytes: number): Promise<AcceptResult> {
    if (this.isStored(item)) return { record: this.get(item.device, item.id)!, duplicate: true };
    const db = this.handle.db;
    db.prepare(
      `INSERT INTO clips (device, id, kind, start, end_ms, duration_ms, score, format, sha256, bytes, frames, thumbnail_bytes, status, stored_at, location)
       VALUES (@device, @id, @kind, @start, @end, @durationMs, @score, @format, @sha256, @bytes, @frames, @thumbnailBytes, 'pending', NULL, @location)
       ON CONFLICT (device, id) DO UPDATE SET kind = excluded.kind, start = excluded.start, end_ms = excluded.end_ms,
         duration_ms = excluded.duration_ms, score = excluded.score, format = excluded.format, sha256 = excluded.sha256,
         bytes = excluded.bytes, frames = excluded.frames, thumbnail_bytes = excluded.thumbnail_bytes, status = 'pending',
         stored_at = NULL, location = excluded.location`,
    ).run({ ...item, thumbnailBytes, location: this.o.files.location });
    await this.o.files.put(thumbnailKey(item), thumbnail, "image/jpeg");
    await this.o.files.put(mediaKey(item), media, mediaType(item.format));
    db.prepare("UPDATE clips SET status = 'stored', stored_at = ? WHERE device = ? AND id = ?").run(this.o.clock.now(), item.device, item.id);
    const record = this.get(item.device, item.id)!;
    this.emit("stored", record);
    return { record, duplicate: false };
  }

  list(q: ClipQuery = {}): ClipRecord[] {
    const where = ["status = 'stored'"];
    const args: Array<string | number> = [];
    if (q.device) (where.push("device = ?"), args.push(q.device));
    if (q.kind) (where.push("kind = ?"), args.push(q.kind));
    if (q.from !== undefined) (where.push("start >= ?"), args.push(q.from));
    if (q.to !== undefined) (where.push("start < ?"), args.push(q.to));
    const limit = Math.max(1, Math.min(q.limit ?? 200, 2000));
    const order = q.order === "asc" ? "ASC" : "DESC";
    const rows = this.handle.db.prepare(`SELECT * FROM clips WHERE ${where.join(" AND ")} ORDER BY start ${order}, id ${order} LIMIT ${limit}`).all(...args) as Row[];
    return rows.map(toRecord);
  }

  /** The cameras that have stored items. */
  devices(): string[] {
    return (this.handle.db.prepare("SELECT DISTINCT device FROM clips WHERE status = 'stored' ORDER BY device").all() as Array<{ device: string }>).map((r) => r.device);
  }

  totalBytes(): number {
    const r = this.handle.db.prepare("SELECT COALESCE(SUM(bytes + thumbnail_bytes), 0) AS total FROM clips WHERE status = 'stored'").get() as { total: number };
    return r.total;
  }

  openMedia(r: ClipRecord, range?: ByteRange) {
    return this.o.files.open(mediaKey(r), range);
  }

  readThumbnail(r: ClipRecord): Promise<Buffer> {
    return this.o.files.read(thumbnailKey(r));
  }

  /** Applies the retention: the too old first, then the oldest while over the size. Returns what went. */
  async prune(retention: Retention = this.o.retention): Promise<ClipRecord[]> {
    const gone: ClipRecord[] = [];
    const db = this.handle.db;
    if (retention.maxAgeMs > 0) {
      const cutoff = this.o.clock.now() - retention.maxAgeMs;
      for (const row of db.prepare("SELECT * FROM clips WHERE status = 'stored' AND start < ? ORDER BY start").all(cutoff) as Row[]) {
        gone.push(await this.remove(toRecord(row)));
      }
    }
    if (retention.maxBytes > 0) {
      let total = this.totalBytes();
      while (total > retention.maxBytes) {
        const row = db.prepare("SELECT * FROM clips WHERE status = 'stored' ORDER BY start, id LIMIT 1").get() as Row | undefined;
        if (!row) break;
        gone.push(await this.remove(toRecord(row)));
        total -= row.bytes + row.thumbnail_bytes;
      }
    }
    return gone;
  }

  private async remove(r: ClipRecord): Promise<ClipRecord> {
    // the row last: a crash in between leaves a row whose bytes are gone, and the next prune removes it again
    await this.o.files.remove(mediaKey(r));
    await this.o.files.remove(thumbnailKey(r));
    this.handle.db.prepare("DELETE FROM clips WHERE device = ? AND id = ?").run(r.device, r.id);
    return r;
  }

  close(): void {
    this.handle.release();
  }
}

/** The running clip stores (clip-store nodes), by node id, in start order: the device listener and the viewer API
 * use the first. Kept in the runtime's services. */
export class ClipStores {
  private readonly stores = new Map<string, ClipStore>();

  set(id: string, store: ClipStore): void {
    this.stores.set(id, store);
  }

  delete(id: string, store: ClipStore): void {
    if (this.stores.get(id) === store) this.stores.delete(id);
  }

  first(): ClipStore | null {
    return this.stores.values().next().value ?? null;
  }
}
