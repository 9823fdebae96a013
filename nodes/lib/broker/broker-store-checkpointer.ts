// The broker store's WAL checkpoints, on a thread of their own, for the commits that InlineCommit makes on the event
// loop's thread: SQLite would otherwise copy the WAL back into broker.db (and fsync both files) inside whichever commit
// crossed 1,000 pages, stalling the broker. Here a PASSIVE checkpoint (it never waits for, nor blocks, a writer) runs
// every CHECKPOINT_MS; the WAL starts over from its beginning once one has caught up.
import { parentPort, workerData } from "node:worker_threads";
import { openBrokerStore } from "./broker-store";

export const CHECKPOINT_MS = 1_000;

function serve(file: string): void {
  const db = openBrokerStore(file, "normal");
  const timer = setInterval(() => {
    try {
      db.pragma("wal_checkpoint(PASSIVE)");
    } catch {
      // busy or locked: the next turn tries again; the WAL only grows meanwhile
    }
  }, CHECKPOINT_MS);
  parentPort?.on("message", (msg: { close?: true }) => {
    if (!msg.close) return;
    clearInterval(timer);
    try {
      db.pragma("wal_checkpoint(PASSIVE)");
    } finally {
      db.close();
      parentPort?.postMessage({ closed: true });
    }
  });
}

serve((workerData as { file: string }).file);
