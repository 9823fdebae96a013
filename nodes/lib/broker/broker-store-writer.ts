// The broker store's writer thread: one connection, every change to broker.db. A batch (what the event loop asked
// for in one turn) is one transaction; the answer goes back once it has committed. The commit's fsync waits here,
// not on the event loop. See group-commit.ts.
import { parentPort, workerData } from "node:worker_threads";
import type { Statement } from "better-sqlite3";
import { WRITES, decodeBatch, openBrokerStore, type Synchronous, type WriteName, type WriteOp } from "./broker-store";

/** The thread's whole life: open the store, answer each batch, close when asked. */
function serve(file: string, synchronous: Synchronous): void {
  const db = openBrokerStore(file, synchronous);
  const statements = new Map<WriteName, Statement>();
  for (const [name, sql] of Object.entries(WRITES)) statements.set(name as WriteName, db.prepare(sql));
  // the queue rows delivered in this batch go in one statement at its end (a row's delete never precedes anything
  // else of that row in a batch: an insert deleted in the same batch never came, see PendingWrites)
  const deleteDelivered = db.prepare("DELETE FROM outgoing WHERE seq IN (SELECT value FROM json_each(?))");
  const commit = db.transaction((ops: Iterable<WriteOp>) => {
    const delivered: number[] = [];
    for (const op of ops) {
      if (op[0] === "delOutgoing") delivered.push(op[2] as number);
      else statements.get(op[0])!.run(op.slice(1));
    }
    if (delivered.length > 0) deleteDelivered.run(JSON.stringify(delivered));
  });

  parentPort?.on("message", (msg: { id: number; bytes?: ArrayBuffer; length?: number; close?: true }) => {
    if (msg.close) {
      db.close();
      parentPort?.postMessage({ id: msg.id });
      return;
    }
    try {
      commit(decodeBatch(msg.bytes!, msg.length!));
      parentPort?.postMessage({ id: msg.id });
    } catch (err) {
      parentPort?.postMessage({ id: msg.id, error: (err as Error).message });
    }
  });
  parentPort?.postMessage({ ready: true });
}

const { file, synchronous } = workerData as { file: string; synchronous: Synchronous };
serve(file, synchronous);
