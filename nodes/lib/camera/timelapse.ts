// Time-lapse on the camera Pi: a still every N minutes (the settings' timelapseMinutes; 0 = off), inside the recording
// window. The stills fall on the Pi's local clock (every 15 min: :00, :15, :30, :45), so cameras' sequences line up:
// the first frame at or after each such time becomes the still. Times come from the frames (the injected clock).
import fs from "node:fs";
import { sha256, writeDurable } from "./media-file";
import { inWindow, type RecordingWindow } from "./recording-window";
import type { Spool } from "./spool";
import type { SpoolItem } from "./types";

/** The first time strictly after `at` on the local grid of `intervalMs` (counted from local midnight). */
export function nextSlot(at: number, intervalMs: number): number {
  const offset = new Date(at).getTimezoneOffset() * 60_000;
  const local = at - offset;
  return (Math.floor(local / intervalMs) + 1) * intervalMs + offset;
}

export class TimelapseSchedule {
  private intervalMs = 0;
  private dueAt = Infinity;

  constructor(private readonly now: () => number) {}

  get minutes(): number {
    return this.intervalMs / 60_000;
  }

  /** A new interval (0 = off): the next still is at the next time on the new grid. An unchanged interval keeps its. */
  setMinutes(minutes: number): void {
    const ms = Math.round(minutes * 60_000);
    if (ms === this.intervalMs) return;
    this.intervalMs = ms;
    this.dueAt = ms > 0 ? nextSlot(this.now(), ms) : Infinity;
  }

  /** Whether the frame taken at `at` is to be a still. Slots passed outside the window (or without frames) are skipped. */
  take(at: number, window: RecordingWindow): boolean {
    if (this.intervalMs <= 0 || at < this.dueAt) return false;
    this.dueAt = nextSlot(at, this.intervalMs);
    return inWindow(window, at);
  }
}

/** Puts a still into the spool: `still-<at>.jpg` (its own thumbnail), then its JSON. */
export function putStill(spool: Spool, device: string, jpeg: Buffer, at: number): SpoolItem {
  let id = `still-${Math.round(at)}`;
  const taken = (name: string) => fs.existsSync(spool.file(`${name}.jpg`)) || fs.existsSync(spool.file(`${name}.json`));
  for (let n = 1; taken(id) && n < 10_000; n++) id = `still-${Math.round(at)}-${n}`;
  const media = `${id}.jpg`;
  writeDurable(spool.file(media), jpeg);
  const item: SpoolItem = {
    id,
    kind: "still",
    device,
    start: at,
    end: at,
    durationMs: 0,
    score: 0,
    media,
    format: "jpeg",
    thumbnail: media,
    sha256: sha256(jpeg),
    bytes: jpeg.length,
    frames: 1,
  };
  try {
    spool.put(item);
  } catch (err) {
    fs.rmSync(spool.file(media), { force: true });
    throw err;
  }
  return item;
}
