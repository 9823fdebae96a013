// Spool items as a camera Pi's recorder leaves them (the media, the thumbnail, then the item's JSON), made from
// small real JPEG frames, for the upload and clip-store tests.
import { createHash } from "node:crypto";
import fs from "node:fs";
import jpeg from "jpeg-js";
import type { Spool } from "../../nodes/lib/camera/spool";
import type { SpoolItem } from "../../nodes/lib/camera/types";

/** A small JPEG of one grey level (a frame of the test clip). */
export function jpegFrame(level: number, width = 32, height = 24): Buffer {
  const data = Buffer.alloc(width * height * 4, level);
  for (let i = 3; i < data.length; i += 4) data[i] = 255;
  return Buffer.from(jpeg.encode({ data, width, height }, 80).data);
}

export interface ItemOptions {
  kind?: "clip" | "still";
  frames?: number;
  /** Media bytes instead of frames (a big upload). */
  media?: Buffer;
  durationMs?: number;
  score?: number;
}

/** Writes an item into `spool` (files first, the JSON last, as the recorder does) and returns it. */
export function spoolItem(spool: Spool, device: string, start: number, o: ItemOptions = {}): SpoolItem {
  const kind = o.kind ?? "clip";
  const frames = o.frames ?? 3;
  const media = o.media ?? Buffer.concat(Array.from({ length: kind === "still" ? 1 : frames }, (_, i) => jpegFrame(40 + i * 20)));
  const id = `${kind}-${start}`;
  const ext = kind === "still" ? "jpg" : "mjpeg";
  const item: SpoolItem = {
    id,
    kind,
    device,
    start,
    end: start + (o.durationMs ?? (kind === "still" ? 0 : frames * 100)),
    durationMs: o.durationMs ?? (kind === "still" ? 0 : frames * 100),
    score: o.score ?? (kind === "still" ? 0 : 12.5),
    media: `${id}.${ext}`,
    format: kind === "still" ? "jpeg" : "mjpeg",
    thumbnail: `${id}.thumb.jpg`,
    sha256: createHash("sha256").update(media).digest("hex"),
    bytes: media.length,
    frames: kind === "still" ? 1 : frames,
  };
  fs.writeFileSync(spool.file(item.media), media);
  fs.writeFileSync(spool.file(item.thumbnail), jpegFrame(200));
  spool.put(item);
  return item;
}
