// Group commit for the broker's store: every write asked for in one turn of the event loop goes into one SQLite
// transaction, run on the next turn (setImmediate); each write's promise settles when that transaction has
// committed (or failed). A burst of QoS 1 traffic costs one commit (and one fsync) per turn, not one per write,
// and nothing is answered as stored before it is.
import type { Database, Transaction } from "better-sqlite3";

interface Batch {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // a write nobody awaits must not become an unhandled rejection; its callers see the failure on their own promise
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export class GroupCommit {
  private ops: Array<() => void> = [];
  private batch: Batch | null = null;
  private closed = false;
  private readonly runAll: Transaction<(ops: Array<() => void>) => void>;
  /** Transactions committed, for a test or a benchmark's report. */
  commits = 0;

  constructor(db: Database) {
    this.runAll = db.transaction((ops: Array<() => void>) => {
      for (const op of ops) op();
    });
  }

  /** Runs `op` (statements only, synchronous) in the next transaction; resolves once it has committed. */
  write(op: () => void): Promise<void> {
    if (this.closed) return Promise.reject(new Error("the broker's store is closed"));
    this.ops.push(op);
    if (!this.batch) {
      this.batch = newBatch();
      setImmediate(() => this.flush());
    }
    return this.batch.promise;
  }

  /** Commits what is waiting now (the scheduled turn then finds nothing to do). */
  flush(): void {
    const batch = this.batch;
    if (!batch) return;
    const ops = this.ops;
    this.ops = [];
    this.batch = null;
    try {
      this.runAll(ops);
      this.commits++;
      batch.resolve();
    } catch (err) {
      batch.reject(err as Error);
    }
  }

  /** Commits what is waiting, then refuses further writes. */
  close(): void {
    this.flush();
    this.closed = true;
  }
}
