import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Node } from "node-red";
import { DeliveryReport, openOutbox, runOutbox, StatusThrottle, type Failure } from "../../nodes/lib/outbox/bridge";
import { Outbox, type OutboxItem, type OutboxOptions } from "../../nodes/lib/outbox/outbox";
import { SqlitePool } from "../../nodes/lib/store/sqlite";
import { FakeClock } from "../support/fake-clock";

interface Msg {
  n: number;
}

interface Status {
  fill: string;
  shape: string;
  text: string;
}

/** Just what the bridge uses of a Node-RED node: its status, its log and its close. */
function fakeNode() {
  const statuses: Status[] = [];
  const errors: string[] = [];
  const closers: Array<(done: () => void) => void> = [];
  const node = {
    status: (s: Status) => statuses.push(s),
    error: (e: unknown) => errors.push(String(e)),
    on: (event: string, fn: (done: () => void) => void) => {
      if (event === "close") closers.push(fn);
    },
  };
  const close = () => Promise.all(closers.map((fn) => new Promise<void>((resolve) => fn(resolve))));
  return { node: node as unknown as Node, statuses, errors, close };
}

describe("outbox bridge", () => {
  const PERMANENT_RETRY_MS = 60_000;
  let dataDir: string;
  let clock: FakeClock;
  const open: Array<Outbox<Msg>> = [];

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-bridge-"));
    clock = new FakeClock();
  });
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  // the runtime's open database files: its outboxes see each other's queues
  const pool = new SqlitePool();

  function outbox(deliver: OutboxOptions<Msg>["deliver"], batchSize = 1): Outbox<Msg> {
    const o = new Outbox<Msg>({ dataDir, pool, queue: "test", clock, batchSize, backoff: { initialMs: 1000, factor: 2, maxMs: 30_000 }, deliver });
    open.push(o);
    return o;
  }

  /** Moves the clock by `ms`, then lets the deliveries it starts (and any retry due at once) finish. */
  async function run(o: Outbox<Msg>, ms = 0): Promise<void> {
    clock.tick(ms);
    for (let i = 0; i < 20; i++) {
      await o.settled();
      clock.tick(0);
    }
  }

  /** A bridge whose receiver fails as `answer` says (null: it takes the item). */
  function bridge(answer: (item: OutboxItem<Msg>) => Failure | null, batchSize = 1) {
    const fake = fakeNode();
    const report = new DeliveryReport(fake.node, PERMANENT_RETRY_MS);
    const delivered: number[] = [];
    const failures = new Map<Error, Failure>();
    const one = async (item: OutboxItem<Msg>) => {
      const failure = answer(item);
      if (failure) {
        const err = new Error(failure.status);
        failures.set(err, failure);
        throw err;
      }
      delivered.push(item.payload.n);
      return `sent ${item.payload.n}`;
    };
    const o = outbox((items, signal) => report.each(items, signal, one, (err) => failures.get(err as Error)!), batchSize);
    const show = () => report.show(o.size, `${o.size} queued`);
    return { ...fake, report, delivered, o, show };
  }

  const badKey: Failure = { permanent: true, status: "invalid_auth", log: "the receiver refuses the key" };

  it("a permanent failure: red, logged once however often it is retried, retried after the long wait", async () => {
    let fix = false;
    const b = bridge(() => (fix ? null : badKey));
    b.o.put({ n: 1 });
    b.o.start();
    await run(b.o);
    const failedAt = clock.now();
    assert.deepEqual(b.errors, ["the receiver refuses the key"]);
    assert.equal(b.o.snapshot().retryAt, failedAt + PERMANENT_RETRY_MS, "the long wait, not the 1 s backoff");
    b.show();
    assert.deepEqual(b.statuses.at(-1), { fill: "red", shape: "ring", text: "1 queued · invalid_auth" });

    await run(b.o, PERMANENT_RETRY_MS);
    await run(b.o, PERMANENT_RETRY_MS);
    assert.equal(b.o.snapshot().failures, 3);
    assert.equal(b.errors.length, 1, "logged once, not per retry");
    assert.equal(b.o.size, 1, "nothing dropped");

    fix = true;
    await run(b.o, PERMANENT_RETRY_MS);
    assert.deepEqual(b.delivered, [1]);
    b.show();
    assert.deepEqual(b.statuses.at(-1), { fill: "green", shape: "dot", text: "0 queued · sent 1" });
  });

  it("each distinct permanent failure is logged once, and again after a success in between", async () => {
    const answers: Array<Failure | null> = [badKey, { ...badKey, status: "channel_not_found", log: "no such channel" }, badKey, null, badKey];
    const b = bridge(() => answers.shift() ?? null);
    b.o.put({ n: 1 });
    b.o.start();
    for (let i = 0; i < 4; i++) await run(b.o, PERMANENT_RETRY_MS);
    assert.deepEqual(b.errors, ["the receiver refuses the key", "no such channel"]);
    assert.deepEqual(b.delivered, [1]);
    b.o.put({ n: 2 });
    await run(b.o, PERMANENT_RETRY_MS);
    assert.deepEqual(b.errors, ["the receiver refuses the key", "no such channel", "the receiver refuses the key"]);
  });

  it("a transient failure waits its Retry-After, or backs off without one; yellow, nothing logged", async () => {
    const answers: Array<Failure | null> = [
      { permanent: false, status: "ratelimited", log: "", retryAfterMs: 7000 },
      { permanent: false, status: "http_503", log: "" },
    ];
    const b = bridge(() => answers.shift() ?? null);
    b.o.put({ n: 1 });
    b.o.start();
    await run(b.o);
    assert.equal(b.o.snapshot().retryAt, clock.now() + 7000);
    b.show();
    assert.deepEqual(b.statuses.at(-1), { fill: "yellow", shape: "ring", text: "1 queued · ratelimited" });

    await run(b.o, 7000);
    assert.equal(b.o.snapshot().retryAt, clock.now() + 2000, "the outbox's own backoff (second failure)");
    assert.equal(b.o.snapshot().lastError, "http_503");
    await run(b.o, 2000);
    assert.deepEqual(b.delivered, [1]);
    assert.deepEqual(b.errors, []);
  });

  it("keys a failure and words the outbox's error as the node says", async () => {
    const b = bridge(() => ({ permanent: false, status: "error", key: "network", message: "connect ECONNREFUSED", log: "" }));
    b.o.put({ n: 1 });
    b.o.start();
    await run(b.o);
    assert.equal(b.o.snapshot().lastError, "connect ECONNREFUSED");
    assert.deepEqual(b.report.last, { kind: "warn", text: "error" });
  });

  it("delivers one by one: what went before a failure is acked, the rest stays queued in order", async () => {
    let down = true;
    const b = bridge((item) => (down && item.payload.n === 2 ? { permanent: false, status: "timeout", log: "" } : null), 3);
    b.o.putMany([{ n: 1 }, { n: 2 }, { n: 3 }]);
    b.o.start();
    await run(b.o);
    assert.deepEqual(b.delivered, [1]);
    assert.equal(b.o.size, 2);
    b.show();
    assert.deepEqual(b.statuses.at(-1), { fill: "yellow", shape: "ring", text: "2 queued · timeout" });
    down = false;
    await run(b.o, 30_000);
    assert.deepEqual(b.delivered, [1, 2, 3]);
  });

  it("a delivery cut short by the close keeps its items and is not reported as a failure", async () => {
    const fake = fakeNode();
    const report = new DeliveryReport(fake.node, PERMANENT_RETRY_MS);
    const hang = (_item: OutboxItem<Msg>, signal: AbortSignal) =>
      new Promise<string>((_resolve, reject) => signal.addEventListener("abort", () => reject(new Error("aborted"))));
    const o = outbox((items, signal) => report.each(items, signal, (item) => hang(item, signal), () => badKey));
    o.put({ n: 1 });
    o.start();
    clock.tick(0);
    await o.close();
    open.splice(open.indexOf(o), 1);
    assert.deepEqual(fake.errors, []);
    assert.equal(report.last, null);
    const again = outbox(async () => undefined);
    assert.equal(again.size, 1);
  });

  it("a queue another node has open: red status and one error in the node's words; other errors as they are", () => {
    outbox(async () => undefined);
    const fake = fakeNode();
    const second = openOutbox(fake.node, "this queue is in use", () => new Outbox<Msg>({ dataDir, pool, queue: "test", clock, deliver: async () => undefined }));
    assert.equal(second, null);
    assert.deepEqual(fake.errors, ["this queue is in use"]);
    assert.deepEqual(fake.statuses, [{ fill: "red", shape: "ring", text: "this queue is in use" }]);

    const other = fakeNode();
    const opened = openOutbox(other.node, "busy", () => {
      throw new Error("disk full");
    });
    assert.equal(opened, null);
    assert.deepEqual(other.errors, ["disk full"]);
  });

  it("runs the outbox with the node: the status follows the queue, and the node's close closes it", async () => {
    const fake = fakeNode();
    const report = new DeliveryReport(fake.node, PERMANENT_RETRY_MS);
    let held: Outbox<Msg> | null = outbox(async () => undefined);
    const o = held;
    runOutbox(fake.node, o, () => (held = null), () => report.show(o.size, `${o.size} queued`));
    assert.deepEqual(fake.statuses.at(-1), { fill: "green", shape: "dot", text: "0 queued" });
    o.put({ n: 1 });
    assert.deepEqual(fake.statuses.at(-1), { fill: "blue", shape: "ring", text: "1 queued" });
    await run(o);
    assert.equal(o.size, 0);
    assert.deepEqual(fake.statuses.at(-1), { fill: "green", shape: "dot", text: "0 queued" });

    await fake.close();
    open.splice(open.indexOf(o), 1);
    assert.equal(held, null, "the node lets go of it first");
    assert.throws(() => o.put({ n: 2 }), /closed/);
  });

  it("throttles the status: a burst shows once now and once at the end of the wait; `now` and stop", () => {
    const shown: number[] = [];
    const throttle = new StatusThrottle(clock, 1000, () => shown.push(clock.now()));
    const start = clock.now();
    for (let i = 0; i < 5; i++) throttle.refresh();
    assert.deepEqual(shown, [start]);
    clock.tick(500);
    throttle.refresh();
    clock.tick(499);
    assert.deepEqual(shown, [start]);
    clock.tick(1);
    assert.deepEqual(shown, [start, start + 1000]);
    throttle.refresh(true);
    assert.deepEqual(shown, [start, start + 1000, start + 1000]);
    throttle.refresh();
    throttle.stop();
    clock.tick(5000);
    throttle.refresh(true);
    assert.equal(shown.length, 3, "nothing after stop");
    assert.equal(clock.pending, 0);
  });
});
