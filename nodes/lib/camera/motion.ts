// Motion detection on MJPEG frames: each JPEG decoded to a small grayscale image (about 160 pixels wide), compared
// with an adaptive background (a running average), pixel by pixel against a threshold set by the sensitivity.
// Global brightness is compensated first (the frame is scaled to the background's mean), a changed pixel counts
// only with changed neighbours (sensor noise is scattered, things that move are not), and the background follows
// the scene, so slow light changes and noise never reach the minimum changed area. Motion starts after two frames in
// a row over the minimum area (once the settle time is over) and ends after a second without.
import * as jpeg from "jpeg-js";
import { isJpeg } from "../image/image";
import type { Box, CameraSettings, MotionEvent } from "./types";

/** The small image motion is found in. */
export interface Gray {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface MotionOptions {
  /** 1 (least) .. 100 (most sensitive). */
  sensitivity: number;
  /** Percent of the unmasked frame that must change. */
  minAreaPercent: number;
  /** Regions (fractions 0..1 of the frame) where change is ignored. */
  mask: Box[];
  /** After the start and after a settings change, no event starts for this long (the background learns the scene). */
  settleMs: number;
  /** Motion ends after this long without a frame over the minimum area. */
  endQuietMs: number;
}

export const DEFAULT_MOTION_OPTIONS: Readonly<MotionOptions> = Object.freeze({
  sensitivity: 50,
  minAreaPercent: 1,
  mask: [],
  settleMs: 3000,
  endQuietMs: 1000,
});

/** The small image is about this wide. */
export const GRAY_WIDTH = 160;
/** Frames in a row over the minimum area before motion starts. */
const START_FRAMES = 2;
/** How fast the background follows the scene where nothing changed, and where something did. */
const ALPHA_STILL = 0.08;
const ALPHA_CHANGED = 0.05;
/** While it settles, the background learns the scene quickly. */
const ALPHA_SETTLE = 0.3;

export class NotAJpegError extends Error {}

/** The grey level difference a pixel must change by: 6 at sensitivity 100 up to 51 at 1. */
export function thresholdOf(sensitivity: number): number {
  const s = Math.max(1, Math.min(100, sensitivity));
  return 6 + (100 - s) * (45 / 99);
}

/** Pixels per side of the small image's squares: a frame 160..319 wide keeps every pixel, 640 averages 4×4. */
export function shrinkOf(width: number): number {
  return Math.max(1, Math.floor(width / GRAY_WIDTH));
}

/** Decodes a JPEG and averages it down to grayscale (jpeg-js: runs everywhere, a Pi Zero's ARMv6 too). */
export function grayFromJpeg(data: Buffer): Gray {
  if (!isJpeg(data)) throw new NotAJpegError(`not a JPEG (${data.length} bytes${data.length ? `, starting ${data.subarray(0, 4).toString("hex")}` : ""})`);
  let image: { width: number; height: number; data: Uint8Array };
  try {
    image = jpeg.decode(data, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: 16, maxMemoryUsageInMB: 256 });
  } catch (err) {
    throw new NotAJpegError(`not a JPEG that decodes: ${(err as Error).message}`);
  }
  return shrinkRgb(image.data, image.width, image.height, 3);
}

/** `channels`-byte pixels averaged over f×f squares into ITU-R BT.601 luma. */
export function shrinkRgb(px: Uint8Array, width: number, height: number, channels: number): Gray {
  const f = shrinkOf(width);
  const w = Math.floor(width / f);
  const h = Math.floor(height / f);
  const sums = new Uint32Array(w * h);
  for (let y = 0; y < h * f; y++) {
    const row = (y / f) | 0;
    let o = y * width * channels;
    for (let x = 0; x < w * f; x++, o += channels) {
      // 0.299 R + 0.587 G + 0.114 B, in integers
      sums[row * w + ((x / f) | 0)]! += px[o]! * 77 + px[o + 1]! * 150 + px[o + 2]! * 29;
    }
  }
  const out = new Uint8Array(w * h);
  const div = 256 * f * f;
  for (let i = 0; i < out.length; i++) out[i] = Math.round(sums[i]! / div);
  return { width: w, height: h, data: out };
}

export interface GrayDecoder {
  name: "sharp" | "jpeg-js";
  decode(jpeg: Buffer, width: number, height: number): Promise<Gray>;
}

export const jsGrayDecoder: GrayDecoder = { name: "jpeg-js", decode: async (data) => grayFromJpeg(data) };

/**
 * sharp (libvips) when it loads: it shrinks while it decodes (libjpeg's DCT scaling), several times faster than
 * jpeg-js. Where it has no build (a Pi Zero's ARMv6), jpeg-js.
 */
export function fastGrayDecoder(): GrayDecoder {
  let sharp: typeof import("sharp");
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    sharp = require("sharp") as typeof import("sharp");
  } catch {
    return jsGrayDecoder;
  }
  // libvips keeps up to 50 MB of finished operations for reuse by default; a stream of frames never reuses one
  sharp.cache(false);
  return {
    name: "sharp",
    decode: async (data, width, height) => {
      if (!isJpeg(data)) throw new NotAJpegError(`not a JPEG (${data.length} bytes)`);
      const f = shrinkOf(width);
      const w = Math.floor(width / f);
      const h = Math.floor(height / f);
      try {
        const out = await sharp(data, { failOn: "error" })
          .resize(w, h, { fit: "fill", fastShrinkOnLoad: true, kernel: "linear" })
          .grayscale()
          .raw()
          .toBuffer({ resolveWithObject: true });
        return { width: out.info.width, height: out.info.height, data: new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength) };
      } catch (err) {
        throw new NotAJpegError(`not a JPEG that decodes: ${(err as Error).message}`);
      }
    },
  };
}

/** Mask boxes: each as "x,y,w,h" fractions 0..1, one per line (the editor's list). Throws on a bad line. */
export function parseMask(text: string): Box[] {
  const boxes: Box[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const parts = line.split(/[\s,]+/).map(Number);
    if (parts.length !== 4 || parts.some((n) => !Number.isFinite(n))) throw new Error(`mask line ${i + 1} "${line.slice(0, 40)}" is not x,y,w,h`);
    boxes.push(checkBox({ x: parts[0]!, y: parts[1]!, w: parts[2]!, h: parts[3]! }, `mask line ${i + 1}`));
  }
  return boxes;
}

export function checkBox(b: Box, where: string): Box {
  const ok = [b.x, b.y, b.w, b.h].every((n) => typeof n === "number" && Number.isFinite(n) && n >= 0 && n <= 1) && b.w > 0 && b.h > 0;
  if (!ok) throw new Error(`${where}: a box is x, y, w, h as fractions 0..1 of the frame (w and h above 0)`);
  return { x: b.x, y: b.y, w: b.w, h: b.h };
}

/** Checks the options a user gave (node config or settings) and fills in the defaults. */
export function normaliseMotionOptions(o: Partial<MotionOptions>): MotionOptions {
  const sensitivity = o.sensitivity ?? DEFAULT_MOTION_OPTIONS.sensitivity;
  if (!Number.isInteger(sensitivity) || sensitivity < 1 || sensitivity > 100) throw new Error(`sensitivity ${String(sensitivity)} is not a whole number 1..100`);
  const minAreaPercent = o.minAreaPercent ?? DEFAULT_MOTION_OPTIONS.minAreaPercent;
  if (typeof minAreaPercent !== "number" || !(minAreaPercent > 0 && minAreaPercent <= 100)) throw new Error(`minimum area ${String(minAreaPercent)} % is not above 0 and at most 100`);
  const settleMs = o.settleMs ?? DEFAULT_MOTION_OPTIONS.settleMs;
  if (!Number.isFinite(settleMs) || settleMs < 0 || settleMs > 600_000) throw new Error(`settle time ${String(settleMs / 1000)} s is not 0..600`);
  const endQuietMs = o.endQuietMs ?? DEFAULT_MOTION_OPTIONS.endQuietMs;
  if (!Number.isFinite(endQuietMs) || endQuietMs < 0 || endQuietMs > 600_000) throw new Error(`end quiet time ${String(endQuietMs)} ms is not 0..600000`);
  const mask = (o.mask ?? []).map((b, i) => checkBox(b, `mask box ${i + 1}`));
  if (mask.length > 64) throw new Error(`${mask.length} mask boxes; at most 64`);
  return { sensitivity, minAreaPercent, mask, settleMs, endQuietMs };
}

/** The parts of the camera's settings motion detection takes. */
export function motionOptionsFromSettings(settings: CameraSettings, base: MotionOptions): MotionOptions {
  return normaliseMotionOptions({ ...base, sensitivity: settings.sensitivity, minAreaPercent: settings.minAreaPercent, mask: settings.mask });
}

export interface FrameMeta {
  at: number;
  seq: number;
  width: number;
  height: number;
}

export interface MotionResult {
  /** Changed area, % of the unmasked frame. */
  score: number;
  /** Where, in frame pixels (null: nothing changed). */
  box: Box | null;
  /** Whether an event is on after this frame. */
  active: boolean;
  /** The event this frame started or ended. */
  event: MotionEvent | null;
}

export class MotionDetector {
  private options: MotionOptions;
  private background: Float32Array | null = null;
  private size = { width: 0, height: 0 };
  private maskBits: Uint8Array | null = null;
  private unmasked = 0;
  private settleUntil = -Infinity;
  private settleFrom: number | null = null;
  private over = 0;
  private event: { startedAt: number; peak: number; box: Box | null; lastMotionAt: number } | null = null;
  private changed = new Uint8Array(0);

  constructor(
    private readonly device: string,
    options: Partial<MotionOptions> = {},
  ) {
    this.options = normaliseMotionOptions(options);
  }

  get current(): MotionOptions {
    return { ...this.options, mask: this.options.mask.map((b) => ({ ...b })) };
  }

  get active(): boolean {
    return this.event !== null;
  }

  /** New options at once; the settle time starts again with the next frame. */
  update(options: Partial<MotionOptions>): void {
    this.options = normaliseMotionOptions({ ...this.options, ...options });
    this.maskBits = null;
    this.settleUntil = Infinity;
    this.settleFrom = null;
    this.over = 0;
  }

  private prepare(gray: Gray, at: number): boolean {
    let fresh = false;
    if (!this.background || gray.width !== this.size.width || gray.height !== this.size.height) {
      this.size = { width: gray.width, height: gray.height };
      this.background = Float32Array.from(gray.data);
      this.changed = new Uint8Array(gray.data.length);
      this.maskBits = null;
      this.settleFrom = null;
      fresh = true;
    }
    if (this.settleFrom === null) {
      this.settleFrom = at;
      this.settleUntil = at + this.options.settleMs;
    }
    if (!this.maskBits) {
      const { width: w, height: h } = this.size;
      const bits = new Uint8Array(w * h).fill(1);
      for (const b of this.options.mask) {
        const x0 = Math.floor(b.x * w), x1 = Math.min(w, Math.ceil((b.x + b.w) * w));
        const y0 = Math.floor(b.y * h), y1 = Math.min(h, Math.ceil((b.y + b.h) * h));
        for (let y = y0; y < y1; y++) bits.fill(0, y * w + x0, y * w + Math.max(x0, x1));
      }
      this.maskBits = bits;
      this.unmasked = bits.reduce((n, v) => n + v, 0);
    }
    return fresh;
  }

  /** One frame's small image; returns its score and box, and the event it started or ended. */
  feed(gray: Gray, frame: FrameMeta): MotionResult {
    const fresh = this.prepare(gray, frame.at);
    const bg = this.background!;
    const mask = this.maskBits!;
    const { width: w, height: h } = this.size;
    const px = gray.data;
    if (fresh || this.unmasked === 0) return this.decide(0, null, frame);

    // brightness compensation: the frame scaled to the background's mean over the unmasked pixels
    let sumCur = 0;
    let sumBg = 0;
    for (let i = 0; i < px.length; i++) {
      if (mask[i]) {
        sumCur += px[i]!;
        sumBg += bg[i]!;
      }
    }
    const gain = Math.max(0.5, Math.min(2, sumCur > 0 ? sumBg / sumCur : 1));
    const threshold = thresholdOf(this.options.sensitivity);
    const changed = this.changed;
    for (let i = 0; i < px.length; i++) changed[i] = mask[i] && Math.abs(px[i]! * gain - bg[i]!) > threshold ? 1 : 0;

    // a changed pixel counts with at least two changed neighbours (of eight): scattered noise does not
    let count = 0;
    let x0 = w, y0 = h, x1 = -1, y1 = -1;
    for (let y = 1; y < h - 1; y++) {
      for (let x = 1; x < w - 1; x++) {
        const i = y * w + x;
        if (!changed[i]) continue;
        const n =
          changed[i - w - 1]! + changed[i - w]! + changed[i - w + 1]! + changed[i - 1]! + changed[i + 1]! + changed[i + w - 1]! + changed[i + w]! + changed[i + w + 1]!;
        if (n < 2) continue;
        count++;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }

    const settling = frame.at < this.settleUntil;
    for (let i = 0; i < px.length; i++) {
      const v = px[i]! * gain;
      const alpha = settling ? ALPHA_SETTLE : changed[i] ? ALPHA_CHANGED : ALPHA_STILL;
      bg[i] = bg[i]! + alpha * (v - bg[i]!);
    }

    const score = (count / this.unmasked) * 100;
    const sx = frame.width / w;
    const sy = frame.height / h;
    const box = count > 0 ? { x: Math.round(x0 * sx), y: Math.round(y0 * sy), w: Math.round((x1 - x0 + 1) * sx), h: Math.round((y1 - y0 + 1) * sy) } : null;
    return this.decide(round2(score), box, frame);
  }

  private decide(score: number, box: Box | null, frame: FrameMeta): MotionResult {
    const moving = score >= this.options.minAreaPercent;
    const base = { score, box };
    if (!this.event) {
      this.over = moving && frame.at >= this.settleUntil ? this.over + 1 : 0;
      if (this.over < START_FRAMES) return { ...base, active: false, event: null };
      this.over = 0;
      this.event = { startedAt: frame.at, peak: score, box, lastMotionAt: frame.at };
      return { ...base, active: true, event: { kind: "start", device: this.device, at: frame.at, seq: frame.seq, score, box } };
    }
    const e = this.event;
    if (moving) {
      e.lastMotionAt = frame.at;
      e.peak = Math.max(e.peak, score);
      e.box = union(e.box, box);
      return { ...base, active: true, event: null };
    }
    if (frame.at - e.lastMotionAt < this.options.endQuietMs) return { ...base, active: true, event: null };
    this.event = null;
    return {
      ...base,
      active: false,
      event: { kind: "end", device: this.device, at: frame.at, seq: frame.seq, score: e.peak, box: e.box, startedAt: e.startedAt },
    };
  }
}

const round2 = (v: number) => Math.round(v * 100) / 100;

function union(a: Box | null, b: Box | null): Box | null {
  if (!a) return b;
  if (!b) return a;
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return { x, y, w: Math.max(a.x + a.w, b.x + b.w) - x, h: Math.max(a.y + a.h, b.y + b.h) - y };
}
