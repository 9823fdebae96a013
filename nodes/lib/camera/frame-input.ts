// What the recording nodes (clip-recorder, timelapse) take on their input, checked before they use it: a frame
// message (FrameMessage: a JPEG with its frame info, and motion-detect's verdict when it ran) or a settings message.
import { PayloadError } from "../contract";
import { jpegSize } from "../image/image";
import { checkWindow } from "./recording-window";
import type { CameraSettings, SettingsMessage } from "./types";

/** A checked frame: the JPEG, its clock time and size, and motion (score 0 and inactive when motion-detect did not run). */
export interface InputFrame {
  jpeg: Buffer;
  at: number;
  seq: number;
  width: number;
  height: number;
  device: string;
  score: number;
  active: boolean;
}

/** The largest frame taken: far above a 1920×1080 JPEG (≈ 0.5 MiB), far below what would hurt a Pi Zero. */
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;

/** Whether `b` looks like one whole JPEG: SOI at the start, EOI at the end (a trailing pad byte or two allowed). */
export function isWholeJpeg(b: Buffer): boolean {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8 || b[2] !== 0xff) return false;
  for (let i = b.length - 2; i >= Math.max(2, b.length - 4); i--) {
    if (b[i] === 0xff && b[i + 1] === 0xd9) return true;
  }
  return false;
}

const posInt = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;

/** The frame of a FrameMessage for `device`, or a PayloadError saying what is wrong with it. */
export function frameOf(msg: { payload?: unknown; frame?: unknown; motion?: unknown }, device: string): InputFrame {
  const jpeg = msg.payload;
  if (!Buffer.isBuffer(jpeg)) throw new PayloadError(`frame: msg.payload must be a JPEG Buffer, not ${jpeg === null ? "null" : typeof jpeg}`);
  if (jpeg.length > MAX_FRAME_BYTES) throw new PayloadError(`frame: ${jpeg.length} bytes is more than a frame (${MAX_FRAME_BYTES})`);
  if (!isWholeJpeg(jpeg)) throw new PayloadError("frame: msg.payload is not a JPEG");
  const f = msg.frame as Record<string, unknown> | undefined | null;
  if (!f || typeof f !== "object") throw new PayloadError("frame: no msg.frame ({at, seq, width, height, device})");
  if (typeof f.at !== "number" || !Number.isFinite(f.at) || f.at < 0) throw new PayloadError("frame: msg.frame.at must be clock ms");
  if (!Number.isSafeInteger(f.seq) || (f.seq as number) < 0) throw new PayloadError("frame: msg.frame.seq must be a whole number");
  if (!posInt(f.width) || !posInt(f.height)) throw new PayloadError("frame: msg.frame.width and height must be whole pixels");
  const size = jpegSize(jpeg);
  if (size && (size.width !== f.width || size.height !== f.height)) {
    throw new PayloadError(`frame: msg.frame says ${String(f.width)}×${String(f.height)}, the JPEG is ${size.width}×${size.height}`);
  }
  if (f.device !== device) {
    throw new PayloadError(`frame: from device ${JSON.stringify(String(f.device)).slice(0, 70)}, not this node's ${device}`);
  }
  let score = 0;
  let active = false;
  const m = msg.motion as Record<string, unknown> | undefined | null;
  if (m !== undefined && m !== null) {
    if (typeof m !== "object" || typeof m.active !== "boolean" || typeof m.score !== "number" || !Number.isFinite(m.score)) {
      throw new PayloadError("frame: msg.motion must be {score, box, active}");
    }
    score = m.score;
    active = m.active;
  }
  return { jpeg, at: f.at, seq: f.seq as number, width: f.width as number, height: f.height as number, device, score, active };
}

export function isSettingsMessage(msg: { topic?: unknown; settings?: unknown }): msg is SettingsMessage {
  return msg.topic === "camera/settings";
}

/** The part of the camera's settings the recording nodes use. */
export type RecordingSettings = Pick<
  CameraSettings,
  "preSeconds" | "postSeconds" | "maxClipSeconds" | "timelapseMinutes" | "recordingWindow" | "fps"
>;

/** Limits the recorders hold the settings to (the hub's editor keeps inside them). */
export const RECORDING_LIMITS = {
  preSeconds: [0, 120],
  postSeconds: [0, 600],
  maxClipSeconds: [1, 3600],
  timelapseMinutes: [0, 7 * 24 * 60],
  fps: [0.1, 120],
} as const;

/** The recording part of a settings message, checked; a PayloadError names the first bad field. */
export function recordingSettingsOf(msg: SettingsMessage): RecordingSettings {
  const s = msg.settings as Partial<CameraSettings> | undefined;
  if (!s || typeof s !== "object") throw new PayloadError("settings: msg.settings must be the camera's settings");
  const out: Partial<RecordingSettings> = {};
  for (const [key, [lo, hi]] of Object.entries(RECORDING_LIMITS) as Array<[keyof typeof RECORDING_LIMITS, readonly [number, number]]>) {
    const v = s[key];
    if (typeof v !== "number" || !Number.isFinite(v) || v < lo || v > hi) {
      throw new PayloadError(`settings: ${key} must be a number ${lo}..${hi}, not ${JSON.stringify(v) ?? "missing"}`);
    }
    out[key] = v;
  }
  try {
    out.recordingWindow = checkWindow(s.recordingWindow);
  } catch (err) {
    throw new PayloadError(`settings: ${(err as Error).message}`);
  }
  return out as RecordingSettings;
}
