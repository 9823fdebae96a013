// The broker's store file (`<data dir>/broker.db`): its schema and the statements that change it, shared by the
// event loop's thread (which reads it once, on start) and the writer thread (broker-store-writer.ts, which makes
// every change). sqlite-persistence.ts says what each table holds.
import type Database from "better-sqlite3";
import fs from "node:fs";
import path from "node:path";
import { PRIVATE_FILE } from "../runtime/file-modes";

export type Synchronous = "full" | "normal";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS retained (id INTEGER PRIMARY KEY, topic TEXT NOT NULL UNIQUE, packet BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS subscriptions (
  id INTEGER PRIMARY KEY, client_id TEXT NOT NULL, topic TEXT NOT NULL, qos INTEGER NOT NULL, record BLOB NOT NULL,
  UNIQUE (client_id, topic)
);
CREATE TABLE IF NOT EXISTS outgoing (
  seq INTEGER PRIMARY KEY, client_id TEXT NOT NULL, message_id INTEGER, cmd TEXT NOT NULL, topic TEXT, payload,
  qos INTEGER, flags INTEGER, broker_id TEXT, broker_counter INTEGER, extra BLOB
);
CREATE TABLE IF NOT EXISTS incoming (
  client_id TEXT NOT NULL, message_id INTEGER NOT NULL, packet BLOB NOT NULL, PRIMARY KEY (client_id, message_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wills (client_id TEXT PRIMARY KEY, packet BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload, retain INTEGER NOT NULL, properties BLOB);
`;

/** Every change the persistence makes, by name: a write crosses to the writer thread as [name, ...parameters]. */
export const WRITES = {
  putRetained: "INSERT INTO retained (topic, packet) VALUES (?, ?) ON CONFLICT (topic) DO UPDATE SET packet = excluded.packet",
  delRetained: "DELETE FROM retained WHERE topic = ?",
  putSubscription:
    "INSERT INTO subscriptions (client_id, topic, qos, record) VALUES (?, ?, ?, ?) " +
    "ON CONFLICT (client_id, topic) DO UPDATE SET qos = excluded.qos, record = excluded.record",
  delSubscription: "DELETE FROM subscriptions WHERE client_id = ? AND topic = ?",
  delClientSubscriptions: "DELETE FROM subscriptions WHERE client_id = ?",
  putOutgoing:
    "INSERT INTO outgoing (client_id, seq, message_id, cmd, topic, payload, qos, flags, broker_id, broker_counter, extra) " +
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  setOutgoingId: "UPDATE outgoing SET message_id = ? WHERE client_id = ? AND seq = ?",
  replaceOutgoing:
    "UPDATE outgoing SET message_id = ?, cmd = ?, topic = ?, payload = ?, qos = ?, flags = ?, broker_id = ?, broker_counter = ?, extra = ? " +
    "WHERE client_id = ? AND seq = ?",
  delOutgoing: "DELETE FROM outgoing WHERE client_id = ? AND seq = ?",
  putIncoming: "INSERT OR REPLACE INTO incoming (client_id, message_id, packet) VALUES (?, ?, ?)",
  delIncoming: "DELETE FROM incoming WHERE client_id = ? AND message_id = ?",
  delClientIncoming: "DELETE FROM incoming WHERE client_id = ?",
  putWill: "INSERT OR REPLACE INTO wills (client_id, packet) VALUES (?, ?)",
  delWill: "DELETE FROM wills WHERE client_id = ?",
  putJournal: "INSERT INTO journal (id, topic, payload, retain, properties) VALUES (?, ?, ?, ?, ?)",
  delJournal: "DELETE FROM journal WHERE id = ?",
} as const;

export type WriteName = keyof typeof WRITES;
export type SqlValue = string | number | Buffer | null;
/** One statement and its parameters. */
export type WriteOp = [WriteName, ...SqlValue[]];

/**
 * The row of the journal or of an outgoing queue a statement touches (a number: an outgoing row's seq, which is
 * unique across clients, or minus a journal row's id), and how: a row inserted and deleted again before its
 * transaction has gone to the writer thread needs no statement at all (a QoS 1 message that a subscriber online
 * acknowledges at once: queued, sent, cleared, and nothing of it reaches the disk).
 */
export function rowOf(op: WriteOp): { key: number; change: "insert" | "update" | "delete" } | null {
  switch (op[0]) {
    case "putJournal":
      return { key: -(op[1] as number), change: "insert" };
    case "delJournal":
      return { key: -(op[1] as number), change: "delete" };
    case "putOutgoing":
      return { key: op[2] as number, change: "insert" };
    case "delOutgoing":
      return { key: op[2] as number, change: "delete" };
    case "setOutgoingId":
      return { key: op[3] as number, change: "update" };
    case "replaceOutgoing":
      return { key: op[op.length - 1] as number, change: "update" };
    default:
      return null;
  }
}

/** The statements of the next transaction, with an insert and the later delete of the same row taken out. */
export class PendingWrites {
  private readonly ops: Array<WriteOp | null> = [];
  /** Rows inserted in this batch → the indexes of the statements that touch them. */
  private readonly inserted = new Map<number, number[]>();
  /** Statements left out (an insert, the updates and the delete of one row), for a test or a benchmark. */
  cancelled = 0;

  add(op: WriteOp): void {
    const row = rowOf(op);
    if (row) {
      const touching = this.inserted.get(row.key);
      if (touching && row.change === "delete") {
        for (const i of touching) this.ops[i] = null;
        this.cancelled += touching.length + 1;
        this.inserted.delete(row.key);
        return;
      }
      if (touching) touching.push(this.ops.length);
      else if (row.change === "insert") this.inserted.set(row.key, [this.ops.length]);
    }
    this.ops.push(op);
  }

  /** The statements, in order. */
  *statements(): Generator<WriteOp> {
    for (const op of this.ops) if (op) yield op;
  }

  /** Encoded for the writer thread. */
  encode(): { bytes: ArrayBuffer; length: number } {
    const encoder = new BatchEncoder();
    for (const op of this.ops) if (op) encoder.add(op);
    return encoder.take();
  }
}

// A batch crosses to the writer thread as one buffer (moved, not copied): structured cloning thousands of small
// arrays cost more than everything else the broker does per message. Per statement: its index in WRITES (u8), the
// number of parameters (u8), then each parameter: a tag (u8) and its value.
const NAMES = Object.keys(WRITES) as WriteName[];
const INDEX = new Map(NAMES.map((name, i) => [name, i]));
const NULL = 0;
const NUMBER = 1;
const TEXT = 2;
const BYTES = 3;

/** Statements, encoded one after the other into a buffer that grows. */
export class BatchEncoder {
  private buf = Buffer.allocUnsafeSlow(4 * 1024);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const bigger = Buffer.allocUnsafeSlow(size);
    this.buf.copy(bigger, 0, 0, this.length);
    this.buf = bigger;
  }

  add(op: WriteOp): void {
    this.room(2);
    this.buf[this.length++] = INDEX.get(op[0])!;
    this.buf[this.length++] = op.length - 1;
    for (let i = 1; i < op.length; i++) {
      const v = op[i] as SqlValue;
      if (v === null) {
        this.room(1);
        this.buf[this.length++] = NULL;
      } else if (typeof v === "number") {
        this.room(9);
        this.buf[this.length++] = NUMBER;
        this.buf.writeDoubleLE(v, this.length);
        this.length += 8;
      } else if (typeof v === "string") {
        const n = Buffer.byteLength(v);
        this.room(5 + n);
        this.buf[this.length++] = TEXT;
        this.buf.writeUInt32LE(n, this.length);
        this.buf.write(v, this.length + 4);
        this.length += 4 + n;
      } else {
        this.room(5 + v.length);
        this.buf[this.length++] = BYTES;
        this.buf.writeUInt32LE(v.length, this.length);
        v.copy(this.buf, this.length + 4);
        this.length += 4 + v.length;
      }
    }
  }

  /** The encoded statements' memory (to transfer) and length; the encoder is spent. */
  take(): { bytes: ArrayBuffer; length: number } {
    return { bytes: this.buf.buffer as ArrayBuffer, length: this.length };
  }
}

/** The statements of an encoded batch, in order. */
export function* decodeBatch(bytes: ArrayBuffer, length: number): Generator<WriteOp> {
  const buf = Buffer.from(bytes, 0, length);
  let at = 0;
  while (at < length) {
    const name = NAMES[buf[at++]!]!;
    const count = buf[at++]!;
    const op: WriteOp = [name];
    for (let i = 0; i < count; i++) {
      const tag = buf[at++];
      if (tag === NULL) op.push(null);
      else if (tag === NUMBER) {
        op.push(buf.readDoubleLE(at));
        at += 8;
      } else {
        const n = buf.readUInt32LE(at);
        at += 4;
        op.push(tag === TEXT ? buf.toString("utf8", at, at + n) : buf.subarray(at, at + n));
        at += n;
      }
    }
    yield op;
  }
}

/**
 * The schema's version (`PRAGMA user_version`). 1: the queue keyed by its sequence number alone (unique across
 * clients: a row id, the cheapest insert and delete SQLite has); before, by (client id, sequence number).
 */
const SCHEMA_VERSION = 1;

function migrate(db: Database.Database): void {
  const version = db.pragma("user_version", { simple: true }) as number;
  if (version >= SCHEMA_VERSION) return;
  const columns = (db.pragma("table_info(outgoing)") as Array<{ name: string; pk: number }>).filter((c) => c.pk > 0).map((c) => c.name);
  db.transaction(() => {
    if (columns.length > 1) {
      db.exec(`ALTER TABLE outgoing RENAME TO outgoing_v0`);
      db.exec(SCHEMA);
  migrate(db);
      db.exec(
        "INSERT INTO outgoing (seq, client_id, message_id, cmd, topic, payload, qos, flags, broker_id, broker_counter, extra) " +
          "SELECT seq, client_id, message_id, cmd, topic, payload, qos, flags, broker_id, broker_counter, extra FROM outgoing_v0",
      );
      db.exec("DROP TABLE outgoing_v0");
    }
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}

/** Opens (and makes, the first time) the store: WAL, the given durability, the file private. */
export function openBrokerStore(file: string, synchronous: Synchronous): Database.Database {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // loaded on first use, as the other stores do: a runtime on another broker never loads the native module
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const BetterSqlite3 = require("better-sqlite3") as typeof Database;
  const db = new BetterSqlite3(file);
  db.pragma("busy_timeout = 5000");
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${synchronous === "normal" ? "NORMAL" : "FULL"}`);
  db.exec(SCHEMA);
  migrate(db);
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      fs.chmodSync(f, PRIVATE_FILE);
    } catch {
      // not there (yet): the process umask makes it private when it comes
    }
  }
  return db;
}
