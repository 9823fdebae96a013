// One SQLite database file per purpose in the data dir (history.db, outbox.db, state.db), opened once per
// pool and shared by every user of the pool (the runtime's services hold one for all its nodes). WAL with
// synchronous=FULL: a committed transaction survives a crash and a power cut (a Pi on a UPS HAT still loses
// power sometimes).
import type Database from "better-sqlite3";
import fs from "node:fs";
import path from "node:path";

export type SqliteDatabase = Database.Database;

interface Shared {
  db: SqliteDatabase;
  refs: number;
  claims: Set<string>;
}

export interface DatabaseHandle {
  readonly db: SqliteDatabase;
  readonly file: string;
  /** Names one user of the file holds alone (an outbox queue) while the file is open in this pool: false when
   * another user holds it already. */
  claim(name: string): boolean;
  unclaim(name: string): void;
  /** Closes the file when the last user releases it. */
  release(): void;
}

/** The open database files of one runtime. A handle opened without a pool (a tool, a unit test) is its own. */
export class SqlitePool {
  private readonly open = new Map<string, Shared>();

  openFile(file: string): DatabaseHandle {
    const resolved = path.resolve(file);
    let shared = this.open.get(resolved);
    if (!shared) {
      fs.mkdirSync(path.dirname(resolved), { recursive: true });
      // loaded on first use: a Pi whose flow stores nothing never pays for the native module
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const BetterSqlite3 = require("better-sqlite3") as typeof Database;
      const db = new BetterSqlite3(resolved);
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.pragma("busy_timeout = 5000");
      db.pragma("foreign_keys = ON");
      shared = { db, refs: 0, claims: new Set() };
      this.open.set(resolved, shared);
    }
    shared.refs++;
    const entry = shared;
    let released = false;
    return {
      db: entry.db,
      file: resolved,
      claim: (name) => {
        if (entry.claims.has(name)) return false;
        entry.claims.add(name);
        return true;
      },
      unclaim: (name) => void entry.claims.delete(name),
      release: () => {
        if (released) return;
        released = true;
        entry.refs--;
        if (entry.refs === 0 && this.open.get(resolved) === entry) {
          this.open.delete(resolved);
          entry.db.close();
        }
      },
    };
  }

  /** `<data dir>/<name>.db` */
  data(dataDir: string, name: string): DatabaseHandle {
    return this.openFile(path.join(dataDir, `${name}.db`));
  }

  /** Files still open (their users did not release them). */
  get size(): number {
    return this.open.size;
  }
}

export function openDatabase(file: string, pool = new SqlitePool()): DatabaseHandle {
  return pool.openFile(file);
}

/** `<data dir>/<name>.db`, from `pool` (shared with its other users) or on a connection of its own. */
export function dataDatabase(dataDir: string, name: string, pool = new SqlitePool()): DatabaseHandle {
  return pool.data(dataDir, name);
}
