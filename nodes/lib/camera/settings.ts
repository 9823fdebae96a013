// A camera's settings checked the same way on both sides (issue 13): the hub before it stores and publishes them,
// the Pi before it applies them. A value outside what the camera pipeline and a Pi camera can do is refused with
// every reason at once, so the person fixing the form (or reading the Pi's refusal) sees the whole list.
import { DEFAULT_CAMERA_SETTINGS, type Box, type CameraSettings } from "./types";

/** What a Pi camera streams as MJPEG (rpicam-vid): up to 1920×1080 at 30 fps, sizes in even pixels. */
export const CAMERA_LIMITS = Object.freeze({
  width: { min: 160, max: 1920 },
  height: { min: 120, max: 1080 },
  fps: { min: 1, max: 30 },
  sensitivity: { min: 1, max: 100 },
  minAreaPercent: { min: 0.01, max: 100 },
  preSeconds: { min: 0, max: 30 },
  postSeconds: { min: 0, max: 60 },
  maxClipSeconds: { min: 5, max: 600 },
  timelapseMinutes: { min: 0, max: 1440 },
  healthSeconds: { min: 10, max: 3600 },
  version: { min: 0, max: Number.MAX_SAFE_INTEGER },
  /** Mask regions a camera may have. */
  maskBoxes: 16,
});

export const ROTATIONS = [0, 90, 180, 270] as const;

/** Every field of CameraSettings, in the order the dashboard shows them. */
export const SETTING_FIELDS: ReadonlyArray<keyof CameraSettings> = [
  "version",
  "notifications",
  "sensitivity",
  "minAreaPercent",
  "mask",
  "preSeconds",
  "postSeconds",
  "maxClipSeconds",
  "timelapseMinutes",
  "recordingWindow",
  "width",
  "height",
  "fps",
  "rotation",
  "healthSeconds",
];

export class SettingsError extends Error {
  constructor(readonly reasons: string[]) {
    super(`invalid camera settings: ${reasons.join("; ")}`);
    this.name = "SettingsError";
  }
}

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Whether `value` is a local time "HH:MM" (00:00 .. 23:59). */
export function isClockTime(value: unknown): value is string {
  return typeof value === "string" && HHMM.test(value);
}

type Limit = { min: number; max: number };

function number(reasons: string[], o: Record<string, unknown>, key: keyof typeof CAMERA_LIMITS, integer: boolean): number {
  const v = o[key];
  const limit = CAMERA_LIMITS[key] as Limit;
  if (typeof v !== "number" || !Number.isFinite(v)) {
    reasons.push(`${key} must be a number`);
    return NaN;
  }
  if (integer && !Number.isInteger(v)) reasons.push(`${key} must be a whole number`);
  if (v < limit.min || v > limit.max) reasons.push(`${key} ${v} is not within ${limit.min}..${limit.max}`);
  return v;
}

function maskOf(reasons: string[], value: unknown): Box[] {
  if (!Array.isArray(value)) {
    reasons.push("mask must be a list of boxes");
    return [];
  }
  if (value.length > CAMERA_LIMITS.maskBoxes) reasons.push(`mask has ${value.length} boxes, at most ${CAMERA_LIMITS.maskBoxes}`);
  const out: Box[] = [];
  value.slice(0, CAMERA_LIMITS.maskBoxes).forEach((b: unknown, i) => {
    const box = b && typeof b === "object" ? (b as Record<string, unknown>) : {};
    const [x, y, w, h] = (["x", "y", "w", "h"] as const).map((k) => box[k]);
    if (![x, y, w, h].every((n) => typeof n === "number" && Number.isFinite(n))) {
      reasons.push(`mask box ${i + 1} needs numbers x, y, w, h`);
      return;
    }
    const [bx, by, bw, bh] = [x, y, w, h] as number[];
    const within = bx! >= 0 && by! >= 0 && bw! > 0 && bh! > 0 && bx! + bw! <= 1 + 1e-9 && by! + bh! <= 1 + 1e-9;
    if (!within) reasons.push(`mask box ${i + 1} is not within the frame (fractions 0..1, width and height above 0)`);
    out.push({ x: bx!, y: by!, w: bw!, h: bh! });
  });
  return out;
}

function windowOf(reasons: string[], value: unknown): CameraSettings["recordingWindow"] {
  if (value === null) return null;
  const w = value && typeof value === "object" ? (value as Record<string, unknown>) : null;
  if (!w || !isClockTime(w.from) || !isClockTime(w.to)) {
    reasons.push('recordingWindow must be null (always) or {from, to} as "HH:MM"');
    return null;
  }
  if (w.from === w.to) reasons.push("recordingWindow's from and to are the same time (null records always)");
  return { from: w.from, to: w.to };
}

/**
 * The settings `input` stands for, rebuilt from the known fields only (anything else is dropped), or a SettingsError
 * with every reason. Every field is needed: a config message is the whole of a camera's settings.
 */
export function validateCameraSettings(input: unknown): CameraSettings {
  if (!input || typeof input !== "object" || Array.isArray(input)) throw new SettingsError(["the settings must be an object"]);
  const o = input as Record<string, unknown>;
  const reasons: string[] = [];
  const missing = SETTING_FIELDS.filter((k) => !(k in o));
  if (missing.length) throw new SettingsError([`missing ${missing.join(", ")}`]);
  if (typeof o.notifications !== "boolean") reasons.push("notifications must be true or false");
  const rotation = o.rotation;
  if (!(ROTATIONS as readonly unknown[]).includes(rotation)) reasons.push(`rotation must be 0, 90, 180 or 270, not ${JSON.stringify(rotation)}`);
  const s: CameraSettings = {
    version: number(reasons, o, "version", true),
    notifications: o.notifications === true,
    sensitivity: number(reasons, o, "sensitivity", true),
    minAreaPercent: number(reasons, o, "minAreaPercent", false),
    mask: maskOf(reasons, o.mask),
    preSeconds: number(reasons, o, "preSeconds", false),
    postSeconds: number(reasons, o, "postSeconds", false),
    maxClipSeconds: number(reasons, o, "maxClipSeconds", false),
    timelapseMinutes: number(reasons, o, "timelapseMinutes", true),
    recordingWindow: windowOf(reasons, o.recordingWindow),
    width: number(reasons, o, "width", true),
    height: number(reasons, o, "height", true),
    fps: number(reasons, o, "fps", true),
    rotation: rotation as CameraSettings["rotation"],
    healthSeconds: number(reasons, o, "healthSeconds", true),
  };
  if (Number.isInteger(s.width) && s.width % 2 !== 0) reasons.push(`width ${s.width} must be even`);
  if (Number.isInteger(s.height) && s.height % 2 !== 0) reasons.push(`height ${s.height} must be even`);
  if (s.maxClipSeconds <= s.preSeconds) reasons.push(`maxClipSeconds ${s.maxClipSeconds} must be longer than preSeconds ${s.preSeconds}`);
  if (reasons.length) throw new SettingsError(reasons);
  return s;
}

/** The defaults, as a fresh object. */
export function defaultCameraSettings(): CameraSettings {
  return { ...DEFAULT_CAMERA_SETTINGS, mask: [], recordingWindow: null };
}

/** Whether two settings say the same (version included). */
export function sameSettings(a: CameraSettings, b: CameraSettings): boolean {
  return SETTING_FIELDS.every((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]));
}

/** `base` with the fields a person changed (any of CameraSettings' fields but the version, which the hub sets). */
export function withChanges(base: CameraSettings, changes: unknown): Record<string, unknown> {
  if (!changes || typeof changes !== "object" || Array.isArray(changes)) throw new SettingsError(["the changes must be an object"]);
  const out: Record<string, unknown> = { ...base };
  for (const k of SETTING_FIELDS) {
    if (k === "version") continue;
    if (k in (changes as Record<string, unknown>)) out[k] = (changes as Record<string, unknown>)[k];
  }
  return out;
}
