// The runtime's metrics: their names, types and labels as a Prometheus scrape reads them, each fed from the real place
// (a real outbox on SQLite, a real commit batcher, the dead-letter record, Node-RED's log message shape), and one
// registry per runtime: two never share a counter.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import mqtt from "mqtt";
import { EmbeddedBroker } from "../../nodes/lib/broker/embedded-broker";
import { SqlitePersistence } from "../../nodes/lib/broker/sqlite-persistence";
import { DeadLetterFile } from "../../nodes/lib/dead-letter";
import { CommitBatcher } from "../../nodes/lib/history/commit-batcher";
import type { HistoryRecord, HistoryStore } from "../../nodes/lib/history/types";
import { METRIC_NAMES, NODE_RED_ERROR_LEVEL, RuntimeMetrics } from "../../nodes/lib/metrics/runtime-metrics";
import { Outbox } from "../../nodes/lib/outbox/outbox";
import { OutboxRegistry } from "../../nodes/lib/outbox/registry";
import { SqlitePool } from "../../nodes/lib/store/sqlite";
import { FakeClock } from "../support/fake-clock";
import { until } from "../support/until";
import { parseExposition, sampleSum, sampleValue, type Family } from "../support/prometheus";

async function scrape(m: RuntimeMetrics): Promise<Map<string, Family>> {
  const { contentType, body } = await m.exposition();
  assert.match(contentType, /^text\/plain; version=0\.0\.4/);
  return parseExposition(body);
}

/** A history store that commits in memory, or fails while `failing` says why. */
function memoryStore(): HistoryStore & { failing: string | null; rows: HistoryRecord[] } {
  const store = {
    kind: "sqlite" as const,
    failing: null as string | null,
    rows: [] as HistoryRecord[],
    insert: async (records: HistoryRecord[]) => {
      if (store.failing) throw new Error(store.failing);
      store.rows.push(...records);
      return records.length;
    },
    messages: async () => [],
    buckets: async () => [],
    topics: async () => [],
    prune: async () => ({ rolledUp: 0, deleted: 0 }),
    count: async () => store.rows.length,
    close: async () => undefined,
  };
  return store;
}

function record(n: number): HistoryRecord {
  return { topic: `pifog/hub/t${n}`, payload: Buffer.from(String(n)), value: n, at: 0, qos: 1, retain: false, clientId: null, messageId: null, dup: false };
}

describe("runtime metrics", () => {
  let dataDir: string;
  let clock: FakeClock;
  let outboxes: OutboxRegistry;
  let pool: SqlitePool;
  let metrics: RuntimeMetrics;

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-metrics-"));
    clock = new FakeClock();
    outboxes = new OutboxRegistry();
    pool = new SqlitePool();
    metrics = new RuntimeMetrics({ clock, dataDir, outboxes });
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("exposes every PiFog metric with its type, help and labels, at zero before anything happened", async () => {
    const f = await scrape(metrics);
    const expected: Array<[string, string]> = [
      [METRIC_NAMES.brokerClients, "gauge"],
      [METRIC_NAMES.received, "counter"],
      [METRIC_NAMES.sent, "counter"],
      [METRIC_NAMES.refused, "counter"],
      [METRIC_NAMES.outboxDepth, "gauge"],
      [METRIC_NAMES.outboxAge, "gauge"],
      [METRIC_NAMES.outboxFailures, "gauge"],
      [METRIC_NAMES.commitSeconds, "histogram"],
      [METRIC_NAMES.rows, "counter"],
      [METRIC_NAMES.commitFailures, "counter"],
      [METRIC_NAMES.deadLetters, "counter"],
      [METRIC_NAMES.nodeErrors, "counter"],
      [METRIC_NAMES.health, "gauge"],
    ];
    for (const [name, type] of expected) {
      assert.equal(f.get(name)?.type, type, name);
      assert.ok(f.get(name)!.help.length > 10, `${name} has a help text`);
      assert.match(name, /^pifog_[a-z_]+$/);
      if (type === "counter") assert.match(name, /_total$/, `${name}: a counter's name ends in _total`);
    }
    for (const qos of ["0", "1", "2"]) {
      assert.equal(sampleValue(f, METRIC_NAMES.received, { qos }), 0);
      assert.equal(sampleValue(f, METRIC_NAMES.sent, { qos }), 0);
    }
    assert.equal(sampleValue(f, METRIC_NAMES.refused, { reason: "not-allowed" }), 0);
    assert.equal(sampleValue(f, METRIC_NAMES.refused, { reason: "not-stored" }), 0);
    assert.equal(sampleValue(f, METRIC_NAMES.brokerClients), 0);
    // no process metrics until the launcher asks for them (each would start an event-loop monitor)
    assert.equal(f.get("process_resident_memory_bytes"), undefined);
  });

  it("counts the broker's messages by QoS and its refusals by reason, and reads its clients when scraped", async () => {
    let clients = 2;
    metrics.watchBroker({ state: () => ({ listening: true, clients, store: null }) });
    const b = metrics.brokerObserver;
    b.received(0);
    b.received(1);
    b.received(1);
    b.sent(1);
    b.refused("not-allowed");
    b.refused("not-stored");
    b.refused("not-allowed");
    let f = await scrape(metrics);
    assert.equal(sampleValue(f, METRIC_NAMES.received, { qos: "0" }), 1);
    assert.equal(sampleValue(f, METRIC_NAMES.received, { qos: "1" }), 2);
    assert.equal(sampleValue(f, METRIC_NAMES.sent, { qos: "1" }), 1);
    assert.equal(sampleValue(f, METRIC_NAMES.refused, { reason: "not-allowed" }), 2);
    assert.equal(sampleValue(f, METRIC_NAMES.refused, { reason: "not-stored" }), 1);
    assert.equal(sampleValue(f, METRIC_NAMES.brokerClients), 2);
    clients = 5;
    f = await scrape(metrics);
    assert.equal(sampleValue(f, METRIC_NAMES.brokerClients), 5);
  });

  it("is told by a real embedded broker: messages in and out by QoS, refusals by reason, its clients and its store", async () => {
    const broker = await EmbeddedBroker.start({
      port: 0,
      host: "127.0.0.1",
      observer: metrics.brokerObserver,
      persistence: new SqlitePersistence({ file: path.join(dataDir, "broker.db") }),
      sysIntervalMs: 0,
    });
    metrics.watchBroker(broker);
    // a store that fails for one topic: the broker refuses the PUBLISH rather than acknowledge what it did not keep
    broker.intercept((packet) => (packet.topic === "pifog/x/sim/unstorable" ? Promise.reject(new Error("disk full")) : undefined));
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const login = { ...broker.runtimeCredentials, reconnectPeriod: 0 };
    try {
      const sub = await mqtt.connectAsync(url, { ...login, clientId: "sub" });
      const got: string[] = [];
      sub.on("message", (topic) => got.push(topic));
      await sub.subscribeAsync("pifog/x/sim/#", { qos: 1 });
      const pub = await mqtt.connectAsync(url, { ...login, clientId: "pub" });
      await pub.publishAsync("pifog/x/sim/a", "0", { qos: 0 });
      await pub.publishAsync("pifog/x/sim/b", "1", { qos: 1 });
      await pub.publishAsync("pifog/x/sim/c", "1", { qos: 1 });
      const f1 = await scrape(metrics);
      assert.equal(sampleValue(f1, METRIC_NAMES.brokerClients), 2);
      await until(() => got.length === 3, "the three messages delivered");
      const closedUnstored = new Promise<void>((resolve) => pub.once("close", () => resolve()));
      pub.publish("pifog/x/sim/unstorable", "x", { qos: 1 });
      await closedUnstored;
      pub.end(true);
      // anonymous from loopback may read, not command a device
      const anon = await mqtt.connectAsync(url, { clientId: "anon", reconnectPeriod: 0 });
      const closedAnon = new Promise<void>((resolve) => anon.once("close", () => resolve()));
      anon.publish("pifog/buttonpi/command", "{}", { qos: 1 });
      await closedAnon;
      anon.end(true);
      const f = await scrape(metrics);
      assert.equal(sampleValue(f, METRIC_NAMES.received, { qos: "0" }), 1);
      assert.equal(sampleValue(f, METRIC_NAMES.received, { qos: "1" }), 2);
      assert.deepEqual(got.sort(), ["pifog/x/sim/a", "pifog/x/sim/b", "pifog/x/sim/c"]);
      assert.equal(sampleValue(f, METRIC_NAMES.sent, { qos: "0" }), 1);
      assert.equal(sampleValue(f, METRIC_NAMES.sent, { qos: "1" }), 2);
      assert.equal(sampleValue(f, METRIC_NAMES.refused, { reason: "not-stored" }), 1);
      assert.equal(sampleValue(f, METRIC_NAMES.refused, { reason: "not-allowed" }), 1);
      await until(() => broker.state().clients === 1, "the refused clients gone");
      assert.deepEqual(metrics.health().components.broker, { status: "ok", reasons: [], details: { kind: "embedded", clients: 1, persistent: true } });
      await sub.endAsync();
    } finally {
      await broker.close();
    }
    const after = metrics.health().components.broker;
    assert.equal(after.status, "down");
    assert.match(after.reasons.join("; "), /not listening/);
  });

  it("reports each open outbox's depth, age and failures per bridge, and forgets a closed one", async () => {
    const outbox = new Outbox<{ n: number }>({
      dataDir,
      pool,
      registry: outboxes,
      queue: "thingspeak/4242",
      clock,
      backoff: { initialMs: 1000 },
      deliver: async () => {
        throw new Error("HTTP 503 from api.thingspeak.com");
      },
    });
    outbox.put({ n: 1 });
    clock.tick(30_000);
    outbox.put({ n: 2 });
    let f = await scrape(metrics);
    const labels = { bridge: "thingspeak", queue: "thingspeak/4242" };
    assert.equal(sampleValue(f, METRIC_NAMES.outboxDepth, labels), 2);
    assert.equal(sampleValue(f, METRIC_NAMES.outboxAge, labels), 30);
    assert.equal(sampleValue(f, METRIC_NAMES.outboxFailures, labels), 0);
    outbox.start();
    clock.tick(0);
    await outbox.settled();
    f = await scrape(metrics);
    assert.equal(sampleValue(f, METRIC_NAMES.outboxFailures, labels), 1);
    const health = metrics.health().components.outboxes;
    assert.equal(health.status, "degraded");
    assert.match(health.reasons[0]!, /thingspeak\/4242: the bridge is down .*HTTP 503/);
    await outbox.close();
    f = await scrape(metrics);
    assert.equal(sampleValue(f, METRIC_NAMES.outboxDepth, labels), undefined);
    assert.equal(metrics.health().components.outboxes.status, "ok");
  });

  it("times the history commits and counts their rows and failures; a failing store is down until it commits again", async () => {
    const store = memoryStore();
    const observer = metrics.historyCommits("history-1", store.kind);
    const batcher = new CommitBatcher(store, { maxBatch: 10, maxDelayMs: 0, clock, observer });
    await Promise.all([1, 2, 3].map((n) => batcher.add(record(n))));
    let f = await scrape(metrics);
    assert.equal(sampleValue(f, METRIC_NAMES.rows, { store: "sqlite" }), 3);
    const commits = sampleValue(f, `${METRIC_NAMES.commitSeconds}_count`, { store: "sqlite" })!;
    assert.ok(commits >= 1 && commits <= 3, `${commits} commits`);
    assert.equal(sampleValue(f, `${METRIC_NAMES.commitSeconds}_bucket`, { store: "sqlite", le: "+Inf" }), commits);
    store.failing = "SQLITE_FULL: database or disk is full";
    await assert.rejects(batcher.add(record(4)), /SQLITE_FULL/);
    f = await scrape(metrics);
    assert.equal(sampleValue(f, METRIC_NAMES.commitFailures, { store: "sqlite" }), 1);
    const down = metrics.health().components.stores;
    assert.equal(down.status, "down");
    assert.match(down.reasons[0]!, /history history-1 \(sqlite\) cannot commit: SQLITE_FULL/);
    store.failing = null;
    await batcher.add(record(5));
    assert.equal(metrics.health().components.stores.status, "ok");
    observer.closed();
    assert.deepEqual(metrics.health().components.stores.details, { history: [] });
    await batcher.close();
  });

  it("counts the dead-letter record's letters by node type", async () => {
    const letters = new DeadLetterFile(dataDir, (l) => metrics.deadLetter(l.type));
    letters.append({ node: "n1", type: "history", error: "not JSON", topic: "pifog/x", payload: "{" });
    letters.append({ node: "n1", type: "history", error: "not JSON", topic: "pifog/x", payload: "[" });
    letters.append({ node: "n2", type: "door-sensor", error: "bad state" });
    assert.equal(letters.read().length, 3);
    const f = await scrape(metrics);
    assert.equal(sampleValue(f, METRIC_NAMES.deadLetters, { type: "history" }), 2);
    assert.equal(sampleValue(f, METRIC_NAMES.deadLetters, { type: "door-sensor" }), 1);
  });

  it("counts the errors nodes log, by type and id; warnings and the runtime's own lines are not node errors", async () => {
    metrics.logged({ level: NODE_RED_ERROR_LEVEL, id: "abc", type: "thingspeak", msg: "HTTP 401" });
    metrics.logged({ level: NODE_RED_ERROR_LEVEL, id: "abc", type: "thingspeak", msg: "HTTP 401" });
    metrics.logged({ level: 30, id: "abc", type: "thingspeak", msg: "a warning" });
    metrics.logged({ level: NODE_RED_ERROR_LEVEL, msg: "the runtime's own error" });
    const f = await scrape(metrics);
    assert.equal(sampleValue(f, METRIC_NAMES.nodeErrors, { type: "thingspeak", node: "abc" }), 2);
    assert.equal(sampleSum(f, METRIC_NAMES.nodeErrors), 2);
  });

  it("adds the process's memory and event-loop lag once asked, under their usual names", async () => {
    metrics.collectProcessMetrics();
    metrics.collectProcessMetrics();
    const f = await scrape(metrics);
    assert.ok(sampleValue(f, "process_resident_memory_bytes")! > 0);
    assert.ok(sampleValue(f, "nodejs_heap_size_used_bytes")! > 0);
    assert.equal(f.get("nodejs_eventloop_lag_seconds")?.type, "gauge");
    assert.equal(f.get("nodejs_eventloop_lag_p99_seconds")?.type, "gauge");
  });

  it("keeps one registry per runtime: another runtime's counters are its own", async () => {
    const other = new RuntimeMetrics({ clock, dataDir, outboxes: new OutboxRegistry() });
    metrics.brokerObserver.received(1);
    assert.equal(sampleValue(await scrape(other), METRIC_NAMES.received, { qos: "1" }), 0);
    assert.equal(sampleValue(await scrape(metrics), METRIC_NAMES.received, { qos: "1" }), 1);
  });

  it("shows its health judgement as a gauge per component", async () => {
    const f = await scrape(metrics);
    // no flows started here: the flows (and so the whole) are down
    assert.equal(sampleValue(f, METRIC_NAMES.health, { component: "flows" }), 2);
    assert.equal(sampleValue(f, METRIC_NAMES.health, { component: "overall" }), 2);
    assert.equal(sampleValue(f, METRIC_NAMES.health, { component: "outboxes" }), 0);
  });
});
