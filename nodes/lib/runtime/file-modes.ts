// The data dir holds what must stay private (a live editor session, password hashes, the credential secret, the
// history, face crops): only the user PiFog runs as may read it. Everything the process creates from the start is
// private by its umask (files 0600, folders 0700, whatever library writes them: Node-RED's sessions, SQLite, the
// file node), and what an older version or a copy left more open is tightened at start.
import fs from "node:fs";
import path from "node:path";

/** Group and others get nothing: new files 0600, new folders 0700. */
export const PRIVATE_UMASK = 0o077;
export const PRIVATE_FILE = 0o600;
export const PRIVATE_DIR = 0o700;

/** From now on, every file and folder the process creates is its user's only. */
export function keepNewFilesPrivate(): void {
  process.umask(PRIVATE_UMASK);
}

export interface Tightened {
  /** Paths whose mode was changed. */
  changed: string[];
  /** Paths that could not be changed (e.g. another user's), with why. */
  failed: Array<{ path: string; error: string }>;
}

/** Sets every file under `dir` to 0600 (0700 if it was executable) and every folder (`dir` too) to 0700. Symbolic
 * links are neither followed nor changed: what they point to is not the data dir's. A missing `dir` is nothing to do. */
export function tightenDataDir(dir: string): Tightened {
  const result: Tightened = { changed: [], failed: [] };
  const pending = [dir];
  while (pending.length > 0) {
    const p = pending.pop()!;
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") result.failed.push({ path: p, error: (err as Error).message });
      continue;
    }
    if (stat.isSymbolicLink()) continue;
    // a file someone made executable keeps that for its owner: a data dir pointed at the wrong folder must not
    // break the programs in it
    const want = stat.isDirectory() ? PRIVATE_DIR : PRIVATE_FILE | (stat.mode & 0o111 ? 0o100 : 0);
    if ((stat.mode & 0o777) !== want) {
      try {
        fs.chmodSync(p, want);
        result.changed.push(p);
      } catch (err) {
        result.failed.push({ path: p, error: (err as Error).message });
      }
    }
    if (stat.isDirectory()) {
      try {
        for (const entry of fs.readdirSync(p)) pending.push(path.join(p, entry));
      } catch (err) {
        result.failed.push({ path: p, error: (err as Error).message });
      }
    }
  }
  return result;
}
