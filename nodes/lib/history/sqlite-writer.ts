// The SQLite history's writes, on a thread of their own (sqlite-writer-thread.ts): the commit batcher
// (commit-batcher.ts) sends one batch at a time and its records are answered as stored only once the transaction
// has committed, as before; but the fsync no longer blocks the event loop. On a busy disk a commit takes
// milliseconds to tens of milliseconds, and the whole runtime (every flow, the broker) waited for each one.
import path from "node:path";
import { Worker } from "node:worker_threads";
import type { HistoryRecord } from "./types";

export const INSERT_SQL = "INSERT INTO history_messages (topic, at, value, payload, qos, retain, client, mid) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
// The unary + keeps SQLite on the (client, mid) index: on (topic, at) it would walk every message of the topic
// in the window, and the cost of each insert would grow with the table.
export const REPEAT_SQL = "SELECT 1 FROM history_messages WHERE client = ? AND mid = ? AND +at > ? AND +topic = ? AND payload = ? LIMIT 1";

type Reply = { ready: true } | { id: number; added?: number; error?: string };

interface Waiting {
  resolve(added: number): void;
  reject(err: Error): void;
}

export class SqliteHistoryWriter {
  private worker: Worker | null = null;
  private ready: Promise<void> | null = null;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private broken: Error | null = null;
  private closing: Promise<void> | null = null;

  /** `file`: the history database, its schema made already. The thread starts with the first batch. */
  constructor(private readonly file: string) {}

  private start(): Promise<void> {
    if (this.ready) return this.ready;
    const worker = new Worker(path.join(__dirname, "sqlite-writer-thread.js"), { workerData: { file: this.file } });
    this.worker = worker;
    this.ready = new Promise<void>((resolve, reject) => {
      worker.once("error", reject);
      worker.on("message", (m: Reply) => {
        if ("ready" in m) return resolve();
        const w = this.waiting.get(m.id);
        if (!w) return;
        this.waiting.delete(m.id);
        if (this.waiting.size === 0) worker.unref();
        if (m.error !== undefined) w.reject(new Error(`the history store: ${m.error}`));
        else w.resolve(m.added ?? 0);
      });
    });
    const lost = (err: Error) => {
      this.broken ??= err;
      for (const w of this.waiting.values()) w.reject(this.broken);
      this.waiting.clear();
    };
    worker.on("error", lost);
    worker.on("exit", (code) => lost(new Error(`the history store's writer thread stopped (exit code ${code})`)));
    return this.ready;
  }

  private ask(message: { records?: HistoryRecord[]; close?: true }): Promise<number> {
    if (this.broken) return Promise.reject(this.broken);
    const worker = this.worker!;
    const id = this.nextId++;
    return new Promise<number>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      // a batch on its way keeps the process alive until it has committed; an idle thread does not
      worker.ref();
      worker.postMessage({ id, ...message });
    });
  }

  /** Stores the records in one transaction (a redelivered one only once); resolves with how many were added. */
  async insert(records: HistoryRecord[]): Promise<number> {
    if (this.closing) throw new Error("the history store is closed");
    await this.start();
    return this.ask({ records });
  }

  /** Waits for what is on its way, closes the thread's connection and stops the thread. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.ready) return;
      await this.ready.catch(() => undefined);
      // the batcher sends one batch at a time and awaits it; what it sent last is answered before the close
      if (!this.broken) await this.ask({ close: true }).catch(() => undefined);
      await this.worker?.terminate();
    })();
    return this.closing;
  }
}
