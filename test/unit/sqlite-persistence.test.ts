// The broker's SQLite persistence: aedes-persistence's abstract suite (every test must pass), everything restored
// from the file after a close, nothing answered before its transaction committed, and the journal that keeps a
// QoS 1 message the broker acknowledged before queuing it.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Aedes } from "aedes";
import Database from "better-sqlite3";
import mqtt from "mqtt";
import { EmbeddedBroker } from "../../nodes/lib/broker/embedded-broker";
import { until } from "../support/until";
import { SqlitePersistence, type PersistedPacket, type PersistenceBroker } from "../../nodes/lib/broker/sqlite-persistence";
import { ROOT } from "../support/runtime";

const ABSTRACT = path.join(ROOT, "dist", "test", "conformance", "sqlite-persistence-abstract.js");

function runNodeTest(file: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--test", "--test-reporter=tap", file], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("exit", (code) => resolve({ code, out }));
  });
}

const fakeBroker = (): PersistenceBroker & { published: PersistedPacket[] } => {
  const published: PersistedPacket[] = [];
  return {
    id: "pifog",
    counter: 0,
    published,
    publish: (packet, done) => {
      published.push(packet);
      done();
    },
  };
};

const publish = (topic: string, payload: string, extra: Partial<PersistedPacket> = {}): PersistedPacket => ({
  cmd: "publish",
  topic,
  payload: Buffer.from(payload),
  qos: 1,
  retain: false,
  dup: false,
  brokerId: "pifog",
  brokerCounter: 1,
  ...extra,
});

async function streamed<T>(stream: AsyncIterable<unknown>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item as T);
  return out;
}

describe("the broker's SQLite persistence", function () {
  this.timeout(60_000);
  let dir: string;
  let file: string;
  const open: SqlitePersistence[] = [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-persistence-"));
    file = path.join(dir, "broker.db");
  });
  afterEach(async () => {
    for (const p of open.splice(0)) await p.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function start(broker: PersistenceBroker = fakeBroker()): Promise<SqlitePersistence> {
    const p = new SqlitePersistence({ file });
    await p.setup(broker);
    open.push(p);
    return p;
  }

  async function reopen(p: SqlitePersistence, broker: PersistenceBroker = fakeBroker()): Promise<SqlitePersistence> {
    await p.destroy();
    return start(broker);
  }

  for (const sync of ["normal", "full"] as const) {
    it(`passes every test of aedes-persistence's abstract suite, synchronous ${sync} (node --test, testAsync, a fresh file each)`, async () => {
      const { code, out } = await runNodeTest(ABSTRACT, { PIFOG_TEST_SYNC: sync });
      const count = (name: string) => Number(new RegExp(`^# ${name} (\\d+)$`, "m").exec(out)?.[1] ?? NaN);
      const [tests, pass, fail, cancelled, skipped, todo] = ["tests", "pass", "fail", "cancelled", "skipped", "todo"].map(count);
      console.log(`      abstract suite: ${tests} tests, ${pass} pass, ${fail} fail, ${cancelled} cancelled, ${skipped} skipped, ${todo} todo`);
      const declared = (fs.readFileSync(require.resolve("aedes-persistence/abstract.js"), "utf8").match(/^\s*test\('/gm) ?? []).length;
      assert.ok(declared >= 50, `abstract.js declares ${declared} tests`);
      const failures = out.split("\n").filter((l) => /^\s*not ok /.test(l));
      assert.deepEqual(failures, [], out.slice(-4000));
      assert.equal(code, 0, out.slice(-4000));
      assert.equal(tests, declared, "every test the suite declares ran");
      assert.equal(pass, declared);
      assert.equal(fail + cancelled + skipped + todo, 0);
    });
  }

  it("restores retained messages, sessions, queues, QoS 2 packets and wills from the file", async () => {
    const p = await start();
    await p.storeRetained(publish("a/b", "kept", { retain: true, qos: 0 }));
    await p.storeRetained(publish("a/c", "gone", { retain: true, qos: 0 }));
    await p.storeRetained(publish("a/c", "", { retain: true, qos: 0 }));
    const client = { id: "sub-1" };
    await p.addSubscriptions(client, [
      { topic: "x/#", qos: 1, rh: 0, rap: true, nl: false },
      { topic: "quiet", qos: 0, rh: 0, rap: true, nl: false },
      { topic: "v5", qos: 2, rh: 1, rap: false, nl: true, subscriptionIdentifier: 7 },
    ]);
    await p.addSubscriptions({ id: "sub-2" }, [{ topic: "x/y", qos: 1 }]);
    await p.removeSubscriptions({ id: "sub-2" }, ["x/y"]);
    const subs = await p.subscriptionsByTopic("x/y");
    await p.outgoingEnqueueCombi(subs, publish("x/y", "one", { brokerCounter: 41 }));
    await p.outgoingEnqueueCombi(subs, publish("x/y", "two", { brokerCounter: 42, qos: 2 }));
    await p.outgoingEnqueueCombi(subs, publish("x/y", "three", { brokerCounter: 43 }));
    await p.outgoingUpdate(client, { ...publish("x/y", "one", { brokerCounter: 41 }), messageId: 100 });
    await p.outgoingUpdate(client, { ...publish("x/y", "two", { brokerCounter: 42, qos: 2 }), messageId: 101 });
    await p.outgoingUpdate(client, { cmd: "pubrel", messageId: 101 });
    await p.outgoingUpdate(client, { ...publish("x/y", "three", { brokerCounter: 43 }), messageId: 102 });
    assert.equal((await p.outgoingClearMessageId(client, { messageId: 100 }))?.payload?.toString(), "one");
    await p.incomingStorePacket(client, publish("in/q2", "q2", { qos: 2, messageId: 9 }));
    await p.putWill(client, { topic: "wills/sub-1", payload: Buffer.from("bye"), qos: 1, retain: false });

    const broker = fakeBroker();
    const q = await reopen(p, broker);
    assert.deepEqual(
      (await streamed<PersistedPacket>(q.createRetainedStream("#"))).map((m) => [m.topic, m.payload?.toString()]),
      [["a/b", "kept"]],
    );
    assert.deepEqual(await q.subscriptionsByClient(client), [
      { topic: "x/#", qos: 1, rh: 0, rap: true, nl: false },
      { topic: "quiet", qos: 0, rh: 0, rap: true, nl: false },
      { topic: "v5", qos: 2, rh: 1, rap: false, nl: true, subscriptionIdentifier: 7 },
    ]);
    assert.deepEqual(await q.subscriptionsByClient({ id: "sub-2" }), []);
    assert.deepEqual(await q.countOffline(), { subsCount: 2, clientsCount: 1 });
    assert.deepEqual((await q.subscriptionsByTopic("x/z")).map((s) => [s.clientId, s.topic]), [["sub-1", "x/#"]]);
    assert.deepEqual(await q.subscriptionsByTopic("quiet"), [], "QoS 0 subscriptions are restored but never matched");
    const queue = await streamed<PersistedPacket>(q.outgoingStream(client));
    assert.deepEqual(
      queue.map((m) => [m.cmd, m.messageId, m.payload?.toString()]),
      [
        ["pubrel", 101, undefined],
        ["publish", undefined, "three"],
      ],
      "the queue in order, the PUBREL in place of its PUBLISH with its packet identifier; a QoS 1 message gets a new one",
    );
    assert.equal((await q.incomingGetPacket(client, { messageId: 9 })).payload?.toString(), "q2");
    const will = await q.getWill(client);
    assert.equal(will?.payload?.toString(), "bye");
    assert.equal(will?.brokerId, "pifog");
    assert.deepEqual((await streamed<PersistedPacket>(q.streamWill({}))).map((w) => w.clientId), ["sub-1"]);
    assert.equal(broker.counter, 43, "the broker counts on from the highest stored message of its own");

    // and what is cleared stays cleared
    await q.outgoingClearMessageId(client, { messageId: 101 });
    await q.incomingDelPacket(client, { messageId: 9 });
    await q.delWill(client);
    await q.cleanSubscriptions(client);
    const r = await reopen(q);
    assert.deepEqual((await streamed<PersistedPacket>(r.outgoingStream(client))).map((m) => m.payload?.toString()), ["three"]);
    await assert.rejects(r.incomingGetPacket(client, { messageId: 9 }), /no such packet/);
    assert.equal(await r.getWill(client), undefined);
    assert.deepEqual(await r.countOffline(), { subsCount: 0, clientsCount: 0 });
  });

  it("answers a write only once its transaction has committed, one transaction for a turn's writes", async () => {
    const p = await start();
    const before = p.commits;
    const reader = new Database(file, { readonly: true });
    try {
      const writes = Array.from({ length: 50 }, (_, i) => p.storeRetained(publish(`t/${i}`, `v${i}`, { retain: true })));
      // nothing committed yet in this turn
      assert.equal((reader.prepare("SELECT count(*) AS n FROM retained").get() as { n: number }).n, 0);
      await writes[0];
      assert.equal((reader.prepare("SELECT count(*) AS n FROM retained").get() as { n: number }).n, 50, "committed when answered");
      await Promise.all(writes);
      assert.equal(p.commits - before, 1, "one transaction for the 50 writes of one turn");
    } finally {
      reader.close();
    }
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, "the file is private");
  });

  it("writes nothing for a message queued, sent and acknowledged before its batch went; a later delete is written", async () => {
    const p = await start();
    await p.addSubscriptions({ id: "online" }, [{ topic: "pifog/x/sim/#", qos: 1 }]);
    const reader = new Database(file, { readonly: true });
    const rows = () =>
      (reader.prepare("SELECT (SELECT count(*) FROM journal) + (SELECT count(*) FROM outgoing) AS n").get() as { n: number }).n;
    try {
      // one turn: what a subscriber online that acknowledges at once makes of a QoS 1 message
      const payload = Buffer.from("quick");
      const acked = p.journal({ topic: "pifog/x/sim/a/set", payload, qos: 1 })!;
      const packet: PersistedPacket = { cmd: "publish", topic: "pifog/x/sim/a/set", payload, qos: 1, brokerId: "pifog", brokerCounter: 1 };
      const queued = p.outgoingEnqueueCombi([{ clientId: "online" }], packet);
      const sent = p.outgoingUpdate({ id: "online" }, { ...packet, messageId: 7 });
      const cleared = p.outgoingClearMessageId({ id: "online" }, { messageId: 7 });
      await Promise.all([acked, queued, sent, cleared]);
      assert.equal(p.cancelled, 2, "the queue row written before the PUBACK and its delete: neither written");
      assert.equal(rows(), 0);

      // a message whose queue row has committed: its acknowledgement must reach the disk
      const later = Buffer.from("slow");
      await p.journal({ topic: "pifog/x/sim/a/set", payload: later, qos: 1 });
      await p.outgoingEnqueueCombi([{ clientId: "online" }], { ...packet, payload: later, brokerCounter: 2 });
      await p.outgoingUpdate({ id: "online" }, { ...packet, payload: later, brokerCounter: 2, messageId: 8 });
      assert.equal(rows(), 1, "queued on disk");
      assert.equal((await p.outgoingClearMessageId({ id: "online" }, { messageId: 8 }))?.payload?.toString(), "slow");
      // the delete is not waited for (a crash before it only sends the message again); its commit follows
      const commits = p.commits;
      await until(() => p.commits > commits, "the delete's commit");
      assert.equal(rows(), 0, "the acknowledgement deleted it from the disk");
    } finally {
      reader.close();
    }
  });

  it("takes over the queue of a broker.db made before the queue was keyed by its sequence number", async () => {
    const old = new Database(file);
    old.exec(`CREATE TABLE outgoing (
      client_id TEXT NOT NULL, seq INTEGER NOT NULL, message_id INTEGER, cmd TEXT NOT NULL, topic TEXT, payload,
      qos INTEGER, flags INTEGER, broker_id TEXT, broker_counter INTEGER, extra BLOB, PRIMARY KEY (client_id, seq)
    ) WITHOUT ROWID`);
    old.prepare("INSERT INTO outgoing VALUES ('away', 7, NULL, 'publish', 'x/y', ?, 1, 0, 'pifog', 3, NULL)").run(Buffer.from("kept"));
    old.close();
    const p = await start();
    assert.deepEqual((await streamed<PersistedPacket>(p.outgoingStream({ id: "away" }))).map((m) => m.payload?.toString()), ["kept"]);
    await p.destroy();
    const db = new Database(file, { readonly: true });
    try {
      assert.equal(db.pragma("user_version", { simple: true }), 1);
      const keys = (db.pragma("table_info(outgoing)") as Array<{ name: string; pk: number }>).filter((c) => c.pk > 0).map((c) => c.name);
      assert.deepEqual(keys, ["seq"]);
    } finally {
      db.close();
    }
  });

  it("publishes again on start a QoS 1 message acknowledged (journaled) but not queued before a crash", async () => {
    const p = await start();
    await p.addSubscriptions({ id: "away" }, [{ topic: "pifog/x/sim/#", qos: 1 }]);
    assert.equal(p.journal({ topic: "other/topic", payload: Buffer.from("x"), qos: 1 }), undefined, "no persistent session wants it: no journal");
    assert.equal(p.journal({ topic: "pifog/x/sim/a/set", payload: Buffer.from("x"), qos: 0 }), undefined, "QoS 0: no journal");
    await p.journal({ topic: "pifog/x/sim/a/set", payload: Buffer.from("acked"), qos: 1 });
    await p.journal({ topic: "other/retained", payload: Buffer.from("kept"), qos: 1, retain: true });
    // the crash: nothing queued yet
    await p.destroy();

    const aedes = await Aedes.createBroker({ persistence: new SqlitePersistence({ file }) });
    try {
      const persistence = (aedes as unknown as { persistence: SqlitePersistence }).persistence;
      const queue = await streamed<PersistedPacket>(persistence.outgoingStream({ id: "away" }));
      assert.deepEqual(queue.map((m) => [m.topic, m.payload?.toString()]), [["pifog/x/sim/a/set", "acked"]]);
      const retained = await streamed<PersistedPacket>(persistence.createRetainedStream("other/retained"));
      assert.deepEqual(retained.map((m) => m.payload?.toString()), ["kept"]);
    } finally {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await (aedes as unknown as { persistence: SqlitePersistence }).persistence.destroy();
    }
    const db = new Database(file, { readonly: true });
    try {
      assert.equal((db.prepare("SELECT count(*) AS n FROM journal").get() as { n: number }).n, 0, "the journal is emptied by the queuing");
      assert.equal((db.prepare("SELECT count(*) AS n FROM outgoing").get() as { n: number }).n, 1, "queued once");
    } finally {
      db.close();
    }
  });

  it("through the embedded broker: the PUBACK comes after the journal, and the queuing empties the journal", async () => {
    const persistence = new SqlitePersistence({ file });
    const broker = await EmbeddedBroker.start({ port: 0, host: "127.0.0.1", persistence });
    const url = `mqtt://127.0.0.1:${broker.port}`;
    try {
      const sub = await mqtt.connectAsync(url, { clientId: "away", clean: false, reconnectPeriod: 0 });
      await sub.subscribeAsync("pifog/x/sim/#", { qos: 1 });
      await sub.endAsync();
      const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
      const db = new Database(file, { readonly: true });
      try {
        let journaledAtAck = -1;
        const acked = pub.publishAsync("pifog/x/sim/a/set", "m", { qos: 1 }).then(() => {
          journaledAtAck = (db.prepare("SELECT count(*) AS n FROM journal").get() as { n: number }).n +
            (db.prepare("SELECT count(*) AS n FROM outgoing").get() as { n: number }).n;
        });
        await acked;
        assert.equal(journaledAtAck, 1, "when the PUBACK arrives, the message is committed (journal or queue)");
        await pub.endAsync();
      } finally {
        db.close();
      }
      // the listener before the CONNACK: the queue follows it at once
      const back = mqtt.connect(url, { clientId: "away", clean: false, reconnectPeriod: 0 });
      const got = await new Promise<string>((resolve) => back.once("message", (_t, payload) => resolve(payload.toString())));
      assert.equal(got, "m");
      await back.endAsync();
    } finally {
      await broker.close();
    }
    const db = new Database(file, { readonly: true });
    try {
      assert.equal((db.prepare("SELECT count(*) AS n FROM journal").get() as { n: number }).n, 0);
      assert.equal((db.prepare("SELECT count(*) AS n FROM outgoing").get() as { n: number }).n, 0, "delivered and acknowledged");
    } finally {
      db.close();
    }
  });

  it("through the embedded broker: a retained QoS 0 message reaches a live subscriber, in order with the rest", async () => {
    // a retained QoS 0 message used to wait for its commit, be overtaken, and be dropped by aedes as a duplicate
    const persistence = new SqlitePersistence({ file });
    const broker = await EmbeddedBroker.start({ port: 0, host: "127.0.0.1", persistence });
    const url = `mqtt://127.0.0.1:${broker.port}`;
    try {
      const login = { ...broker.runtimeCredentials, reconnectPeriod: 0 };
      const sub = await mqtt.connectAsync(url, { ...login, clientId: "live" });
      const got: string[] = [];
      sub.on("message", (_t, payload) => got.push(payload.toString()));
      await sub.subscribeAsync("pifog/x/camera/frame", { qos: 1 });
      const pub = await mqtt.connectAsync(url, { ...login, clientId: "camera" });
      pub.publish("pifog/x/camera/frame", "frame-1", { qos: 0, retain: true });
      await pub.publishAsync("pifog/x/camera/frame", "frame-2", { qos: 1 });
      await until(() => got.length >= 2, "both frames");
      assert.deepEqual(got, ["frame-1", "frame-2"]);
      await Promise.all([pub.endAsync(), sub.endAsync()]);
    } finally {
      await broker.close();
    }
  });
});
