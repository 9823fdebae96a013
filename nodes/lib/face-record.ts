// What PiFog knows of a face crop (where it was in the still, the detector's score, which camera, when) travels
// inside the crop's own bytes, so the wire stays what the original sent (the raw image bytes on `…/faces`) and
// whatever stores the file (the folder store, S3) keeps the record with it:
// - PNG: a `tEXt` chunk with the keyword `pifog-face` right after IHDR;
// - JPEG: a COM (comment) segment `pifog-face:<json>` right after SOI.
// Image viewers ignore both. A crop without a record reads back as null.
import zlib from "node:zlib";
import type { Box } from "./faces/image";

export interface FaceRecord {
  device: string;
  /** When the still was taken (ISO). */
  takenAt: string;
  /** Where the face is in the still, pixels. */
  box: Box;
  /** The detector's confidence, 0..1. */
  score: number;
  /** 0-based, best score first, of `count` faces in the still. */
  index: number;
  count: number;
}

const KEYWORD = "pifog-face";
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** A record is small; anything bigger than this is not ours. */
const MAX_RECORD = 4096;

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

function isPng(bytes: Buffer): boolean {
  return bytes.length > 33 && bytes.subarray(0, 8).equals(PNG_SIGNATURE) && bytes.toString("latin1", 12, 16) === "IHDR";
}

function isJpeg(bytes: Buffer): boolean {
  return bytes.length > 4 && bytes[0] === 0xff && bytes[1] === 0xd8;
}

/** The crop with the record written into it (PNG or JPEG); other bytes are returned as they are. */
export function withFaceRecord(crop: Buffer, record: FaceRecord): Buffer {
  const json = JSON.stringify(record);
  if (isPng(crop)) {
    const ihdrEnd = 8 + 12 + crop.readUInt32BE(8);
    const text = pngChunk("tEXt", Buffer.concat([Buffer.from(KEYWORD, "latin1"), Buffer.from([0]), Buffer.from(json, "latin1")]));
    return Buffer.concat([crop.subarray(0, ihdrEnd), text, crop.subarray(ihdrEnd)]);
  }
  if (isJpeg(crop)) {
    const body = Buffer.from(`${KEYWORD}:${json}`, "latin1");
    const head = Buffer.from([0xff, 0xfe, 0, 0]);
    head.writeUInt16BE(body.length + 2, 2);
    return Buffer.concat([crop.subarray(0, 2), head, body, crop.subarray(2)]);
  }
  return crop;
}

function parseRecord(json: string): FaceRecord | null {
  try {
    const v = JSON.parse(json) as Partial<FaceRecord>;
    const b = v.box;
    const ok =
      typeof v.device === "string" &&
      typeof v.takenAt === "string" &&
      typeof v.score === "number" &&
      typeof v.index === "number" &&
      typeof v.count === "number" &&
      !!b &&
      [b.x, b.y, b.width, b.height].every((n) => typeof n === "number" && Number.isFinite(n));
    return ok ? (v as FaceRecord) : null;
  } catch {
    return null;
  }
}

function pngRecord(bytes: Buffer): FaceRecord | null {
  let at = 8;
  while (at + 12 <= bytes.length) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString("latin1", at + 4, at + 8);
    if (type === "IDAT" || type === "IEND" || at + 12 + length > bytes.length) return null;
    if (type === "tEXt" && length <= MAX_RECORD) {
      const data = bytes.subarray(at + 8, at + 8 + length);
      const nul = data.indexOf(0);
      if (nul > 0 && data.toString("latin1", 0, nul) === KEYWORD) return parseRecord(data.toString("latin1", nul + 1));
    }
    at += 12 + length;
  }
  return null;
}

function jpegRecord(bytes: Buffer): FaceRecord | null {
  let at = 2;
  while (at + 4 <= bytes.length && bytes[at] === 0xff) {
    const marker = bytes[at + 1]!;
    if (marker === 0xda || marker === 0xd9) return null; // image data starts: no more headers
    const length = bytes.readUInt16BE(at + 2);
    if (marker === 0xfe && length - 2 <= MAX_RECORD + KEYWORD.length + 1) {
      const text = bytes.toString("latin1", at + 4, at + 2 + length);
      if (text.startsWith(`${KEYWORD}:`)) return parseRecord(text.slice(KEYWORD.length + 1));
    }
    at += 2 + length;
  }
  return null;
}

/** The record a crop carries, or null (not a PNG/JPEG, no record, or a broken one). Never throws. */
export function readFaceRecord(bytes: Buffer): FaceRecord | null {
  if (!Buffer.isBuffer(bytes)) return null;
  if (isPng(bytes)) return pngRecord(bytes);
  if (isJpeg(bytes)) return jpegRecord(bytes);
  return null;
}
