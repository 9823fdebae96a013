// The SQLite history commits on its writer thread: the event loop (every flow, the broker) keeps running while a
// batch and its fsync are under way, the records are readable once insert() resolves, a redelivery is stored once,
// and a closed store refuses more with a clear error.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SqliteHistoryStore } from "../../nodes/lib/history/sqlite-store";
import type { HistoryRecord } from "../../nodes/lib/history/types";

const T0 = Date.UTC(2026, 11, 7, 3, 0, 0);

function rec(i: number, extra: Partial<HistoryRecord> = {}): HistoryRecord {
  return { topic: `pifog/doorpi/doors/${i % 7}`, at: T0 + i, payload: Buffer.from(`{"value":${i}}`), value: i, qos: 1, retain: false, clientId: "doorpi", messageId: null, dup: false, ...extra };
}

describe("the SQLite history's writer thread", function () {
  this.timeout(30_000);
  let dir: string;
  let store: SqliteHistoryStore;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-hist-writer-"));
    store = new SqliteHistoryStore(dir);
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("keeps the event loop running while a batch commits, and stores every record of it", async () => {
    const batch = Array.from({ length: 30_000 }, (_, i) => rec(i));
    let turns = 0;
    let committed = false;
    // counts turns of the event loop until the batch has committed (on the event loop, it would be none)
    const spin = async () => {
      while (!committed) {
        turns++;
        await new Promise((r) => setImmediate(r));
      }
    };
    const spinning = spin();
    const added = await store.insert(batch);
    committed = true;
    await spinning;
    assert.equal(added, 30_000);
    assert.ok(turns > 1, `the event loop turned ${turns} time(s) while 30 000 rows committed`);
    assert.equal(await store.count(), 30_000);
  });

  it("stores a redelivered QoS 1 message once, within a batch and across batches", async () => {
    const first = rec(1, { messageId: 42, dup: true });
    assert.equal(await store.insert([first, { ...first }]), 1);
    assert.equal(await store.insert([{ ...first, payload: Buffer.from(first.payload) }]), 0);
    assert.equal(await store.count(), 1);
    const [m] = await store.messages({ topic: first.topic, from: T0, to: T0 + 10, limit: 10 });
    assert.equal(m!.payload, '{"value":1}');
  });

  it("refuses records once closed, saying so", async () => {
    await store.insert([rec(1)]);
    await store.close();
    await assert.rejects(store.insert([rec(2)]), /closed/);
  });
});
