// Group commit for the broker's store: every write asked for in one turn of the event loop, and all that arrive
// while the writer thread commits the previous batch, go into one SQLite transaction on the writer thread
// (broker-store-writer.ts); each write's promise settles when that transaction has committed (or failed). A burst
// of QoS 1 traffic costs one commit (and one fsync) per batch, not one per write; the fsync never blocks the event
// loop; and nothing is answered as stored before it is. A row that a batch inserts and then deletes (a QoS 1
// message that a subscriber online has acknowledged before the batch went) costs no statement at all.
import path from "node:path";
import { Worker } from "node:worker_threads";
import { PendingWrites, type Synchronous, type WriteOp } from "./broker-store";

interface Batch {
  readonly id: number;
  readonly ops: PendingWrites;
  readonly promise: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
}

type WriterMessage = { ready: true } | { id: number; error?: string };

/** What the persistence needs of its store's writer: GroupCommit (a writer thread) or InlineCommit. */
export interface Committer {
  /** Resolves when the file is open (the schema exists then). */
  opened(): Promise<void>;
  /** Runs `ops` in the next transaction (all in the same one); resolves once it has committed. */
  write(...ops: WriteOp[]): Promise<void>;
  /** Commits what is waiting and closes the file; further writes are refused. */
  close(): Promise<void>;
  /** Transactions committed so far. */
  readonly commits: number;
  /** Statements never written (a row inserted and deleted again in one batch). */
  readonly cancelled: number;
  /** Whether writes can commit now (/health): not once closed or lost, nor while the last transaction failed. */
  state(): { ok: boolean; error: string | null };
}

export class GroupCommit implements Committer {
  private readonly worker: Worker;
  private readonly ready: Promise<void>;
  /** Collecting: what the next transaction will hold. */
  private next: Batch | null = null;
  /** Committing on the writer thread. */
  private inFlight: Batch | null = null;
  private scheduled = false;
  private nextId = 1;
  private broken: Error | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  /** The last transaction's failure; null once one commits again. */
  lastError: string | null = null;
  /** Transactions committed, for a test or a benchmark's report. */
  commits = 0;
  /** Statements never written: rows inserted and deleted again within one batch (see PendingWrites). */
  cancelled = 0;

  constructor(file: string, synchronous: Synchronous) {
    this.worker = new Worker(path.join(__dirname, "broker-store-writer.js"), { workerData: { file, synchronous } });
    this.ready = new Promise((resolve, reject) => {
      const onMessage = (m: WriterMessage) => {
        if ("ready" in m) {
          this.worker.off("message", onMessage);
          // idle, it keeps nothing alive; a batch on its way does (see send())
          if (!this.inFlight) this.worker.unref();
          resolve();
        }
      };
      this.worker.on("message", onMessage);
      this.worker.once("error", reject);
    });
    this.worker.on("message", (m: WriterMessage) => {
      if ("ready" in m) return;
      this.settled(m);
    });
    const lost = (err: Error) => {
      this.broken ??= err;
      for (const batch of [this.inFlight, this.next]) batch?.reject(this.broken);
      this.inFlight = this.next = null;
    };
    this.worker.on("error", lost);
    this.worker.on("exit", (code) => lost(new Error(`the broker store's writer thread stopped (exit code ${code})`)));
  }

  /** Whether writes can commit: not when the writer thread is lost, nor while its last transaction failed. */
  state(): { ok: boolean; error: string | null } {
    if (this.broken) return { ok: false, error: this.broken.message };
    if (this.closed) return { ok: false, error: "the broker's store is closed" };
    return { ok: this.lastError === null, error: this.lastError };
  }

  /** Resolves when the writer thread has opened the file (the schema exists then). */
  opened(): Promise<void> {
    return this.ready;
  }

  /** Runs `ops` in the next transaction (all in the same one); resolves once it has committed. */
  write(...ops: WriteOp[]): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.closed) return Promise.reject(new Error("the broker's store is closed"));
    this.next ??= this.newBatch();
    for (const op of ops) this.next.ops.add(op);
    this.schedule();
    return this.next.promise;
  }

  private newBatch(): Batch {
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // a write nobody awaits must not become an unhandled rejection; its callers see the failure on their own promise
    promise.catch(() => undefined);
    return { id: this.nextId++, ops: new PendingWrites(), promise, resolve, reject };
  }

  /** The batch goes at the end of this turn, or when the one on the writer thread has committed. */
  private schedule(): void {
    if (this.scheduled || this.inFlight) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.send();
    });
  }

  private send(): void {
    if (this.inFlight || !this.next || this.broken) return;
    const batch = this.next;
    this.next = null;
    this.inFlight = batch;
    this.worker.ref();
    this.cancelled += batch.ops.cancelled;
    const { bytes, length } = batch.ops.encode();
    this.worker.postMessage({ id: batch.id, bytes, length }, [bytes]);
  }

  private settled(m: { id: number; error?: string }): void {
    const batch = this.inFlight;
    if (!batch || batch.id !== m.id) return;
    this.inFlight = null;
    if (m.error !== undefined) {
      this.lastError = m.error;
      batch.reject(new Error(`the broker's store: ${m.error}`));
    } else {
      this.lastError = null;
      this.commits++;
      batch.resolve();
    }
    if (this.next) this.send();
    else this.worker.unref();
  }

  /** Commits what is waiting, closes the file and stops the thread; further writes are refused. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      await this.ready.catch(() => undefined);
      while (!this.broken && (this.inFlight || this.next)) {
        const pending = (this.inFlight ?? this.next)!.promise;
        this.send();
        await pending.catch(() => undefined);
      }
      if (!this.broken) {
        this.worker.ref();
        await new Promise<void>((resolve) => {
          const id = this.nextId++;
          const onMessage = (m: WriterMessage) => {
            if (!("ready" in m) && m.id === id) {
              this.worker.off("message", onMessage);
              resolve();
            }
          };
          this.worker.on("message", onMessage);
          this.worker.postMessage({ id, close: true });
        });
      }
      await this.worker.terminate();
    })();
    return this.closing;
  }
}
