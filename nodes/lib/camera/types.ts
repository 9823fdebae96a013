// The camera pipeline's shared shapes (issue 13: Pi In The Sky without a cloud). Every part speaks these: the
// stream (frames), motion detection (events), the clip recorder and its spool (items), the hub's clip store
// (records), settings (hub → Pi, retained) and health (every role → hub).

/** One JPEG frame of a camera's MJPEG stream. `at` is the runtime clock's time (ms since the epoch) it was taken. */
export interface Frame {
  readonly jpeg: Buffer;
  readonly at: number;
  /** Increases by one per frame of one stream (a restart of the stream goes on counting). */
  readonly seq: number;
  readonly width: number;
  readonly height: number;
}

/** A running MJPEG stream, shared by every user: the first subscriber starts it, the last one's unsubscribe stops it. */
export interface FrameSource {
  subscribe(listener: (frame: Frame) => void): () => void;
  /** What the stream is set to deliver (the settings can change it while it runs: it restarts at the new size/rate). */
  readonly format: StreamFormat;
}

export interface StreamFormat {
  width: number;
  height: number;
  fps: number;
  /** Clockwise degrees. */
  rotation: 0 | 90 | 180 | 270;
}

/** A rectangle in a frame's own pixels (motion boxes) or as fractions 0..1 of the frame (mask regions). */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** `pifog/<device>/motion`: motion starts (first frame over the threshold after the settle time) and ends. */
export interface MotionEvent {
  kind: "start" | "end";
  device: string;
  /** The frame's time (clock ms). */
  at: number;
  /** The frame that decided it. */
  seq: number;
  /** Changed area as a percentage of the unmasked frame (0..100); at "end", the event's highest. */
  score: number;
  /** Where the change is, in frame pixels (at "end": the union over the event); null when none. */
  box: Box | null;
  /** At "end": when the event started (clock ms). */
  startedAt?: number;
}

/** A camera's settings, edited on the hub, delivered retained on `pifog/<device>/camera/config`. */
export interface CameraSettings {
  /** Increases with every change the hub makes; the Pi reports the one it applied. */
  version: number;
  /** Send "Motion detected by <name>" for this camera's clips. */
  notifications: boolean;
  /** 1 (least) .. 100 (most sensitive). */
  sensitivity: number;
  /** The least changed area, percent of the unmasked frame, that counts as motion. */
  minAreaPercent: number;
  /** Regions (fractions of the frame) where change is ignored. */
  mask: Box[];
  /** Seconds of video before the motion (pre-roll) and after it ends (post-roll). */
  preSeconds: number;
  postSeconds: number;
  /** A clip is cut at this many seconds (a new one starts if motion goes on). */
  maxClipSeconds: number;
  /** A time-lapse still every N minutes; 0 = off. */
  timelapseMinutes: number;
  /** Record (clips and time-lapse) only between these local times, "HH:MM"; null = always. `from` > `to` spans midnight. */
  recordingWindow: { from: string; to: string } | null;
  width: number;
  height: number;
  fps: number;
  rotation: 0 | 90 | 180 | 270;
  /** Seconds between health reports. */
  healthSeconds: number;
}

export const DEFAULT_CAMERA_SETTINGS: Readonly<CameraSettings> = Object.freeze({
  version: 0,
  notifications: true,
  sensitivity: 50,
  minAreaPercent: 1,
  mask: [],
  preSeconds: 5,
  postSeconds: 5,
  maxClipSeconds: 60,
  timelapseMinutes: 0,
  recordingWindow: null,
  width: 640,
  height: 480,
  fps: 10,
  rotation: 0,
  healthSeconds: 60,
});

/** `pifog/<device>/camera/applied` (retained, from the Pi): the settings version it runs, or why it refused one. */
export interface SettingsApplied {
  version: number;
  at: number;
  /** Set when the last config received could not be applied (the Pi keeps `version`). */
  error?: string;
  refusedVersion?: number;
}

/** `pifog/<device>/camera/live/control` (retained, from the hub): whether the hub wants the live stream. */
export interface LiveControl {
  stream: boolean;
  at: number;
  /** A lease (ms): the Pi stops by itself this long after the last control it received, unless a newer one came
   * (the hub sends {stream: true} again every third of it while someone watches). Absent: until told to stop. */
  leaseMs?: number;
}

/** What the Pi's spool holds until the hub has it: a clip or a time-lapse still. Files live beside the item's JSON. */
export interface SpoolItem {
  /** Unique per device and idempotent: `<kind>-<start ms>` (the hub stores one item per (device, id)). */
  id: string;
  kind: "clip" | "still";
  device: string;
  /** Clock ms of the first and last frame. */
  start: number;
  end: number;
  durationMs: number;
  /** The motion event's highest score (0 for stills). */
  score: number;
  /** The media file: a clip's `.mp4` (ffmpeg present) or `.mjpeg`, or a still's `.jpg`. */
  media: string;
  format: "mp4" | "mjpeg" | "jpeg";
  /** The thumbnail `.jpg` (the frame with the highest motion score; a still is its own thumbnail). */
  thumbnail: string;
  /** SHA-256 (hex) of the media file: the hub refuses a body that does not match. */
  sha256: string;
  bytes: number;
  /** Frames in the media (clips). */
  frames: number;
}

/** The hub's record of an uploaded item (SQLite, with the media in a folder of the data dir or in S3). */
export interface ClipRecord extends Omit<SpoolItem, "media" | "thumbnail"> {
  status: "pending" | "stored";
  /** When the hub stored it (clock ms). */
  storedAt: number | null;
  location: "local" | "s3";
}

/** `pifog/<device>/health` (from every role, every `healthSeconds`). */
export interface HealthReport {
  device: string;
  at: number;
  /** PiFog's version (package.json). */
  version: string;
  uptimeSeconds: number;
  load: [number, number, number];
  /** null off a Pi without a thermal zone. */
  cpuTemperatureC: number | null;
  memory: { totalBytes: number; availableBytes: number };
  disk: { totalBytes: number; availableBytes: number };
  lastError: { at: number; message: string } | null;
  /** When the next report is due, seconds: the hub marks the device unhealthy after it misses them. */
  intervalSeconds: number;
}

/** `pifog/<device>/health/state` (retained, from the hub): its judgement of a device's reports. */
export interface HealthState {
  device: string;
  state: "healthy" | "unhealthy";
  since: number;
  lastReportAt: number | null;
}

/** What flows between the camera nodes (camera-stream → motion-detect → clip-recorder / timelapse / live-push):
 * one message per frame, `msg.payload` the JPEG. motion-detect adds `msg.motion` and passes the frame on. */
export interface FrameMessage {
  payload: Buffer;
  frame: { at: number; seq: number; width: number; height: number; device: string };
  /** Set by motion-detect: this frame's score and box, and whether an event is on. */
  motion?: { score: number; box: Box | null; active: boolean };
}

/** A settings message (from the Pi's camera-config node): every camera node takes the part it uses, at once. */
export interface SettingsMessage {
  topic: "camera/settings";
  settings: CameraSettings;
}
