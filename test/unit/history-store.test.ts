// Both history backends behave the same: SQLite in a temp dir, PostgreSQL in a database made for the test
// on the local server (127.0.0.1:5432).
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PgHistoryStore } from "../../nodes/lib/history/pg-store";
import { SqliteHistoryStore } from "../../nodes/lib/history/sqlite-store";
import { HOUR_MS, type HistoryRecord, type HistoryStore } from "../../nodes/lib/history/types";
import { pgDatabase } from "../support/pg";


function rec(topic: string, at: number, payload: string, extra: Partial<HistoryRecord> = {}): HistoryRecord {
  const n = Number(payload);
  return {
    topic,
    at,
    payload: Buffer.from(payload),
    value: payload.trim() !== "" && Number.isFinite(n) ? n : null,
    qos: 1,
    retain: false,
    clientId: "c1",
    messageId: null,
    dup: false,
    ...extra,
  };
}

interface Backend {
  name: string;
  open(): Promise<{ store: HistoryStore; drop(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: "SQLite",
    open: async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-hist-"));
      const store = new SqliteHistoryStore(dir);
      return { store, drop: async () => fs.rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: "PostgreSQL",
    open: async () => {
      const db = await pgDatabase();
      const store = new PgHistoryStore({ connectionString: db.url });
      return { store, drop: db.drop };
    },
  },
];

for (const backend of backends) {
  describe(`history store on ${backend.name}`, function () {
    this.timeout(20_000);
    let store: HistoryStore;
    let drop: () => Promise<void>;
    const t0 = Date.UTC(2026, 10, 1, 12, 0, 0);

    beforeEach(async () => {
      ({ store, drop } = await backend.open());
    });
    afterEach(async () => {
      await store.close();
      await drop();
    });

    it("keeps topic, raw payload, value, time, QoS and retain, in order", async () => {
      await store.insert([
        rec("iotitan/home/up_bed1/dht11/temperature", t0, "23.1"),
        rec("iotitan/home/up_bed1/dht11/temperature", t0 + 1000, "23.4", { retain: true, qos: 0 }),
        rec("pifog/doorpi/doors", t0 + 2000, '{"doors":{}}'),
      ]);
      const rows = await store.messages({ topic: "iotitan/home/up_bed1/dht11/temperature", from: t0, to: t0 + 10_000, limit: 10 });
      assert.deepEqual(rows.map((r) => [r.payload, r.value, r.at, r.qos, r.retain]), [
        ["23.1", 23.1, t0, 1, false],
        ["23.4", 23.4, t0 + 1000, 0, true],
      ]);
      const json = await store.messages({ topic: "pifog/+/doors", from: t0, to: t0 + 10_000, limit: 10 });
      assert.equal(json[0]?.payload, '{"doors":{}}');
      assert.equal(json[0]?.value, null);
    });

    it("matches MQTT filters exactly: + is one level, # the rest", async () => {
      await store.insert([rec("a/b/c", t0, "1"), rec("a/x/y/c", t0, "2"), rec("a/b", t0, "3"), rec("a_b/c", t0, "4")]);
      const q = (topic: string) => store.messages({ topic, from: t0, to: t0 + 1, limit: 100 }).then((r) => r.map((m) => m.topic).sort());
      assert.deepEqual(await q("a/+/c"), ["a/b/c"]);
      assert.deepEqual(await q("a/#"), ["a/b", "a/b/c", "a/x/y/c"]);
      assert.deepEqual(await q("a_b/c"), ["a_b/c"]);
    });

    it("answers a filter exactly however many near-misses its pattern catches, and several filters at once", async () => {
      const rows = [];
      // 500 messages one level too deep come first: a pattern-then-check read with a slack of limit × 4 returned none
      for (let i = 0; i < 500; i++) rows.push(rec(`a/x${i}/deep/c`, t0 + i, "0"));
      rows.push(rec("a/b/c", t0 + 600, "1"), rec("a/[x]*/c", t0 + 601, "2"), rec("z/%_/q", t0 + 602, "3"), rec("A/b/c", t0 + 603, "4"));
      await store.insert(rows);
      const q = (topic: string | string[]) => store.messages({ topic, from: t0, to: t0 + 1000, limit: 10 }).then((r) => r.map((m) => m.topic));
      assert.deepEqual(await q("a/+/c"), ["a/b/c", "a/[x]*/c"]);
      assert.deepEqual(await q(["a/b/c", "z/+/q", "A/#"]), ["a/b/c", "z/%_/q", "A/b/c"]);
      assert.deepEqual(await q("a/[x]*/c"), ["a/[x]*/c"]);
      const pts = await store.buckets({ topic: ["a/+/c", "z/#"], from: t0, to: t0 + 1000, limit: 100 }, 60_000);
      assert.deepEqual(pts.map((p) => [p.topic, p.count]), [["a/[x]*/c", 1], ["a/b/c", 1], ["z/%_/q", 1]]);
    });

    it("stops a read at its size budget, keeping the message that crosses it", async () => {
      await store.insert([rec("big", t0, "x".repeat(600)), rec("big", t0 + 1, "y".repeat(600)), rec("big", t0 + 2, "z")]);
      const rows = await store.messages({ topic: "big", from: t0, to: t0 + 10, limit: 10, maxBytes: 1000 });
      assert.equal(rows.length, 2);
    });

    it("stores a redelivered (DUP) QoS 1 message once, but a new message with a reused packet id again", async () => {
      const first = rec("s/t", t0, "42", { messageId: 7 });
      assert.equal(await store.insert([first]), 1);
      assert.equal(await store.insert([{ ...first, at: t0 + 500, dup: true }]), 0, "the redelivery");
      assert.equal(await store.insert([rec("s/t", t0 + 600, "43", { messageId: 7 })]), 1, "a new message, id reused");
      assert.equal(await store.count(), 2);
    });

    it("buckets numeric values: count, min, max, mean", async () => {
      const rows = [];
      for (let i = 0; i < 10; i++) rows.push(rec("temp", t0 + i * 60_000, String(20 + i)));
      rows.push(rec("temp", t0 + 30_000, "not a number"));
      await store.insert(rows);
      const pts = await store.buckets({ topic: "temp", from: t0, to: t0 + 10 * 60_000, limit: 100 }, 5 * 60_000);
      assert.deepEqual(pts.map((p) => [p.t - t0, p.count, p.min, p.max, p.mean]), [
        [0, 6, 20, 24, 22],
        [5 * 60_000, 5, 25, 29, 27],
      ]);
    });

    it("rolls old messages up hourly before deleting them, and charts still see them", async () => {
      const old = t0 - 40 * 86_400_000;
      await store.insert([rec("temp", old, "10"), rec("temp", old + 60_000, "20"), rec("temp", t0, "30")]);
      const result = await store.prune(t0 - 30 * 86_400_000, t0 - 365 * 86_400_000);
      assert.equal(result.deleted, 2);
      assert.equal(await store.count(), 1);
      const pts = await store.buckets({ topic: "temp", from: old - HOUR_MS, to: t0 + 1, limit: 100 }, 86_400_000);
      const first = pts[0]!;
      assert.equal(first.mean, 15);
      assert.equal(first.min, 10);
      assert.equal(first.max, 20);
      assert.equal(pts[pts.length - 1]!.mean, 30);
    });

    it("lists every topic with its last value", async () => {
      await store.insert([rec("a", t0, "1"), rec("a", t0 + 1, "2"), rec("b", t0, "x")]);
      const topics = await store.topics();
      assert.deepEqual(topics.map((t) => [t.topic, t.count, t.lastValue, t.lastPayload]), [
        ["a", 2, 2, "2"],
        ["b", 1, null, "x"],
      ]);
    });

    it("keeps binary payloads byte for byte and odd topics as they are", async () => {
      const bin = Buffer.from([0, 255, 1, 254]);
      await store.insert([{ ...rec("odd/tøpic with spaces/ß/😀", t0, ""), payload: bin, value: null }]);
      const [m] = await store.messages({ topic: "odd/tøpic with spaces/ß/😀", from: t0, to: t0 + 1, limit: 1 });
      assert.equal(m?.payload, `base64:${bin.toString("base64")}`);
    });
  });
}

describe("history store on SQLite: the redelivery look-up", () => {
  it("uses the (client, packet id) index, so its cost does not grow with a topic's messages", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-hist-plan-"));
    const store = new SqliteHistoryStore(dir);
    try {
      const rows = [];
      for (let i = 0; i < 2000; i++) rows.push(rec("busy/topic", Date.now() + i, String(i), { messageId: i % 65535 }));
      await store.insert(rows);
      assert.match(store.repeatPlan(), /history_messages_client_mid/);
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
