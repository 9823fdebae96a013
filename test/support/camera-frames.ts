// Frames as the camera pipeline sends them (FrameMessage), made by the test: small JPEGs (jpeg-js), `at` from the
// fake clock, motion where the test says.
import * as jpeg from "jpeg-js";
import type { FrameMessage } from "../../nodes/lib/camera/types";

const cache = new Map<string, Buffer>();

/** A width×height JPEG of one grey `shade` (0..255) with a bright square at `mark` (0..7). jpeg-js takes a tenth of
 * a second per encode: keep the looks few and tell frames apart with `tagged`. */
export function jpegFrame(shade: number, width = 64, height = 48, mark = 0): Buffer {
  const key = `${shade}/${width}/${height}/${mark}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const inMark = Math.floor(x / 8) === mark % Math.max(1, Math.floor(width / 8)) && y < 8;
      const v = inMark ? 255 : shade;
      data[i] = v;
      data[i + 1] = v;
      data[i + 2] = (v + 40) % 256;
      data[i + 3] = 255;
    }
  }
  const out = jpeg.encode({ data, width, height }, 80).data;
  cache.set(key, out);
  return out;
}

/** The same picture with a JPEG comment (COM segment) naming `n`: a distinct, valid JPEG per frame, made at no cost. */
export function tagged(jpegBytes: Buffer, n: number): Buffer {
  const text = Buffer.from(`frame ${n}`, "latin1");
  const segment = Buffer.alloc(4);
  segment.writeUInt16BE(0xfffe, 0);
  segment.writeUInt16BE(text.length + 2, 2);
  return Buffer.concat([jpegBytes.subarray(0, 2), segment, text, jpegBytes.subarray(2)]);
}

/** Frame `seq`'s JPEG as frameMessage makes it by default. */
export function frameJpeg(seq: number, width = 64, height = 48): Buffer {
  return tagged(jpegFrame(64 + (seq % 4) * 32, width, height, seq % 4), seq);
}

export interface FrameOptions {
  device?: string;
  /** Motion: omitted = no msg.motion at all. */
  motion?: { active: boolean; score?: number };
  jpeg?: Buffer;
  width?: number;
  height?: number;
}

/** A FrameMessage for the frame taken at `at`, number `seq`. */
export function frameMessage(at: number, seq: number, o: FrameOptions = {}): FrameMessage {
  const width = o.width ?? 64;
  const height = o.height ?? 48;
  return {
    payload: o.jpeg ?? frameJpeg(seq, width, height),
    frame: { at, seq, width, height, device: o.device ?? "cam1" },
    ...(o.motion ? { motion: { score: o.motion.score ?? (o.motion.active ? 5 : 0), box: o.motion.active ? { x: 1, y: 1, w: 8, h: 8 } : null, active: o.motion.active } } : {}),
  };
}
