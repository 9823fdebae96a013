// A reader thread: one read-only connection to the history database (WAL lets it read while the writer on the
// event loop commits), answering one request at a time. See sqlite-read-pool.ts.
import fs from "node:fs";
import os from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import type Database from "better-sqlite3";
import { prepareReader, runRead, type ReadRequest } from "./sqlite-reads";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const BetterSqlite3 = require("better-sqlite3") as typeof Database;
const db = new BetterSqlite3((workerData as { file: string }).file, { readonly: true, fileMustExist: true });
prepareReader(db);

// On Linux a thread has its own nice value: the readers yield the CPU to the event loop (the broker's
// acknowledgements, the door) whenever both want it. Elsewhere they run at the process's priority.
try {
  const tid = Number(fs.readlinkSync("/proc/thread-self").split("/").pop());
  if (Number.isInteger(tid) && tid > 0) os.setPriority(tid, 10);
} catch {
  // no /proc: not Linux
}

parentPort?.on("message", (msg: { id: number; req: ReadRequest }) => {
  try {
    const result = runRead(db, msg.req);
    // an answer's bytes move to the event loop's thread without a copy
    parentPort?.postMessage({ id: msg.id, result }, result instanceof Uint8Array ? [result.buffer as ArrayBuffer] : []);
  } catch (err) {
    parentPort?.postMessage({ id: msg.id, error: (err as Error).message });
  }
});
