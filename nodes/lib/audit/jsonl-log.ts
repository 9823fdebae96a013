// An append-only JSON-lines file with a size cap: when the next line would pass the cap, the file is rotated
// (`f` → `f.1` → … → `f.<keep>`, the oldest dropped), and every string in a record is cut to a bounded length
// first, so nothing anyone sends can make a record, or the files, grow without bound.
import fs from "node:fs";
import path from "node:path";

export interface JsonlLogOptions {
  /** The cap of one file, in bytes. */
  maxBytes: number;
  /** How many rotated files are kept beside the current one. */
  keep: number;
  /** The longest string kept in a record (longer ones are cut and end in "…"). */
  maxString: number;
  /** Wait until each line is on the disk (an audit that must hold before the door moves). */
  fsync: boolean;
}

const MAX_DEPTH = 6;
const MAX_KEYS = 64;

/** A copy of `value` with every string cut to `maxString`, and deep or wide structures cut short. */
export function boundedValue(value: unknown, maxString: number, depth = 0): unknown {
  if (typeof value === "string") return value.length > maxString ? `${value.slice(0, maxString)}…` : value;
  if (value === null || typeof value !== "object") {
    return typeof value === "bigint" ? String(value) : value;
  }
  if (depth >= MAX_DEPTH) return "…";
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_KEYS).map((v) => boundedValue(v, maxString, depth + 1));
    if (value.length > MAX_KEYS) items.push(`… ${value.length - MAX_KEYS} more`);
    return items;
  }
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (n++ >= MAX_KEYS) {
      out["…"] = "more keys left out";
      break;
    }
    out[k.length > 64 ? `${k.slice(0, 64)}…` : k] = boundedValue(v, maxString, depth + 1);
  }
  return out;
}

export class JsonlLog<T extends object> {
  /** The folder is made once (a record under a flood costs a stat, an open, a write and a close, no more). */
  private dirMade = false;

  constructor(
    readonly file: string,
    private readonly o: JsonlLogOptions,
  ) {}

  /** Appends one record (bounded), rotating first when it would pass the cap. Throws when it cannot write. */
  append(record: T): void {
    const line = `${JSON.stringify(boundedValue(record, this.o.maxString))}\n`;
    if (!this.dirMade) {
      fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
      this.dirMade = true;
    }
    let size = 0;
    try {
      size = fs.statSync(this.file).size;
    } catch {
      // no file yet
    }
    if (size > 0 && size + Buffer.byteLength(line) > this.o.maxBytes) this.rotate();
    let fd: number;
    try {
      fd = fs.openSync(this.file, "a", 0o600);
    } catch (err) {
      // the folder went away since (a data dir cleaned up under a running runtime): make it again, once
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
      fd = fs.openSync(this.file, "a", 0o600);
    }
    try {
      fs.writeSync(fd, line);
      if (this.o.fsync) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  private rotate(): void {
    const name = (i: number) => (i === 0 ? this.file : `${this.file}.${i}`);
    fs.rmSync(name(this.o.keep), { force: true });
    for (let i = this.o.keep - 1; i >= 0; i--) {
      try {
        fs.renameSync(name(i), name(i + 1));
      } catch {
        // a gap in the series: nothing to move
      }
    }
  }

  /** The files that hold records, oldest first. */
  files(): string[] {
    const out: string[] = [];
    for (let i = this.o.keep; i >= 1; i--) if (fs.existsSync(`${this.file}.${i}`)) out.push(`${this.file}.${i}`);
    if (fs.existsSync(this.file)) out.push(this.file);
    return out;
  }

  /** Every record still kept, oldest first; a line that is not JSON (a torn write) is skipped. */
  read(): T[] {
    const out: T[] = [];
    for (const file of this.files()) {
      let text: string;
      try {
        text = fs.readFileSync(file, "utf8");
      } catch {
        continue;
      }
      for (const line of text.split("\n")) {
        if (!line.trim()) continue;
        try {
          out.push(JSON.parse(line) as T);
        } catch {
          // a line cut short by a power cut: the ones after it still count
        }
      }
    }
    return out;
  }
}
