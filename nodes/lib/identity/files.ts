// Writing the identity files so that a reader never sees half a file (temp + rename in the same directory) and two
// writers (the `pifog` CLI and a runtime's ensureDevice) never interleave their read-modify-write (an O_EXCL lock).
import * as fs from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { IdentityError } from "./errors";

/**
 * Writes `data` to `file` atomically, with `mode`: 0600 by default, as the runtime keeps everything in the data dir
 * (runtime/file-modes.ts), so it never has to tighten what we wrote.
 */
export function writeFileAtomic(file: string, data: string, mode = 0o600): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    // the mode given to open() is masked by the umask; a key must be 0600 whatever the umask
    fs.chmodSync(temp, mode);
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
}

export interface LockOptions {
  /** How long to keep trying before giving up (ms). */
  waitMs?: number;
  /** A lock older than this was left by a writer that died; it is taken over (ms). */
  staleMs?: number;
}

const RETRY_MS = 25;

/**
 * Runs `fn` holding the lock file `lockFile` (created with O_EXCL, removed after). Another holder is waited for; a
 * lock whose holder died (older than `staleMs`, or its pid gone on this machine) is taken over.
 */
export async function withLock<T>(lockFile: string, fn: () => Promise<T> | T, options: LockOptions = {}): Promise<T> {
  const waitMs = options.waitMs ?? 10_000;
  const staleMs = options.staleMs ?? 30_000;
  // the identity dir holds the CA's key: only its owner lists it
  fs.mkdirSync(path.dirname(lockFile), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fd = fs.openSync(lockFile, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
      fs.writeFileSync(fd, String(process.pid));
      fs.closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      if (isStale(lockFile, staleMs)) {
        fs.rmSync(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new IdentityError(`the identity files are locked by another process (${lockFile}); try again`);
      await delay(RETRY_MS);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lockFile, { force: true });
  }
}

function isStale(lockFile: string, staleMs: number): boolean {
  let pid: number;
  let age: number;
  try {
    pid = Number(fs.readFileSync(lockFile, "utf8"));
    age = Date.now() - fs.statSync(lockFile).mtimeMs;
  } catch {
    return false; // gone or being written: try again
  }
  if (age > staleMs) return true;
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}
