// The SQLite history's writer thread: its own connection to history.db (WAL, synchronous=FULL, as the pool opens
// it), one transaction per batch the commit batcher sends, the answer (rows added) once it has committed. The
// commit's fsync waits here, not on the event loop, where it held every message of the runtime (a door flip's
// frame included) behind it. See sqlite-writer.ts.
import { parentPort, workerData } from "node:worker_threads";
import BetterSqlite3 from "better-sqlite3";
import { REPEAT_WINDOW_MS, RepeatFilter } from "./store-shared";
import type { HistoryRecord } from "./types";
import { INSERT_SQL, REPEAT_SQL } from "./sqlite-writer";

type Request = { id: number; records?: HistoryRecord[]; close?: true };

/** The thread's whole life: open the file, answer each batch, close when asked. */
function serve(file: string): void {
  const db = new BetterSqlite3(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  const insertRow = db.prepare(INSERT_SQL);
  const findRepeat = db.prepare(REPEAT_SQL);
  const insertMany = db.transaction((records: HistoryRecord[]) => {
    let added = 0;
    const repeats = new RepeatFilter();
    const stored = (q: HistoryRecord) => !!findRepeat.get(q.clientId, q.messageId, q.at - REPEAT_WINDOW_MS, q.topic, q.payload);
    for (const r of records) {
      if (repeats.isRepeat(r, stored)) continue;
      insertRow.run(r.topic, r.at, r.value, r.payload, r.qos, r.retain ? 1 : 0, r.clientId, r.messageId);
      added++;
    }
    return added;
  });

  parentPort?.on("message", (msg: Request) => {
    if (msg.close) {
      db.close();
      parentPort?.postMessage({ id: msg.id, added: 0 });
      return;
    }
    try {
      // a Buffer arrives as a Uint8Array: the same bytes, seen as a Buffer again (repeatKey reads it as one)
      const records = msg.records!.map((r) => ({ ...r, payload: Buffer.from(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength) }));
      parentPort?.postMessage({ id: msg.id, added: insertMany(records) });
    } catch (err) {
      parentPort?.postMessage({ id: msg.id, error: (err as Error).message });
    }
  });
  parentPort?.postMessage({ ready: true });
}

serve((workerData as { file: string }).file);
