// The SQLite history's reads, off the event loop: a few reader threads (worker_threads), each with its own
// read-only connection to the same WAL database. The writer stays on the event loop (a group commit takes a
// few ms), but a read can take seconds (a month of messages, a GROUP BY over the whole table) and ran there
// before: twenty heavy queries held MQTT round trips for 28 s. A thread answers one request at a time; requests
// beyond the threads wait here (the HTTP API's QueryGate bounds how many ever get this far).
import path from "node:path";
import { Worker } from "node:worker_threads";
import type { ReadRequest } from "./sqlite-reads";

interface Reader {
  worker: Worker;
  busy: boolean;
  current: Job | null;
}

interface Job {
  id: number;
  req: ReadRequest;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

export class SqliteReadPool {
  private readonly readers: Reader[] = [];
  private readonly waiting: Job[] = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly file: string, private readonly threads = 2) {}

  run<T>(req: ReadRequest): Promise<T> {
    if (this.closed) return Promise.reject(new Error("the history store is closed"));
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ id: this.nextId++, req, resolve: resolve as (v: unknown) => void, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.waiting.length > 0) {
      const reader = this.readers.find((r) => !r.busy) ?? (this.readers.length < this.threads ? this.spawn() : null);
      if (!reader) return;
      const job = this.waiting.shift()!;
      reader.busy = true;
      reader.current = job;
      reader.worker.postMessage({ id: job.id, req: job.req });
    }
  }

  private spawn(): Reader {
    const worker = new Worker(path.join(__dirname, "sqlite-read-worker.js"), { workerData: { file: this.file } });
    // a store nobody closed must not keep the process alive
    worker.unref();
    const reader: Reader = { worker, busy: false, current: null };
    worker.on("message", (msg: { id: number; result?: unknown; error?: string }) => {
      const job = reader.current;
      if (!job || job.id !== msg.id) return;
      reader.current = null;
      reader.busy = false;
      if (msg.error !== undefined) job.reject(new Error(msg.error));
      else job.resolve(msg.result);
      this.dispatch();
    });
    const lost = (err: Error) => {
      const i = this.readers.indexOf(reader);
      if (i >= 0) this.readers.splice(i, 1);
      reader.current?.reject(err);
      reader.current = null;
      if (!this.closed) this.dispatch();
    };
    worker.on("error", (err) => lost(err));
    worker.on("exit", (code) => lost(new Error(`a history reader thread stopped (exit code ${code})`)));
    this.readers.push(reader);
    return reader;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.waiting.splice(0)) job.reject(new Error("the history store is closed"));
    await Promise.all(this.readers.map((r) => r.worker.terminate()));
  }
}
