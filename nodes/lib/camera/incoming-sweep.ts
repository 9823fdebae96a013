// The hub's clips-incoming folder holds an upload only while it is checked: a thumbnail until its media comes, a
// media file while it streams in. What a Pi never finished (it was removed, its spool lost, a transfer cut and
// never retried) would stay for ever on a hub's SD card. This removes such leftovers once they are a day old:
// a Pi retries an upload within minutes, so a day-old piece is never one that is still coming.
import fs from "node:fs";
import path from "node:path";

/** How old a leftover piece of an upload is when it goes. */
export const INCOMING_MAX_AGE_MS = 24 * 60 * 60 * 1000;

/**
 * Removes the files under `dir` (one folder per device) last written before `now - maxAgeMs`, and the device
 * folders left empty. `device` limits it to one device's folder. Returns the paths removed. A file that goes while
 * this runs, or a folder that cannot be read, is passed over.
 */
export function sweepIncoming(dir: string, now: number, options: { maxAgeMs?: number; device?: string } = {}): string[] {
  const before = now - (options.maxAgeMs ?? INCOMING_MAX_AGE_MS);
  const removed: string[] = [];
  const devices = options.device !== undefined ? [options.device] : listOrEmpty(dir);
  for (const device of devices) {
    const folder = path.join(dir, device);
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(folder, { withFileTypes: true });
    } catch {
      continue;
    }
    let left = entries.length;
    for (const entry of entries) {
      if (!entry.isFile()) continue;
      const file = path.join(folder, entry.name);
      try {
        if (fs.statSync(file).mtimeMs >= before) continue;
        fs.rmSync(file, { force: true });
        removed.push(file);
        left--;
      } catch {
        // gone meanwhile
      }
    }
    if (left === 0 && options.device === undefined) {
      try {
        fs.rmdirSync(folder); // only when still empty: an upload may have begun meanwhile
      } catch {
        // not empty any more
      }
    }
  }
  return removed;
}

function listOrEmpty(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}
