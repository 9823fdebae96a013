// The device listener's only routes: a camera Pi's upload of one spool item, idempotent by (device, item id) and
// sha256 (the Pi removes it from its spool only after a 2xx).
//   PUT /device/v1/items/<id>/thumbnail   the thumbnail JPEG; 200 {stored:true} when the item is stored already
//                                         (the Pi is done), else 202 {stored:false}
//   PUT /device/v1/items/<id>             the media; written to a temp file, its length and sha256 checked, then
//                                         stored and recorded: 201 {stored:true}, or 200 for a repeat
// Both carry the SpoolItem in X-Pifog-Item (base64url JSON). The device is who the listener says it is (its
// certificate or its password), never the item: an item naming another device is refused.
import { createHash } from "node:crypto";
import express, { type Request, type Response } from "express";
import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { Transform } from "node:stream";
import type { AuditEvent } from "../audit/audit";
import type { Identity } from "../identity/types";
import { PRIVATE_DIR, PRIVATE_FILE } from "../runtime/file-modes";
import { ClipConflict, type ClipStore } from "./clip-store";
import { sweepIncoming } from "./incoming-sweep";
import { decodeItemHeader, ItemError, MAX_THUMBNAIL_BYTES } from "./spool-item";
import type { SpoolItem } from "./types";

export const ITEM_HEADER = "x-pifog-item";

export interface UploadRouteParts {
  /** The hub's clip store (the first clip-store node); null: none running (503, the Pi retries). */
  store: () => ClipStore | null;
  /** Where uploads are written before they are checked: `<data dir>/clips-incoming`. */
  incomingDir: string;
  audit: { record(event: AuditEvent): void };
  /** The clock's time: what a Pi left unfinished goes when it is a day old (incoming-sweep.ts). */
  now: () => number;
}

/** The device a request came from, as the listener's authentication put it. */
export function deviceOf(res: Response): Identity & { kind: "device" } {
  return res.locals.pifogDevice as Identity & { kind: "device" };
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function uploadRoutes(parts: UploadRouteParts): express.Router {
  const router = express.Router();
  // what was left before this start; from now on, each device's own leftovers when it begins a new upload
  sweepIncoming(parts.incomingDir, parts.now());
  const refuse = (req: Request, res: Response, status: number, reason: string) => {
    const device = deviceOf(res);
    if (status !== 503) {
      parts.audit.record({
        event: "device.upload.refused",
        via: "https",
        who: `device:${device.id} from ${req.socket.remoteAddress ?? "?"}`,
        reason,
        status,
        path: req.originalUrl.slice(0, 200),
      });
    } else res.set("Retry-After", "10");
    res.status(status).json({ error: reason });
  };
  const itemOf = (req: Request, res: Response): SpoolItem => {
    const item = decodeItemHeader(req.get(ITEM_HEADER));
    const device = deviceOf(res);
    if (item.id !== req.params.id) throw new Refusal(400, `the item is ${item.id}, the URL names ${req.params.id}`);
    if (item.device !== device.id) throw new Refusal(403, `device "${device.id}" may only upload its own items, not device "${item.device}"'s`);
    return item;
  };
  const storeOf = (): ClipStore => {
    const store = parts.store();
    if (!store) throw new Refusal(503, "no clip store runs on this hub yet: try again later");
    return store;
  };
  const dirOf = (device: string) => {
    const dir = path.join(parts.incomingDir, device);
    fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
    return dir;
  };
  const fail = (req: Request, res: Response, err: unknown) => {
    req.resume();
    if (res.headersSent) return;
    if (err instanceof Refusal) return refuse(req, res, err.status, err.message);
    if (err instanceof ItemError) return refuse(req, res, 400, err.message);
    if (err instanceof ClipConflict) return refuse(req, res, 409, err.message);
    res.status(500).json({ error: (err as Error).message });
  };

  router.put("/device/v1/items/:id/thumbnail", (req, res) => {
    (async () => {
      const item = itemOf(req, res);
      const store = storeOf();
      if (store.isStored(item)) {
        req.resume();
        return void res.status(200).json({ stored: true });
      }
      const body = await readBounded(req, MAX_THUMBNAIL_BYTES);
      if (body.length < 3 || body[0] !== 0xff || body[1] !== 0xd8) throw new Refusal(400, "the thumbnail is not a JPEG");
      sweepIncoming(parts.incomingDir, parts.now(), { device: item.device });
      const target = path.join(dirOf(item.device), `${item.id}.thumb.jpg`);
      writeDurably(target, body);
      res.status(202).json({ stored: false });
    })().catch((err) => fail(req, res, err));
  });

  router.put("/device/v1/items/:id", (req, res) => {
    (async () => {
      const item = itemOf(req, res);
      const store = storeOf();
      if (store.isStored(item)) {
        req.resume();
        return void res.status(200).json({ stored: true, duplicate: true });
      }
      const declared = req.get("content-length");
      if (declared !== undefined && Number(declared) !== item.bytes) throw new Refusal(400, `Content-Length ${declared} is not the item's ${item.bytes} bytes`);
      const dir = dirOf(item.device);
      const thumbnail = path.join(dir, `${item.id}.thumb.jpg`);
      if (!fs.existsSync(thumbnail)) throw new Refusal(409, `send the thumbnail of ${item.id} first`);
      const temp = path.join(dir, `${item.id}.media.tmp`);
      const hash = createHash("sha256");
      let length = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          length += chunk.length;
          if (length > item.bytes) return done(new Refusal(400, `the body is longer than the item's ${item.bytes} bytes`));
          hash.update(chunk);
          done(null, chunk);
        },
      });
      try {
        await pipeline(req, counter, fs.createWriteStream(temp, { mode: PRIVATE_FILE }));
        if (length !== item.bytes) throw new Refusal(400, `the body has ${length} bytes, the item ${item.bytes}`);
      } catch (err) {
        // a refused or cut transfer leaves nothing behind (the Pi sends the whole item again)
        fs.rmSync(temp, { force: true });
        throw err;
      }
      const sha = hash.digest("hex");
      if (sha !== item.sha256) {
        fs.rmSync(temp, { force: true });
        throw new Refusal(400, `the body's sha256 ${sha} is not the item's ${item.sha256}`);
      }
      const thumbnailBytes = fs.statSync(thumbnail).size;
      const result = await store.accept(item, temp, thumbnail, thumbnailBytes);
      res.status(result.duplicate ? 200 : 201).json({ stored: true, ...(result.duplicate ? { duplicate: true } : {}) });
    })().catch((err) => fail(req, res, err));
  });
  return router;
}

function writeDurably(target: string, body: Buffer): void {
  const tmp = `${target}.tmp`;
  const fd = fs.openSync(tmp, "w", PRIVATE_FILE);
  try {
    fs.writeSync(fd, body);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, target);
}

function readBounded(req: Request, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.removeAllListeners("data");
        req.resume();
        reject(new Refusal(413, `more than ${max} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}
