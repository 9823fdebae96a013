// The zero-loss tests' parts: a publisher process that reports what was acknowledged, and what the history stored.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import Database from "better-sqlite3";
import { ROOT } from "./runtime";

const PUBLISHER = path.join(ROOT, "dist", "test", "support", "publisher.js");

export interface Publisher {
  child: ChildProcess;
  progress(): number;
  /** What it sent again after its connection was lost (in flight then): the broker may hold those twice, as QoS 1
   * allows; the publisher's side, not the history's. */
  resent(): Set<number>;
  done: Promise<number[]>;
}

/** `count` numbered QoS 1 messages on `<prefix>/<n % 10>`, up to `window` in flight. */
export function startPublisher(url: string, prefix: string, count: number, window = 200): Publisher {
  const child = spawn(process.execPath, [PUBLISHER, url, String(count), prefix, String(window)], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let progress = 0;
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
    const m = /progress (\d+)\n(?![\s\S]*progress)/.exec(out);
    if (m) progress = Number(m[1]);
  });
  child.stderr!.on("data", () => undefined);
  const done = new Promise<number[]>((resolve, reject) => {
    child.on("exit", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("acked "));
      if (!line) return reject(new Error(`publisher exited ${code} without a report:\n${out.slice(-500)}`));
      resolve(JSON.parse(line.slice(6)) as number[]);
    });
  });
  return { child, progress: () => progress, resent: () => new Set(out.split("\n").filter((l) => l.startsWith("resent ")).flatMap((l) => JSON.parse(l.slice(7)) as number[])), done };
}

/** How often each numbered message under `prefix` is in the history's SQLite file. */
export function storedCounts(dataDir: string, prefix: string): Map<number, number> {
  const db = new Database(path.join(dataDir, "history.db"), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare("SELECT CAST(payload AS TEXT) AS p, count(*) AS n FROM history_messages WHERE topic LIKE ? GROUP BY p").all(`${prefix}/%`) as Array<{ p: string; n: number }>;
    return new Map(rows.map((r) => [Number(r.p), r.n]));
  } finally {
    db.close();
  }
}

/** Rows the history stored for one topic (none before its table exists). */
export function storedRows(dataDir: string, topic: string): number {
  const db = new Database(path.join(dataDir, "history.db"), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM history_messages WHERE topic = ?").get(topic) as { n: number }).n;
  } catch {
    return 0;
  } finally {
    db.close();
  }
}

/** Every acknowledged message stored, none twice; a message the publisher `resent` at most twice (its first copy
 * may have reached the broker with the PUBACK lost on the way back: QoS 1 is at least once from the publisher). */
export function assertExactlyOnce(acked: number[], counts: Map<number, number>, resent: Set<number> = new Set()): void {
  assert.equal(new Set(acked).size, acked.length, "the publisher acknowledged each message once");
  const missing = acked.filter((seq) => !counts.has(seq));
  const twice = [...counts].filter(([seq, n]) => n > (resent.has(seq) ? 2 : 1)).map(([seq]) => seq);
  assert.deepEqual(missing.slice(0, 20), [], `${missing.length} acknowledged messages are missing`);
  assert.deepEqual(twice.slice(0, 20), [], `${twice.length} messages are stored more than once`);
}
