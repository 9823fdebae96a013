// The broker store's commits on the event loop's own thread, for synchronous=NORMAL: there a commit is a write into
// the WAL (the page cache), no fsync, a few microseconds a row; handing it to a writer thread cost more (encoding,
// a message each way, and on a two-core Pi the thread switch) than the commit itself. Same contract as GroupCommit:
// every write asked for in one turn of the event loop goes into one transaction at the end of that turn, each
// write's promise settles when it has committed, and a row inserted and deleted again before its turn ended costs
// no statement (PendingWrites). The WAL's checkpoints (a copy into broker.db and two fsyncs) run on a thread of
// their own (broker-store-checkpointer.ts), never inside a commit here.
import path from "node:path";
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";
import type { Statement } from "better-sqlite3";
import { PendingWrites, WRITES, openBrokerStore, type WriteName, type WriteOp } from "./broker-store";
import type { Committer } from "./group-commit";

export class InlineCommit implements Committer {
  private readonly db: Database.Database;
  private readonly statements = new Map<WriteName, Statement>();
  private readonly deleteDelivered: Statement;
  private readonly transaction: (ops: PendingWrites) => void;
  private readonly checkpointer: Worker;
  private next: { ops: PendingWrites; promise: Promise<void>; resolve(): void; reject(err: Error): void } | null = null;
  private closed = false;
  /** The last transaction's failure; null once one commits again. */
  private lastError: string | null = null;
  commits = 0;
  cancelled = 0;

  constructor(file: string) {
    this.db = openBrokerStore(file, "normal");
    this.db.pragma("wal_autocheckpoint = 0");
    this.checkpointer = new Worker(path.join(__dirname, "broker-store-checkpointer.js"), { workerData: { file } });
    // it keeps nothing alive, and a failure of its own only lets the WAL grow: said, not thrown
    this.checkpointer.unref();
    this.checkpointer.on("error", (err) => console.warn(`PiFog broker: the store's checkpoints stopped (${err.message}); broker.db-wal grows until a restart`));
    for (const [name, sql] of Object.entries(WRITES)) this.statements.set(name as WriteName, this.db.prepare(sql));
    this.deleteDelivered = this.db.prepare("DELETE FROM outgoing WHERE seq IN (SELECT value FROM json_each(?))");
    this.transaction = this.db.transaction((ops: PendingWrites) => {
      // as the writer thread does: the rows delivered in this batch go in one statement at its end
      const delivered: number[] = [];
      for (const op of ops.statements()) {
        if (op[0] === "delOutgoing") delivered.push(op[2] as number);
        else this.statements.get(op[0])!.run(op.slice(1));
      }
      if (delivered.length > 0) this.deleteDelivered.run(JSON.stringify(delivered));
    });
  }

  opened(): Promise<void> {
    return Promise.resolve();
  }

  write(...ops: WriteOp[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error("the broker's store is closed"));
    if (!this.next) {
      let resolve!: () => void;
      let reject!: (err: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(() => undefined);
      this.next = { ops: new PendingWrites(), promise, resolve, reject };
      setImmediate(() => this.flush());
    }
    for (const op of ops) this.next.ops.add(op);
    return this.next.promise;
  }

  private flush(): void {
    const batch = this.next;
    if (!batch) return;
    this.next = null;
    this.cancelled += batch.ops.cancelled;
    try {
      this.transaction(batch.ops);
      this.commits++;
      this.lastError = null;
      batch.resolve();
    } catch (err) {
      this.lastError = (err as Error).message;
      batch.reject(new Error(`the broker's store: ${(err as Error).message}`));
    }
  }

  state(): { ok: boolean; error: string | null } {
    if (this.closed) return { ok: false, error: "the broker's store is closed" };
    return { ok: this.lastError === null, error: this.lastError };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.flush();
    // the last checkpoint, then the file closed by both
    await new Promise<void>((resolve) => {
      const done = () => resolve();
      this.checkpointer.once("message", done);
      this.checkpointer.once("exit", done);
      this.checkpointer.once("error", done);
      this.checkpointer.postMessage({ close: true });
    });
    await this.checkpointer.terminate();
    this.db.close();
  }
}
