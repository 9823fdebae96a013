import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DeliveryError, Outbox, OutboxBusyError, type OutboxItem, type OutboxOptions } from "../../nodes/lib/outbox/outbox";
import { dataDatabase, SqlitePool } from "../../nodes/lib/store/sqlite";
import { FakeClock } from "../support/fake-clock";

interface Msg {
  n: number;
}

describe("outbox", () => {
  let root: string;
  let dataDir: string;
  let clock: FakeClock;
  let n = 0;
  const open: Array<Outbox<Msg>> = [];

  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-outbox-"));
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));
  beforeEach(() => {
    dataDir = path.join(root, `data-${n++}`);
    clock = new FakeClock();
  });
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close();
  });

  /** Delivered batches, as the numbers they carried. */
  function recorder() {
    const batches: number[][] = [];
    const deliver = async (items: OutboxItem<Msg>[]) => {
      batches.push(items.map((i) => i.payload.n));
    };
    return { batches, deliver };
  }

  // the runtime's open database files: its outboxes see each other's queues
  const pool = new SqlitePool();

  function outbox(options: Partial<OutboxOptions<Msg>> & Pick<OutboxOptions<Msg>, "deliver">): Outbox<Msg> {
    const o = new Outbox<Msg>({ dataDir, pool, queue: "test", clock, ...options });
    open.push(o);
    return o;
  }

  async function close(o: Outbox<Msg>): Promise<void> {
    open.splice(open.indexOf(o), 1);
    await o.close();
  }

  /** Lets every timer due by now fire and every delivery it starts finish. */
  async function run(o: Outbox<Msg>, ms = 0): Promise<void> {
    clock.tick(ms);
    await o.settled();
    for (let i = 0; i < 50; i++) {
      clock.tick(0);
      await o.settled();
    }
  }

  function rowsOnDisk(queue = "test"): number {
    const handle = dataDatabase(dataDir, "outbox");
    try {
      return (handle.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE queue = ?").get(queue) as { n: number }).n;
    } finally {
      handle.release();
    }
  }

  it("delivers what was put, oldest first, and deletes it only after the delivery succeeded", async () => {
    let release!: () => void;
    const seen: number[][] = [];
    const o = outbox({
      deliver: (items) => {
        seen.push(items.map((i) => i.payload.n));
        return new Promise<void>((resolve) => (release = resolve));
      },
    });
    o.putMany([{ n: 1 }, { n: 2 }]);
    o.put({ n: 3 });
    assert.equal(o.size, 3);
    assert.equal(rowsOnDisk(), 3);
    o.start();
    clock.tick(0);
    assert.deepEqual(seen, [[1, 2, 3]]);
    // in flight: still on disk
    assert.equal(o.size, 3);
    assert.equal(rowsOnDisk(), 3);
    release();
    await o.settled();
    assert.equal(o.size, 0);
    assert.equal(rowsOnDisk(), 0);
    assert.equal(o.oldestAt(), null);
  });

  it("keeps the order in batches of at most batchSize, spaced by the minimum interval", async () => {
    const { batches, deliver } = recorder();
    const o = outbox({ deliver, batchSize: 2, minIntervalMs: 1000 });
    o.putMany([1, 2, 3, 4, 5].map((n) => ({ n })));
    o.start();
    // a start counts as an attempt: a quick restart keeps the receiver's rate limit too
    await run(o, 999);
    assert.deepEqual(batches, []);
    await run(o, 1);
    assert.deepEqual(batches, [[1, 2]]);
    await run(o, 999);
    assert.deepEqual(batches, [[1, 2]]);
    await run(o, 1);
    assert.deepEqual(batches, [[1, 2], [3, 4]]);
    o.put({ n: 6 });
    await run(o, 1000);
    assert.deepEqual(batches, [[1, 2], [3, 4], [5, 6]]);
    assert.equal(o.size, 0);
  });

  it("acks only the leading part that the delivery reports, and sends the rest next", async () => {
    const batches: number[][] = [];
    const o = outbox({
      batchSize: 10,
      deliver: async (items) => {
        batches.push(items.map((i) => i.payload.n));
        return { count: 2 };
      },
    });
    o.putMany([1, 2, 3, 4, 5].map((n) => ({ n })));
    o.start();
    await run(o);
    assert.deepEqual(batches, [[1, 2, 3, 4, 5], [3, 4, 5], [5]]);
    assert.equal(o.size, 0);
  });

  it("retries a failed delivery with exponential backoff up to the cap, keeping every item", async () => {
    const attempts: Array<{ at: number; attempts: number[] }> = [];
    let fail = true;
    const start = clock.now();
    const o = outbox({
      backoff: { initialMs: 1000, factor: 2, maxMs: 5000 },
      deliver: async (items) => {
        attempts.push({ at: clock.now() - start, attempts: items.map((i) => i.attempts) });
        if (fail) throw new Error("endpoint down");
      },
    });
    const failures: Array<[string, number]> = [];
    o.on("failed", (err, wait) => failures.push([err.message, wait]));
    o.putMany([{ n: 1 }, { n: 2 }]);
    o.start();
    await run(o);
    for (let t = 0; t < 20_000; t += 100) await run(o, 100);
    // 0, +1 s, +2 s, +4 s, then every 5 s (the cap)
    assert.deepEqual(attempts.slice(0, 6).map((a) => a.at), [0, 1000, 3000, 7000, 12_000, 17_000]);
    assert.deepEqual(failures.slice(0, 5).map((f) => f[1]), [1000, 2000, 4000, 5000, 5000]);
    assert.equal(failures[0]?.[0], "endpoint down");
    assert.equal(o.size, 2);
    assert.equal(o.snapshot().lastError, "endpoint down");
    // each attempt is counted on the items
    assert.deepEqual(attempts[2]?.attempts, [3, 3]);

    fail = false;
    const before = attempts.length;
    await run(o, 5000);
    assert.equal(attempts.length, before + 1);
    assert.equal(o.size, 0);
    assert.equal(o.snapshot().failures, 0);
    assert.equal(o.snapshot().lastError, null);
  });

  it("waits as long as a DeliveryError asks (a Retry-After, a bad key), and never less than the minimum interval", async () => {
    const times: number[] = [];
    const start = clock.now();
    let answers = [new DeliveryError("rate limited", { retryAfterMs: 30_000 }), new DeliveryError("soon", { retryAfterMs: 10 })];
    const o = outbox({
      minIntervalMs: 500,
      deliver: async () => {
        times.push(clock.now() - start);
        const answer = answers.shift();
        if (answer) throw answer;
      },
    });
    o.put({ n: 1 });
    o.start();
    await run(o, 500);
    await run(o, 29_999);
    assert.deepEqual(times, [500]);
    await run(o, 1);
    assert.deepEqual(times, [500, 30_500]);
    await run(o, 499);
    assert.deepEqual(times, [500, 30_500]);
    await run(o, 1);
    assert.deepEqual(times, [500, 30_500, 31_000]);
    assert.equal(o.size, 0);
    answers = [];
  });

  it("does not retry earlier because more items arrive while it backs off", async () => {
    const times: number[] = [];
    const start = clock.now();
    let fail = true;
    const o = outbox({
      backoff: { initialMs: 10_000 },
      deliver: async () => {
        times.push(clock.now() - start);
        if (fail) throw new Error("down");
      },
    });
    o.put({ n: 1 });
    o.start();
    await run(o);
    await run(o, 1000);
    o.put({ n: 2 });
    await run(o, 1000);
    assert.deepEqual(times, [0]);
    fail = false;
    await run(o, 8000);
    assert.deepEqual(times, [0, 10_000]);
    assert.equal(o.size, 0);
  });

  it("holds items that select says may not go yet, without counting a failure", async () => {
    const { batches, deliver } = recorder();
    const start = clock.now();
    const o = outbox({
      deliver,
      // only items at least 5 s old may go
      select: (items, now) => {
        const ready = items.filter((i) => i.createdAt + 5000 <= now).length;
        return ready > 0 ? ready : { waitUntil: (items[0] as OutboxItem<Msg>).createdAt + 5000 };
      },
    });
    o.start();
    o.put({ n: 1 });
    await run(o, 2000);
    o.put({ n: 2 });
    await run(o, 2999);
    assert.deepEqual(batches, []);
    assert.equal(o.snapshot().failures, 0);
    assert.equal(o.snapshot().nextAttemptAt, start + 5000);
    await run(o, 1);
    assert.deepEqual(batches, [[1]]);
    await run(o, 2000);
    assert.deepEqual(batches, [[1], [2]]);
  });

  it("keeps every item and its order across close and reopen, and new ones come after", async () => {
    const first = outbox({ deliver: async () => undefined });
    first.putMany([{ n: 1 }, { n: 2 }]);
    const putAt = clock.now();
    await close(first);
    clock.tick(60_000);

    const { batches, deliver } = recorder();
    const second = outbox({ deliver });
    assert.equal(second.size, 2);
    assert.equal(second.oldestAt(), putAt);
    assert.equal(second.oldestAgeMs(), 60_000);
    second.put({ n: 3 });
    assert.deepEqual(second.peek().map((i) => i.payload.n), [1, 2, 3]);
    second.start();
    await run(second);
    assert.deepEqual(batches, [[1, 2, 3]]);
  });

  it("delivers again after a close in the middle of a delivery (nothing was acked)", async () => {
    const first = outbox({
      deliver: (_items, signal) =>
        new Promise<void>((_resolve, reject) => signal.addEventListener("abort", () => reject(signal.reason as Error))),
    });
    first.putMany([{ n: 1 }, { n: 2 }]);
    first.start();
    clock.tick(0);
    assert.equal(first.snapshot().delivering, true);
    await close(first);

    const got: Array<OutboxItem<Msg>> = [];
    const second = outbox({ deliver: async (items) => void got.push(...items) });
    assert.equal(second.size, 2);
    second.start();
    await run(second);
    assert.deepEqual(got.map((i) => [i.payload.n, i.attempts]), [[1, 2], [2, 2]]);
    assert.equal(second.size, 0);
  });

  it("delivers again after the process is killed in the middle of a delivery", async function () {
    this.timeout(20_000);
    const outboxModule = require.resolve("../../nodes/lib/outbox/outbox");
    const script = `
      const { Outbox } = require(${JSON.stringify(outboxModule)});
      const clock = { now: () => Date.now(), setTimeout, clearTimeout, setInterval, clearInterval };
      const o = new Outbox({ dataDir: ${JSON.stringify(dataDir)}, queue: "test", clock,
        deliver: () => { process.stdout.write("delivering\\n"); return new Promise(() => {}); } });
      o.putMany([{ n: 1 }, { n: 2 }, { n: 3 }]);
      o.start();
    `;
    const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (d: Buffer) => d.toString().includes("delivering") && resolve());
      child.on("exit", (code) => reject(new Error(`child exited early (${code})`)));
    });
    child.removeAllListeners("exit");
    const exited = new Promise((resolve) => child.on("exit", resolve));
    child.kill("SIGKILL");
    await exited;

    const { batches, deliver } = recorder();
    const o = outbox({ deliver });
    assert.equal(o.size, 3);
    assert.deepEqual(o.peek().map((i) => i.attempts), [1, 1, 1]);
    o.start();
    await run(o);
    assert.deepEqual(batches, [[1, 2, 3]]);
  });

  it("saves the delivery's state with the ack, and keeps it across a reopen", async () => {
    const first = outbox({ deliver: async (items) => ({ state: { last: items[items.length - 1]?.payload.n } }) });
    assert.equal(first.state(), undefined);
    first.putMany([{ n: 7 }, { n: 8 }]);
    first.start();
    await run(first);
    assert.deepEqual(first.state(), { last: 8 });
    await close(first);
    const second = outbox({ deliver: async () => undefined });
    assert.deepEqual(second.state(), { last: 8 });
  });

  it("keeps queues apart in one file, and refuses to open one queue twice", async () => {
    const a = outbox({ queue: "a", deliver: async () => undefined });
    const b = outbox({ queue: "b", deliver: async () => undefined });
    a.putMany([{ n: 1 }, { n: 2 }]);
    b.put({ n: 3 });
    assert.equal(a.size, 2);
    assert.equal(b.size, 1);
    assert.throws(() => outbox({ queue: "a", deliver: async () => undefined }), OutboxBusyError);
    await close(a);
    const again = outbox({ queue: "a", deliver: async () => undefined });
    assert.deepEqual(again.peek().map((i) => i.payload.n), [1, 2]);
  });

  it("keeps draining when a listener throws, and refuses puts after close", async () => {
    const { batches, deliver } = recorder();
    const o = outbox({ deliver });
    o.on("change", () => {
      throw new Error("a broken listener");
    });
    o.on("delivered", () => {
      throw new Error("another");
    });
    o.put({ n: 1 });
    o.start();
    await run(o);
    o.put({ n: 2 });
    await run(o);
    assert.deepEqual(batches, [[1], [2]]);
    await close(o);
    assert.throws(() => o.put({ n: 3 }), /closed/);
  });
});
