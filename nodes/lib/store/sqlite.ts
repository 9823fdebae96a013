// One SQLite database file per purpose in the data dir (history.db, outbox.db, state.db), opened once per
// process and shared by every node that uses it. WAL with synchronous=FULL: a committed transaction survives
// a crash and a power cut (a Pi on a UPS HAT still loses power sometimes).
import type Database from "better-sqlite3";
import fs from "node:fs";
import path from "node:path";

export type SqliteDatabase = Database.Database;

interface Shared {
  db: SqliteDatabase;
  refs: number;
}

const open = new Map<string, Shared>();

export interface DatabaseHandle {
  readonly db: SqliteDatabase;
  readonly file: string;
  /** Closes the file when the last user releases it. */
  release(): void;
}

export function openDatabase(file: string): DatabaseHandle {
  const resolved = path.resolve(file);
  let shared = open.get(resolved);
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
    shared = { db, refs: 0 };
    open.set(resolved, shared);
  }
  shared.refs++;
  const entry = shared;
  let released = false;
  return {
    db: entry.db,
    file: resolved,
    release: () => {
      if (released) return;
      released = true;
      entry.refs--;
      if (entry.refs === 0) {
        open.delete(resolved);
        entry.db.close();
      }
    },
  };
}

/** `<data dir>/<name>.db` */
export function dataDatabase(dataDir: string, name: string): DatabaseHandle {
  return openDatabase(path.join(dataDir, `${name}.db`));
}
