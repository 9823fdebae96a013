// What signed-in people (viewer or higher: a session cookie or a bearer token) may read of the hub's clips and
// time-lapse stills:
//   GET /api/clips?camera=&day=YYYY-MM-DD&kind=clip|still&order=asc|desc&limit=   the stored items, newest first
//   GET /api/clips/<device>/<id>/thumbnail                                          the thumbnail JPEG
//   GET /api/clips/<device>/<id>/media                                              the MP4, MJPEG or JPEG (Range)
//   GET /api/clips/<device>/<id>/play                                               the frames as multipart/x-mixed-replace
//                                                                                   at the clip's frame rate
// `day` is a day of the hub's local time.
import type { Express, Request, Response } from "express";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { Clock } from "../clock";
import { isTopicLevel } from "../contract";
import { requireRole, type ApiAuthParts } from "../security/api-auth";
import type { ClipStore } from "./clip-store";
import { mjpegFrames, mp4Frames } from "./clip-frames";
import { isItemId } from "./spool";
import { mediaType } from "./spool-item";
import type { ClipRecord } from "./types";

export const CLIPS_API = "/api/clips";

/** Where a record's parts are served (relative to the runtime's HTTP root). */
export function clipLinks(r: Pick<ClipRecord, "device" | "id">): { thumbnail: string; media: string; play: string } {
  const base = `${CLIPS_API}/${encodeURIComponent(r.device)}/${encodeURIComponent(r.id)}`;
  return { thumbnail: `${base}/thumbnail`, media: `${base}/media`, play: `${base}/play` };
}

export interface ClipRoutesOptions {
  auth: ApiAuthParts;
  store: () => ClipStore | null;
  clock: Clock;
}

class BadQuery extends Error {}

/** A local day (YYYY-MM-DD) as [from, to) clock ms. */
export function dayRange(day: string): { from: number; to: number } {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) throw new BadQuery(`day must be YYYY-MM-DD, not "${day.slice(0, 20)}"`);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const from = new Date(y, mo - 1, d).getTime();
  if (new Date(from).getDate() !== d) throw new BadQuery(`${day} is not a day`);
  return { from, to: new Date(y, mo - 1, d + 1).getTime() };
}

/** A single `bytes=` range of a body of `size` bytes; null: the whole body; "unsatisfiable". */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | "unsatisfiable" {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null;
  let start: number;
  let end: number;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return "unsatisfiable";
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return "unsatisfiable";
  return { start, end };
}

export function clipRoutes(app: Express, o: ClipRoutesOptions): void {
  const viewer = requireRole("viewer", o.auth);
  const storeOr503 = (res: Response): ClipStore | null => {
    const store = o.store();
    if (!store) res.status(503).json({ error: "no clip store runs on this hub" });
    return store;
  };
  const recordOf = (req: Request, res: Response): { store: ClipStore; record: ClipRecord } | null => {
    const store = storeOr503(res);
    if (!store) return null;
    const { device, id } = req.params as { device: string; id: string };
    const record = isTopicLevel(device) && isItemId(id) ? store.get(device, id) : null;
    if (!record || record.status !== "stored") {
      res.status(404).json({ error: `no stored item ${String(id).slice(0, 40)} of ${String(device).slice(0, 64)}` });
      return null;
    }
    return { store, record };
  };
  const failed = (res: Response, err: unknown) => {
    if (res.headersSent) return void res.destroy();
    res.status(err instanceof BadQuery ? 400 : 500).json({ error: (err as Error).message });
  };

  app.get(CLIPS_API, viewer, (req, res) => {
    try {
      const store = storeOr503(res);
      if (!store) return;
      const q = req.query;
      const str = (v: unknown, name: string): string | undefined => {
        if (v === undefined || v === "") return undefined;
        if (typeof v !== "string") throw new BadQuery(`${name} must be given once`);
        return v;
      };
      const camera = str(q.camera, "camera");
      if (camera !== undefined && !isTopicLevel(camera)) throw new BadQuery("camera must be a device id");
      const kind = str(q.kind, "kind");
      if (kind !== undefined && kind !== "clip" && kind !== "still") throw new BadQuery('kind must be "clip" or "still"');
      const order = str(q.order, "order");
      if (order !== undefined && order !== "asc" && order !== "desc") throw new BadQuery('order must be "asc" or "desc"');
      const limitText = str(q.limit, "limit");
      const limit = limitText === undefined ? 200 : Number(limitText);
      if (!Number.isInteger(limit) || limit < 1 || limit > 2000) throw new BadQuery("limit must be 1..2000");
      const day = str(q.day, "day");
      const range = day ? dayRange(day) : {};
      const clips = store.list({ device: camera, kind: kind as "clip" | "still" | undefined, order: order as "asc" | "desc" | undefined, limit, ...range });
      res.set("Cache-Control", "no-store");
      res.json({ cameras: store.devices(), clips: clips.map((c) => ({ ...c, links: clipLinks(c) })) });
    } catch (err) {
      failed(res, err);
    }
  });

  app.get(`${CLIPS_API}/:device/:id/thumbnail`, viewer, (req, res) => {
    const found = recordOf(req, res);
    if (!found) return;
    found.store.readThumbnail(found.record).then(
      (jpeg) => {
        res.set({ "Content-Type": "image/jpeg", "Cache-Control": "private, max-age=86400" });
        res.end(jpeg);
      },
      (err) => failed(res, err),
    );
  });

  app.get(`${CLIPS_API}/:device/:id/media`, viewer, (req, res) => {
    const found = recordOf(req, res);
    if (!found) return;
    const { record, store } = found;
    const range = parseRange(req.get("range"), record.bytes);
    res.set({ "Content-Type": mediaType(record.format), "Accept-Ranges": "bytes", "Cache-Control": "private, max-age=86400" });
    if (range === "unsatisfiable") {
      res.set("Content-Range", `bytes */${record.bytes}`);
      return void res.status(416).end();
    }
    if (range) {
      res.status(206).set({ "Content-Range": `bytes ${range.start}-${range.end}/${record.bytes}`, "Content-Length": String(range.end - range.start + 1) });
    } else res.set("Content-Length", String(record.bytes));
    if (req.method === "HEAD") return void res.end();
    store
      .openMedia(record, range ?? undefined)
      .then((stream) => pipeline(stream, res))
      .catch((err) => failed(res, err));
  });

  app.get(`${CLIPS_API}/:device/:id/play`, viewer, (req, res) => {
    const found = recordOf(req, res);
    if (!found) return;
    playFrames(found.store, found.record, req, res, o.clock).catch((err) => failed(res, err));
  });
}

const BOUNDARY = "pifogframe";

/** The clip's frames, paced at its frame rate (a still: its one frame). */
async function playFrames(store: ClipStore, record: ClipRecord, req: Request, res: Response, clock: Clock): Promise<void> {
  const fps = record.frames > 1 && record.durationMs > 0 ? Math.min(60, Math.max(1, (record.frames * 1000) / record.durationMs)) : 10;
  const intervalMs = Math.round(1000 / fps);
  let temp: string | null = null;
  let frames: AsyncGenerator<Buffer>;
  if (record.format === "mp4") {
    // ffmpeg reads an MP4 from a file (its index may be at the end): the S3 object is copied to a temp file first
    temp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "pifog-play-")), "clip.mp4");
    await pipeline(await store.openMedia(record), fs.createWriteStream(temp));
    frames = mp4Frames(temp);
  } else frames = mjpegFrames(await store.openMedia(record));
  let closed = false;
  let onClose: () => void = () => undefined;
  res.on("close", () => {
    closed = true;
    onClose();
  });
  res.writeHead(200, {
    "Content-Type": `multipart/x-mixed-replace; boundary=${BOUNDARY}`,
    "Cache-Control": "no-store",
    Connection: "close",
  });
  try {
    for await (const jpeg of frames) {
      if (closed) break;
      res.write(`--${BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`);
      const flushed = res.write(jpeg);
      res.write("\r\n");
      await new Promise<void>((resolve) => {
        let waits = flushed ? 1 : 2;
        const one = () => --waits === 0 && resolve();
        if (!flushed) res.once("drain", one);
        clock.setTimeout(one, intervalMs);
        onClose = resolve;
      });
    }
    if (!closed) res.end(`--${BOUNDARY}--\r\n`);
  } finally {
    await frames.return(undefined);
    if (temp) fs.rmSync(path.dirname(temp), { recursive: true, force: true });
  }
}
