// The settings' recording window: clips and time-lapse stills only between two local times of the Pi ("HH:MM").
// `from` after `to` spans midnight (22:00–06:00); `from` equal to `to` is the whole day; null is always.
import type { CameraSettings } from "./types";

export type RecordingWindow = CameraSettings["recordingWindow"];

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Minutes after local midnight of "HH:MM"; throws on anything else. */
export function minutesOf(hhmm: string): number {
  const m = typeof hhmm === "string" ? HHMM.exec(hhmm) : null;
  if (!m) throw new Error(`recording window: ${JSON.stringify(hhmm)} is not a time HH:MM (00:00..23:59)`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/** Throws unless `w` is null or {from, to} with two HH:MM times. */
export function checkWindow(w: unknown): RecordingWindow {
  if (w === null || w === undefined) return null;
  if (typeof w !== "object") throw new Error("recording window: not {from, to}");
  const { from, to } = w as { from?: unknown; to?: unknown };
  minutesOf(from as string);
  minutesOf(to as string);
  return { from: from as string, to: to as string };
}

/** Whether clock time `at` (ms) is inside the window, in the Pi's local time: [from, to), minute by minute. */
export function inWindow(w: RecordingWindow, at: number): boolean {
  if (!w) return true;
  const from = minutesOf(w.from);
  const to = minutesOf(w.to);
  if (from === to) return true;
  const d = new Date(at);
  const now = d.getHours() * 60 + d.getMinutes();
  return from < to ? now >= from && now < to : now >= from || now < to;
}
