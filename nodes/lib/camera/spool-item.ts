// A SpoolItem as it arrives from outside (the upload's X-Pifog-Item header): checked field by field and bounded
// before the hub believes any of it.
import { isTopicLevel } from "../contract";
import { isItemId } from "./spool";
import type { SpoolItem } from "./types";

export class ItemError extends Error {}

/** The largest media file the hub takes (a 60 s 640×480 MJPEG at 10 fps is about 25 MB). */
export const MAX_MEDIA_BYTES = 512 * 1024 * 1024;
export const MAX_THUMBNAIL_BYTES = 4 * 1024 * 1024;

const FORMATS = { clip: ["mp4", "mjpeg"], still: ["jpeg"] } as const;

function num(v: unknown, name: string, min: number, max: number, integer = true): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new ItemError(`${name} must be a ${integer ? "whole " : ""}number ${min}..${max}`);
  }
  return v;
}

export function parseSpoolItem(raw: unknown): SpoolItem {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new ItemError("the item must be a JSON object");
  const r = raw as Record<string, unknown>;
  if (typeof r.id !== "string" || !isItemId(r.id)) throw new ItemError("id must be clip-<ms> or still-<ms>");
  if (r.kind !== "clip" && r.kind !== "still") throw new ItemError('kind must be "clip" or "still"');
  if (!r.id.startsWith(`${r.kind}-`)) throw new ItemError(`id ${r.id} is not a ${r.kind}'s`);
  if (typeof r.device !== "string" || !isTopicLevel(r.device)) throw new ItemError("device must be a device id");
  const formats: readonly string[] = FORMATS[r.kind];
  if (typeof r.format !== "string" || !formats.includes(r.format)) throw new ItemError(`format must be ${formats.join(" or ")} for a ${r.kind}`);
  if (typeof r.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(r.sha256)) throw new ItemError("sha256 must be 64 lower-case hex digits");
  const start = num(r.start, "start", 0, 1e14);
  const end = num(r.end, "end", start, 1e14);
  const fileName = (v: unknown, name: string) => {
    if (typeof v !== "string" || !/^[A-Za-z0-9_.-]{1,100}$/.test(v) || v.startsWith(".")) throw new ItemError(`${name} must be a file name`);
    return v;
  };
  return {
    id: r.id,
    kind: r.kind,
    device: r.device,
    start,
    end,
    durationMs: num(r.durationMs, "durationMs", 0, 86_400_000),
    score: num(r.score, "score", 0, 100, false),
    media: fileName(r.media, "media"),
    format: r.format as SpoolItem["format"],
    thumbnail: fileName(r.thumbnail, "thumbnail"),
    sha256: r.sha256,
    bytes: num(r.bytes, "bytes", 1, MAX_MEDIA_BYTES),
    frames: num(r.frames, "frames", 0, 10_000_000),
  };
}

/** The header value that carries an item: base64url of its JSON (a header holds no raw JSON safely). */
export function encodeItemHeader(item: SpoolItem): string {
  return Buffer.from(JSON.stringify(item)).toString("base64url");
}

export function decodeItemHeader(value: string | undefined): SpoolItem {
  if (!value) throw new ItemError("the X-Pifog-Item header (the spool item, base64url JSON) is missing");
  if (value.length > 8192 || !/^[A-Za-z0-9_-]+$/.test(value)) throw new ItemError("the X-Pifog-Item header is not base64url");
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(value, "base64url").toString("utf8"));
  } catch {
    throw new ItemError("the X-Pifog-Item header is not base64url JSON");
  }
  return parseSpoolItem(raw);
}

export function mediaType(format: SpoolItem["format"]): string {
  return format === "mp4" ? "video/mp4" : format === "mjpeg" ? "video/x-motion-jpeg" : "image/jpeg";
}

export function mediaExtension(format: SpoolItem["format"]): string {
  return format === "mp4" ? "mp4" : format === "mjpeg" ? "mjpeg" : "jpg";
}
