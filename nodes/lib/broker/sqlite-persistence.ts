// The embedded broker's memory across restarts: an aedes 1.x (async) persistence on better-sqlite3, built as
// aedes-persistence 11's in-memory asyncPersistence.js is (every read served from memory, subscriptions matched
// in a QlobberSub), with every change also written to SQLite, so that a SIGTERM or a SIGKILL (and with
// synchronous FULL a power cut too) loses nothing the broker has acknowledged.
//
// What is stored where (`<data dir>/broker.db`, 0600, WAL; synchronous NORMAL by default, FULL when asked for):
//   retained       topic → the retained PUBLISH (v8-serialised packet); an empty payload deletes it.
//   subscriptions  (client id, filter) → QoS, the MQTT 5 options and subscription identifier (v8-serialised):
//                  the sessions of clients that connected with clean session off, QoS 0 ones too (they are
//                  restored on reconnect but never matched for queuing, as asyncPersistence does).
//   outgoing       (client id, seq) → a message queued for a persistent session, in order (seq), with the packet
//                  identifier it was last sent with (message_id; NULL until sent), or the PUBREL that replaced
//                  a QoS 2 message once its PUBREC came. A PUBACK / PUBCOMP deletes the row. An aedes packet is
//                  kept in columns (topic, payload as BLOB or TEXT as it came, qos, retain and dup flags, broker
//                  id and counter; MQTT 5 properties and other extras v8-serialised in `extra`); anything else
//                  (a PUBREL) whole in `extra`, flags NULL.
//   incoming       (client id, packet id) → a QoS 2 PUBLISH received and not yet released (PUBREL).
//   wills          client id → the will of a connected client, with the broker id that holds it.
//   journal        id → a retained QoS 1 PUBLISH (topic, payload, retain, MQTT 5 properties) the broker is about
//                  to acknowledge (see journal() below): committed before the PUBACK, deleted in the transaction
//                  that queues and stores it; whatever is left on start (a crash in between) is published again.
//                  A QoS 1 PUBLISH that is not retained needs no journal row: its queue rows are written before
//                  the PUBACK instead (broker id and counter NULL until start numbers them).
// In memory (rebuilt from the tables on setup()): the same, plus the QlobberSub of QoS > 0 subscriptions that
// subscriptionsByTopic() matches against, and the broker's message counter moved past every stored message of
// this broker (a restarted aedes counts from 0 again; an old queued message must not share a new one's number).
//
// Writes: each method changes memory at once (so reads right after see it, as in asyncPersistence) and hands its
// statements to a group commit: one transaction per batch, on this thread with NORMAL (inline-commit.ts: no fsync,
// a write into the WAL) and on a writer thread with FULL (group-commit.ts: the fsync never stalls the event loop);
// broker-store.ts has the schema and the statements. The method's
// promise resolves only when what it records is committed: by that transaction, or, for the queuing of a
// journaled QoS 1 message, by the journal's or its queue rows' (committed before the PUBACK). One exception, which
// loses nothing: the packet identifier a QoS 1 message is sent with (outgoingUpdate) is not written at all; after
// a restart the message is sent again with a new one (a duplicate, which QoS 1 allows).
import type Database from "better-sqlite3";
import path from "node:path";
import { Readable } from "node:stream";
import v8 from "node:v8";
import { QlobberTrue } from "qlobber";
import QlobberSub from "qlobber/aedes/qlobber-sub";
import { openBrokerStore, type Synchronous, type WriteOp } from "./broker-store";
import { GroupCommit, type Committer } from "./group-commit";
import { InlineCommit } from "./inline-commit";

export type QoS = 0 | 1 | 2;

export interface PersistenceClient {
  readonly id: string;
}

/** A packet as aedes hands it over and gets it back: a PUBLISH (usually an aedes-packet), a PUBREL, a will. */
export interface PersistedPacket {
  cmd?: string;
  topic?: string;
  payload?: Buffer | string;
  qos?: QoS;
  retain?: boolean;
  dup?: boolean;
  messageId?: number;
  brokerId?: string;
  brokerCounter?: number;
  clientId?: string;
  [field: string]: unknown;
}

/** A subscription as a SUBSCRIBE carries it (and as subscriptionsByClient gives it back). */
export interface ClientSubscription {
  topic: string;
  qos: QoS;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
  subscriptionIdentifier?: number;
}

/** A subscription matched by topic, for queuing. */
export interface TopicSubscription {
  clientId: string;
  topic: string;
  qos?: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
}

/** A PUBLISH as it arrives from a client (mqtt-packet's), as far as the journal keeps it. */
export interface JournaledPublish {
  topic: string;
  payload: Buffer | string;
  qos: number;
  retain?: boolean;
  properties?: object;
}

/** What the persistence needs of aedes (the abstract test suite's stand-in has the same). */
export interface PersistenceBroker {
  readonly id: string;
  counter: number;
  publish(packet: PersistedPacket, done: (err?: Error | null) => void): void;
}

export interface SqlitePersistenceOptions {
  /** The database file; its folder is made if missing. */
  file: string;
  /** "normal" (default): a committed write survives a crash of the process (SIGKILL), not of the machine (WAL);
   * "full": a power cut too, an fsync per commit. */
  synchronous?: Synchronous;
}

type SubscriptionRecord = Omit<ClientSubscription, "topic">;

interface QueueEntry {
  readonly seq: number;
  packet: PersistedPacket;
}

/** What journal() wrote for a PUBLISH on its way to the queues: a journal row, or its queue rows. */
type Journaled =
  | { readonly kind: "journal"; readonly id: number }
  | { readonly kind: "queued"; readonly seqs: Map<string, number[]>; readonly columns: PacketColumns };

/** Columns 5 and 6 (broker id, counter) aside, the same row. */
/**
 * What journal() wrote for a PUBLISH on its way to the queues, kept on its payload (aedes keeps that object from
 * the PUBLISH it authorises to the packet it queues): cheaper than a WeakMap, whose ephemerons every GC walks.
 * The symbol is this persistence's own (one per instance), so two brokers in a process never see each other's.
 */
type Carrier = { [key: symbol]: Journaled[] | undefined };

function sameRow(a: PacketColumns, b: PacketColumns): boolean {
  const same = (x: unknown, y: unknown) => x === y || (Buffer.isBuffer(x) && Buffer.isBuffer(y) && x.equals(y));
  return a.every((v, i) => i === 5 || i === 6 || same(v, b[i]));
}

/** The embedded broker's store in a data dir. */
export function brokerStoreFile(dataDir: string): string {
  return path.join(dataDir, "broker.db");
}

const QLOBBER_OPTIONS = { wildcard_one: "+", wildcard_some: "#", separator: "/" };
/** How many topics' matches are kept at most (all are dropped when more come, and at any change). */
const MATCH_CACHE_TOPICS = 1024;


const encode = (value: unknown): Buffer => v8.serialize(value);
const decode = <T>(blob: Buffer): T => v8.deserialize(blob) as T;

/** What `new Packet(original)` of aedes-packet makes (asyncPersistence's copy for a queue): the same fields, the
 * packet identifier left to the sender. */
function queuedCopy(original: PersistedPacket): PersistedPacket {
  const packet: PersistedPacket = {};
  for (const field of ["clientId", "nl", "properties", "messageExpiry"]) {
    if (Object.prototype.hasOwnProperty.call(original, field)) packet[field] = original[field];
  }
  packet.cmd = original.cmd || "publish";
  packet.brokerId = original.brokerId || undefined;
  packet.brokerCounter = original.brokerCounter || 0;
  packet.topic = original.topic;
  packet.payload = original.payload || Buffer.alloc(0);
  packet.qos = original.qos || 0;
  packet.retain = original.retain || false;
  packet.dup = original.dup || false;
  if (packet.qos > 0 || packet.cmd !== "publish") packet.messageId = undefined;
  return packet;
}

/** An outgoing row's packet columns: cmd, topic, payload, qos, flags, broker id, broker counter, extra. */
type PacketColumns = [string, string | null, Buffer | string | null, number | null, number | null, string | null, number | null, Buffer | null];

interface OutgoingRow {
  client_id: string;
  seq: number;
  message_id: number | null;
  cmd: string;
  topic: string | null;
  payload: Buffer | string | null;
  qos: number | null;
  flags: number | null;
  broker_id: string | null;
  broker_counter: number | null;
  extra: Buffer | null;
}

interface JournalRow {
  id: number;
  topic: string;
  payload: Buffer | string;
  retain: number;
  properties: Buffer | null;
}

const RETAIN = 1;
const DUP = 2;
/** The fields of queuedCopy's packet kept in columns, and those that go in `extra` when present. */
const COLUMN_FIELDS = new Set(["cmd", "brokerId", "brokerCounter", "topic", "payload", "qos", "retain", "dup", "messageId"]);
const EXTRA_FIELDS = ["clientId", "nl", "properties", "messageExpiry"];

/** A queued packet as columns: an aedes PUBLISH in its own columns (no serialising on the hot path), anything
 * else whole in `extra` with flags NULL. */
function toColumns(packet: PersistedPacket): PacketColumns {
  const keys = Object.keys(packet);
  const plain =
    packet.cmd === "publish" &&
    typeof packet.topic === "string" &&
    (Buffer.isBuffer(packet.payload) || typeof packet.payload === "string") &&
    [...COLUMN_FIELDS].every((f) => keys.includes(f)) &&
    keys.every((k) => COLUMN_FIELDS.has(k) || EXTRA_FIELDS.includes(k));
  if (!plain) return [String(packet.cmd ?? ""), null, null, null, null, null, null, encode(packet)];
  let extra: Record<string, unknown> | null = null;
  for (const f of EXTRA_FIELDS) if (keys.includes(f)) (extra ??= {})[f] = packet[f];
  const flags = (packet.retain ? RETAIN : 0) | (packet.dup ? DUP : 0);
  return [
    "publish",
    packet.topic!,
    packet.payload!,
    packet.qos ?? 0,
    flags,
    packet.brokerId ?? null,
    packet.brokerCounter ?? null,
    extra ? encode(extra) : null,
  ];
}

/** toColumns of what queuedCopy makes (always a plain PUBLISH or a copy of one): without toColumns' checks, which
 * cost more than the rest of queuing a message. */
function copyColumns(copy: PersistedPacket): PacketColumns {
  if (copy.cmd !== "publish" || typeof copy.topic !== "string") return toColumns(copy);
  let extra: Record<string, unknown> | null = null;
  for (const f of EXTRA_FIELDS) if (Object.prototype.hasOwnProperty.call(copy, f)) (extra ??= {})[f] = copy[f];
  const flags = (copy.retain ? RETAIN : 0) | (copy.dup ? DUP : 0);
  return ["publish", copy.topic, copy.payload!, copy.qos ?? 0, flags, copy.brokerId ?? null, copy.brokerCounter ?? null, extra ? encode(extra) : null];
}

/** The columns of a PUBLISH as a client sent it, as queuedCopy(new Packet(it)) would make them, broker id and
 * counter NULL (the broker numbers it only when it routes it). */
function incomingColumns(packet: JournaledPublish & { dup?: boolean }, payload: Buffer): PacketColumns {
  const flags = packet.dup ? DUP : 0;
  const extra = packet.properties === undefined ? null : encode({ properties: packet.properties });
  return ["publish", packet.topic, payload, packet.qos, flags, null, null, extra];
}

function fromColumns(row: OutgoingRow): PersistedPacket {
  if (row.flags === null) return decode<PersistedPacket>(row.extra!);
  // the same fields, in the same order, as queuedCopy made them
  const packet: PersistedPacket = row.extra ? decode<PersistedPacket>(row.extra) : {};
  packet.cmd = row.cmd;
  packet.brokerId = row.broker_id ?? undefined;
  packet.brokerCounter = row.broker_counter ?? 0;
  packet.topic = row.topic ?? undefined;
  packet.payload = row.payload ?? Buffer.alloc(0);
  packet.qos = (row.qos ?? 0) as QoS;
  packet.retain = (row.flags & RETAIN) !== 0;
  packet.dup = (row.flags & DUP) !== 0;
  packet.messageId = undefined;
  return packet;
}

function* retainedMatching(retained: Map<string, PersistedPacket>, patterns: readonly string[]): Generator<PersistedPacket> {
  for (const pattern of patterns) {
    const qlobber = new QlobberTrue(QLOBBER_OPTIONS);
    qlobber.add(pattern);
    for (const [topic, packet] of retained) if (qlobber.test(topic)) yield packet;
  }
}

interface Store {
  commit: Committer;
}

export class SqlitePersistence {
  private readonly retained = new Map<string, PersistedPacket>();
  private readonly subscriptions = new Map<string, Map<string, SubscriptionRecord>>();
  private readonly outgoing = new Map<string, QueueEntry[]>();
  private readonly incoming = new Map<string, Map<number, PersistedPacket>>();
  private readonly wills = new Map<string, PersistedPacket>();
  private readonly trie = new QlobberSub(QLOBBER_OPTIONS);
  /** The trie's answers by topic, until the next change of a subscription: journal() matches a PUBLISH's topic
   * and aedes asks for the same right after, when it queues it (one match a message, not two). */
  private readonly matched = new Map<string, TopicSubscription[]>();
  private readonly journaled = Symbol("pifog journaled");
  private clientsCount = 0;
  private seq = 0;
  private journalId = 0;
  private destroyed = false;
  private store: Store | null = null;
  private currentBroker: PersistenceBroker | null = null;

  constructor(private readonly options: SqlitePersistenceOptions) {}

  /** The broker it serves (the abstract test suite reads it). */
  get broker(): PersistenceBroker | null {
    return this.currentBroker;
  }

  /** Transactions committed so far. */
  get commits(): number {
    return this.store?.commit.commits ?? 0;
  }

  /** Statements never written: a row inserted and deleted again before its batch went (see PendingWrites). */
  get cancelled(): number {
    return this.store?.commit.cancelled ?? 0;
  }

  /** Whether the store can write now (/health): not before it opened, nor after a failed transaction. */
  state(): { ok: boolean; error: string | null } {
    if (this.destroyed) return { ok: false, error: "the broker's store is closed" };
    if (!this.store) return { ok: false, error: "the broker's store is not open yet" };
    return this.store.commit.state();
  }

  async setup(broker: PersistenceBroker): Promise<void> {
    this.currentBroker = broker;
    const file = path.resolve(this.options.file);
    const synchronous = this.options.synchronous ?? "normal";
    // read once here; every change from now on goes through the writer thread
    const db = openBrokerStore(file, synchronous);
    let pending: Array<{ id: number; packet: PersistedPacket }>;
    try {
      pending = this.restore(db, broker);
    } finally {
      db.close();
    }
    // NORMAL commits cost no fsync: on this thread, cheaper than a writer thread; FULL's fsync must not stall it
    const commit: Committer = synchronous === "full" ? new GroupCommit(file, synchronous) : new InlineCommit(file);
    this.store = { commit };
    await commit.opened();
    await this.replay(broker, pending);
  }

  /** Memory from the tables; returns the journal's PUBLISHes to publish again. */
  private restore(db: Database.Database, broker: PersistenceBroker): Array<{ id: number; packet: PersistedPacket }> {
    let counter = 0;
    const seen = (packet: PersistedPacket) => {
      if (packet.brokerId === broker.id && typeof packet.brokerCounter === "number" && packet.brokerCounter > counter) counter = packet.brokerCounter;
    };
    for (const row of db.prepare("SELECT topic, packet FROM retained ORDER BY id").iterate() as Iterable<{ topic: string; packet: Buffer }>) {
      const packet = decode<PersistedPacket>(row.packet);
      this.retained.set(row.topic, packet);
      seen(packet);
    }
    const subs = db.prepare("SELECT client_id, topic, record FROM subscriptions ORDER BY id").iterate() as Iterable<{ client_id: string; topic: string; record: Buffer }>;
    for (const row of subs) this.addSubscription(row.client_id, row.topic, decode<SubscriptionRecord>(row.record));
    const queued = db.prepare("SELECT * FROM outgoing ORDER BY seq").iterate() as Iterable<OutgoingRow>;
    /** Queued before the PUBACK, by journal(): the broker never numbered them on disk. */
    const unnumbered: PersistedPacket[] = [];
    for (const row of queued) {
      const packet = fromColumns(row);
      if (row.message_id !== null) packet.messageId = row.message_id;
      this.queueOf(row.client_id).push({ seq: row.seq, packet });
      if (row.seq > this.seq) this.seq = row.seq;
      if (row.flags !== null && row.broker_id === null) unnumbered.push(packet);
      seen(packet);
    }
    const received = db.prepare("SELECT client_id, message_id, packet FROM incoming").iterate() as Iterable<{ client_id: string; message_id: number; packet: Buffer }>;
    for (const row of received) {
      const packet = decode<PersistedPacket>(row.packet);
      this.incomingOf(row.client_id).set(row.message_id, packet);
      seen(packet);
    }
    for (const row of db.prepare("SELECT client_id, packet FROM wills").iterate() as Iterable<{ client_id: string; packet: Buffer }>) {
      this.wills.set(row.client_id, decode<PersistedPacket>(row.packet));
    }
    const journal = (db.prepare("SELECT * FROM journal ORDER BY id").all() as JournalRow[]).map((row) => {
      const packet: PersistedPacket = { cmd: "publish", topic: row.topic, payload: row.payload, qos: 1, retain: row.retain === 1 };
      if (row.properties) packet.properties = decode(row.properties);
      return { id: row.id, packet };
    });
    this.journalId = journal.reduce((max, j) => Math.max(max, j.id), 0);
    // one message queued for several sessions is one row each: numbered apart, which only costs a duplicate check
    for (const packet of unnumbered) {
      packet.brokerId = broker.id;
      packet.brokerCounter = ++counter;
    }
    if (broker.counter < counter) broker.counter = counter;
    return journal;
  }

  /** The journal's PUBLISHes, acknowledged before a crash and maybe never queued: through the broker again (the
   * queuing deletes each row, as it does for a new PUBLISH). */
  private async replay(broker: PersistenceBroker, pending: Array<{ id: number; packet: PersistedPacket }>): Promise<void> {
    await Promise.all(
      pending.map(
        ({ id, packet }) =>
          new Promise<void>((resolve, reject) => {
            if (packet.payload && typeof packet.payload === "object") (packet.payload as unknown as Carrier)[this.journaled] = [{ kind: "journal", id }];
            broker.publish(packet, (err) => (err ? reject(err) : resolve()));
          }),
      ),
    );
  }

  private write(...ops: WriteOp[]): Promise<void> {
    if (!this.store) return Promise.reject(new Error("the broker's store is not open"));
    return this.store.commit.write(...ops);
  }

  // ---- the journal: nothing acknowledged is lost ------------------------------------------------------------

  /**
   * aedes sends a QoS 1 PUBACK before it queues the message for offline sessions (or stores it as retained). The
   * embedded broker calls this while it authorises the PUBLISH, and holds the PUBACK (and the routing) until the
   * promise resolves: the message is then on disk, queued for every persistent session that subscribes to it (the
   * queuing then only takes those rows), or, when retained, in the journal until the transaction that queues and
   * stores it deletes the row. A PUBLISH that no persistent session subscribes to and that is not retained needs
   * nothing (undefined: no wait).
   */
  journal(packet: JournaledPublish): Promise<void> | undefined {
    if (packet.qos !== 1 || !this.store || this.destroyed || !packet.topic) return undefined;
    const subs = this.match(packet.topic);
    if (!packet.retain && subs.length === 0) return undefined;
    const payload = packet.payload ?? Buffer.alloc(0);
    if (typeof payload !== "object") return undefined;
    const carrier = payload as unknown as Carrier;
    const entries = (carrier[this.journaled] ??= []);
    if (packet.retain === true) {
      const id = ++this.journalId;
      entries.push({ kind: "journal", id });
      const properties = packet.properties === undefined ? null : encode(packet.properties);
      return this.write(["putJournal", id, packet.topic, payload, 1, properties]);
    }
    const columns = incomingColumns(packet, payload as Buffer);
    const seqs = new Map<string, number[]>();
    const ops: WriteOp[] = [];
    for (const { clientId } of subs) {
      const seq = ++this.seq;
      const own = seqs.get(clientId);
      if (own) own.push(seq);
      else seqs.set(clientId, [seq]);
      ops.push(["putOutgoing", clientId, seq, null, ...columns]);
    }
    entries.push({ kind: "queued", seqs, columns });
    return this.write(...ops);
  }

  /** What journal() wrote for this PUBLISH, taken (it is being queued now). */
  private takeJournaled(packet: PersistedPacket): Journaled | undefined {
    const payload = packet.payload;
    if (!payload || typeof payload !== "object") return undefined;
    const carrier = payload as unknown as Carrier;
    const entries = carrier[this.journaled];
    const taken = entries?.shift();
    if (entries && entries.length === 0) carrier[this.journaled] = undefined;
    return taken;
  }

  // ---- retained -----------------------------------------------------------------------------------------------

  async storeRetained(pkt: PersistedPacket): Promise<void> {
    const packet = { ...pkt };
    const topic = packet.topic!;
    if (!packet.payload || packet.payload.length === 0) {
      this.retained.delete(topic);
      return this.write(["delRetained", topic]);
    }
    this.retained.set(topic, packet);
    const committed = this.write(["putRetained", topic, encode(packet)]);
    // journaled: on disk already, as for the queuing below
    if (packet.payload && typeof packet.payload === "object" && (packet.payload as unknown as Carrier)[this.journaled]) return;
    // QoS 0 is never acknowledged, so it never waits for the disk: waiting would let a later message overtake it,
    // and aedes drops a message that arrives after a newer one of the same broker (its duplicate check by counter)
    if (packet.qos === 0) {
      committed.catch((err: Error) => console.warn(`PiFog broker: retained ${topic} not stored: ${err.message}`));
      return;
    }
    return committed;
  }

  createRetainedStreamCombi(patterns: string[]): Readable {
    return Readable.from(retainedMatching(this.retained, patterns));
  }

  createRetainedStream(pattern: string): Readable {
    return Readable.from(retainedMatching(this.retained, [pattern]));
  }

  // ---- subscriptions ------------------------------------------------------------------------------------------

  private addSubscription(clientId: string, topic: string, record: SubscriptionRecord): void {
    this.matched.clear();
    let stored = this.subscriptions.get(clientId);
    if (!stored) {
      stored = new Map();
      this.subscriptions.set(clientId, stored);
      this.clientsCount++;
    }
    const previous = stored.get(topic);
    if (record.qos > 0) {
      this.trie.add(topic, { clientId, topic, qos: record.qos, rh: record.rh, rap: record.rap, nl: record.nl });
    } else if (previous && previous.qos > 0) {
      this.trie.remove(topic, { clientId, topic });
    }
    stored.set(topic, record);
  }

  async addSubscriptions(client: PersistenceClient, subs: readonly ClientSubscription[]): Promise<void> {
    const rows: WriteOp[] = [];
    for (const sub of subs) {
      const record: SubscriptionRecord = { qos: sub.qos, rh: sub.rh, rap: sub.rap, nl: sub.nl };
      // the MQTT 5 subscription identifier only when there is one, as asyncPersistence keeps it
      if (sub.subscriptionIdentifier !== undefined) record.subscriptionIdentifier = sub.subscriptionIdentifier;
      this.addSubscription(client.id, sub.topic, record);
      rows.push(["putSubscription", client.id, sub.topic, sub.qos, encode(record)]);
    }
    return this.write(...rows);
  }

  async removeSubscriptions(client: PersistenceClient, topics: readonly string[]): Promise<void> {
    const stored = this.subscriptions.get(client.id);
    if (!stored) return;
    const removed: string[] = [];
    this.matched.clear();
    for (const topic of topics) {
      const sub = stored.get(topic);
      if (sub === undefined) continue;
      if (sub.qos > 0) this.trie.remove(topic, { clientId: client.id, topic });
      stored.delete(topic);
      removed.push(topic);
    }
    if (stored.size === 0) {
      this.clientsCount--;
      this.subscriptions.delete(client.id);
    }
    if (removed.length === 0) return;
    return this.write(...removed.map((topic): WriteOp => ["delSubscription", client.id, topic]));
  }

  async subscriptionsByClient(client: PersistenceClient): Promise<ClientSubscription[]> {
    const subs: ClientSubscription[] = [];
    for (const [topic, record] of this.subscriptions.get(client.id) ?? []) subs.push({ topic, ...record });
    return subs;
  }

  async countOffline(): Promise<{ subsCount: number; clientsCount: number }> {
    return { subsCount: this.trie.subscriptionsCount, clientsCount: this.clientsCount };
  }

  async subscriptionsByTopic(pattern: string): Promise<TopicSubscription[]> {
    return this.match(pattern);
  }

  /** The QoS > 0 subscriptions a topic matches (callers only read the array). */
  private match(topic: string): TopicSubscription[] {
    let subs = this.matched.get(topic);
    if (subs === undefined) {
      if (this.matched.size >= MATCH_CACHE_TOPICS) this.matched.clear();
      subs = this.trie.match(topic) as TopicSubscription[];
      this.matched.set(topic, subs);
    }
    return subs;
  }

  async cleanSubscriptions(client: PersistenceClient): Promise<void> {
    const stored = this.subscriptions.get(client.id);
    if (!stored) return;
    this.matched.clear();
    for (const [topic, sub] of stored) if (sub.qos > 0) this.trie.remove(topic, { clientId: client.id, topic });
    this.clientsCount--;
    this.subscriptions.delete(client.id);
    return this.write(["delClientSubscriptions", client.id]);
  }

  getClientList(topic: string): Readable {
    const subscriptions = this.subscriptions;
    return Readable.from(
      (function* () {
        for (const [clientId, topics] of subscriptions) if (topics.has(topic)) yield clientId;
      })(),
    );
  }

  // ---- outgoing queues ----------------------------------------------------------------------------------------

  private queueOf(clientId: string): QueueEntry[] {
    let queue = this.outgoing.get(clientId);
    if (!queue) {
      queue = [];
      this.outgoing.set(clientId, queue);
    }
    return queue;
  }

  async outgoingEnqueue(sub: { clientId: string }, packet: PersistedPacket): Promise<void> {
    return this.outgoingEnqueueCombi([sub], packet);
  }

  async outgoingEnqueueCombi(subs: ReadonlyArray<{ clientId: string }>, packet: PersistedPacket): Promise<void> {
    const journaled = this.takeJournaled(packet);
    if (subs.length === 0 && journaled === undefined) return;
    const ops: WriteOp[] = [];
    let columns: PacketColumns | null = null;
    /** A session journal() did not queue for (it subscribed in between): its row is not on disk yet. */
    let unwritten = false;
    for (const sub of subs) {
      const entryPacket = queuedCopy(packet);
      columns ??= copyColumns(entryPacket);
      const seq = journaled?.kind === "queued" ? journaled.seqs.get(sub.clientId)?.shift() : undefined;
      if (seq === undefined) {
        const entry: QueueEntry = { seq: ++this.seq, packet: entryPacket };
        this.queueOf(sub.clientId).push(entry);
        ops.push(["putOutgoing", sub.clientId, entry.seq, null, ...columns]);
        unwritten = true;
        continue;
      }
      this.queueOf(sub.clientId).push({ seq, packet: entryPacket });
      // the row journal() wrote, unless aedes' packet differs (beyond the broker's numbering, which start redoes)
      if (!sameRow(columns, journaled!.kind === "queued" ? journaled!.columns : columns)) {
        ops.push(["replaceOutgoing", null, ...columns, sub.clientId, seq]);
      }
    }
    if (journaled?.kind === "queued") {
      // queued for a session that no longer subscribes
      for (const [clientId, seqs] of journaled.seqs) for (const seq of seqs) ops.push(["delOutgoing", clientId, seq]);
    }
    if (journaled?.kind === "journal") ops.push(["delJournal", journaled.id]);
    if (ops.length === 0) return;
    const committed = this.write(...ops);
    // a journaled message is on disk already (its queue rows, or the journal row, which goes in the transaction
    // that queues it, and is published again on start if it is still there): delivery need not wait for this
    if (journaled === undefined || (journaled.kind === "queued" && unwritten)) return committed;
  }

  async outgoingUpdate(client: PersistenceClient, packet: PersistedPacket): Promise<void> {
    const queue = this.queueOf(client.id);
    // newest first: a message is usually sent right after it was queued, behind the ones still in flight
    for (let i = queue.length - 1; i >= 0; i--) {
      const entry = queue[i]!;
      const queued = entry.packet;
      if (queued.brokerId === packet.brokerId) {
        if (queued.brokerCounter === packet.brokerCounter) {
          queued.messageId = packet.messageId;
          // QoS 1: the message is stored already; its packet identifier only names this attempt. After a restart
          // the message goes again with a new one (a duplicate, which QoS 1 allows): not written. QoS 2 must keep
          // its identifier (the receiver deduplicates by it): written, and sending waits for it.
          if (queued.cmd === "publish" && queued.qos === 1) return;
          return this.write(["setOutgoingId", packet.messageId ?? null, client.id, entry.seq]);
        }
        // packet identifiers wrap at 65535: same broker, other counter, same identifier is another message
      } else if (queued.messageId === packet.messageId) {
        // a PUBREL (no broker id) takes the place of the QoS 2 PUBLISH it releases
        entry.packet = packet;
        return this.write(["replaceOutgoing", packet.messageId ?? null, ...toColumns(packet), client.id, entry.seq]);
      }
    }
    throw new Error("no such packet");
  }

  async outgoingClearMessageId(client: PersistenceClient, packet: PersistedPacket): Promise<PersistedPacket | undefined> {
    const queue = this.queueOf(client.id);
    const messageId = packet.messageId;
    const i = queue.findIndex((entry) => entry.packet.messageId === messageId);
    if (i < 0) return undefined;
    const [entry] = queue.splice(i, 1);
    // delivered: the delete need not be on disk before aedes goes on (reading the client's next packets waits for
    // this). Lost to a crash, the message is sent again after the restart: a duplicate, which QoS 1 allows, and a
    // PUBREL again, which QoS 2's receiver answers as before
    this.write(["delOutgoing", client.id, entry!.seq]).catch((err: Error) =>
      console.warn(`PiFog broker: a delivered message's queue row for ${client.id} not deleted: ${err.message}`),
    );
    return entry!.packet;
  }

  outgoingStream(client: PersistenceClient): Readable {
    // a copy of the queue as it is now: clearing while streaming must not skip an entry
    return Readable.from((this.outgoing.get(client.id) ?? []).map((entry) => entry.packet));
  }

  // ---- incoming QoS 2 ------------------------------------------------------------------------------------------

  private incomingOf(clientId: string): Map<number, PersistedPacket> {
    let store = this.incoming.get(clientId);
    if (!store) {
      store = new Map();
      this.incoming.set(clientId, store);
    }
    return store;
  }

  async incomingStorePacket(client: PersistenceClient, packet: PersistedPacket): Promise<void> {
    const messageId = packet.messageId!;
    const stored = queuedCopy(packet);
    stored.messageId = messageId;
    this.incomingOf(client.id).set(messageId, stored);
    return this.write(["putIncoming", client.id, messageId, encode(stored)]);
  }

  async incomingGetPacket(client: PersistenceClient, packet: PersistedPacket): Promise<PersistedPacket> {
    const stored = this.incoming.get(client.id)?.get(packet.messageId!);
    if (!stored) throw new Error("no such packet");
    return stored;
  }

  async incomingDelPacket(client: PersistenceClient, packet: PersistedPacket): Promise<void> {
    const store = this.incoming.get(client.id);
    const messageId = packet.messageId!;
    if (!store?.has(messageId)) throw new Error("no such packet");
    store.delete(messageId);
    return this.write(["delIncoming", client.id, messageId]);
  }

  async cleanIncoming(client: PersistenceClient): Promise<void> {
    if (!this.incoming.delete(client.id)) return;
    return this.write(["delClientIncoming", client.id]);
  }

  // ---- wills ------------------------------------------------------------------------------------------------------

  async putWill(client: PersistenceClient, packet: PersistedPacket): Promise<void> {
    packet.brokerId = this.currentBroker?.id;
    packet.clientId = client.id;
    this.wills.set(client.id, packet);
    return this.write(["putWill", client.id, encode(packet)]);
  }

  async getWill(client: PersistenceClient): Promise<PersistedPacket | undefined> {
    return this.wills.get(client.id);
  }

  async delWill(client: PersistenceClient): Promise<PersistedPacket | undefined> {
    const will = this.wills.get(client.id);
    if (!this.wills.delete(client.id)) return undefined;
    await this.write(["delWill", client.id]);
    return will;
  }

  /** The wills held by brokers not in `brokers` (aedes publishes those of brokers that stopped beating). */
  streamWill(brokers: Record<string, unknown> = {}): Readable {
    const wills = this.wills;
    return Readable.from(
      (function* () {
        for (const will of wills.values()) if (!brokers[will.brokerId as string]) yield will;
      })(),
    );
  }

  // ---- the end ----------------------------------------------------------------------------------------------------

  /** Commits what is waiting and closes the file (again: nothing to do). */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const store = this.store;
    this.store = null;
    if (!store) return;
    await store.commit.close();
  }
}
