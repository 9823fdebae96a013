// GET /health's judgement: each component ok, degraded or down with why, the whole as its worst part, and what anyone
// (no sign-in) is told of it: up (200) or down (503), nothing else.
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { FlowWatch } from "../../nodes/lib/metrics/flow-watch";
import { publicHealth } from "../../nodes/lib/metrics/http";
import {
  DEFAULT_HEALTH_THRESHOLDS,
  judgeBroker,
  judgeFlows,
  judgeOutbox,
  judgeRuntime,
  judgeStores,
  worst,
  type RuntimeFacts,
} from "../../nodes/lib/metrics/runtime-health";
import type { OutboxSnapshot } from "../../nodes/lib/outbox/outbox";

const NOW = Date.UTC(2026, 11, 7, 8, 0, 0);

function outbox(over: Partial<OutboxSnapshot> = {}): OutboxSnapshot {
  return { queue: "thingspeak/123", size: 0, oldestAt: null, failures: 0, lastError: null, lastDeliveredAt: null, nextAttemptAt: null, retryAt: null, delivering: false, ...over };
}

function healthy(): RuntimeFacts {
  return {
    now: NOW,
    broker: { kind: "embedded", listening: true, clients: 3, store: { ok: true, error: null } },
    flows: { started: true, nodes: 12, inError: [] },
    history: [{ node: "h1", kind: "sqlite", lastError: null, rows: 10 }],
    dataDir: { writable: true, error: null },
    outboxes: [outbox()],
  };
}

describe("runtime health: the judgement", () => {
  it("is ok when every part is, with no reasons", () => {
    const r = judgeRuntime(healthy());
    assert.equal(r.status, "ok");
    assert.equal(r.at, new Date(NOW).toISOString());
    for (const c of Object.values(r.components)) assert.deepEqual([c.status, c.reasons], ["ok", []]);
    assert.deepEqual(r.components.broker.details, { kind: "embedded", clients: 3, persistent: true });
    assert.deepEqual(publicHealth(r), { httpStatus: 200, body: { status: "up" } });
  });

  it("is down when the broker stops listening or its store cannot write, saying which", () => {
    const notListening = judgeBroker({ kind: "embedded", listening: false, clients: 0, store: null });
    assert.equal(notListening.status, "down");
    assert.match(notListening.reasons[0]!, /not listening/);
    const storeBroken = judgeBroker({ kind: "embedded", listening: true, clients: 1, store: { ok: false, error: "SQLITE_FULL: database or disk is full" } });
    assert.equal(storeBroken.status, "down");
    assert.match(storeBroken.reasons[0]!, /store cannot write: SQLITE_FULL/);
    // a broker elsewhere (PIFOG_MQTT_URL) is not this runtime's to judge
    assert.equal(judgeBroker({ kind: "external", url: "mqtt://hub:1883" }).status, "ok");
    const facts = healthy();
    facts.broker = { kind: "embedded", listening: false, clients: 0, store: null };
    const r = judgeRuntime(facts);
    assert.equal(r.status, "down");
    assert.deepEqual(publicHealth(r), { httpStatus: 503, body: { status: "down" } });
  });

  it("is down before the flows run, degraded while nodes show an error (naming a few)", () => {
    assert.equal(judgeFlows({ started: false, nodes: 0, inError: [] }).status, "down");
    const inError = Array.from({ length: 7 }, (_, i) => ({ id: `n${i}`, type: "thingspeak", text: "bad key" }));
    const f = judgeFlows({ started: true, nodes: 20, inError });
    assert.equal(f.status, "degraded");
    assert.equal(f.reasons.length, 6);
    assert.match(f.reasons[0]!, /node thingspeak n0 shows an error: bad key/);
    assert.match(f.reasons[5]!, /and 2 more nodes/);
    // degraded is still up for a healthcheck
    const facts = healthy();
    facts.flows = { started: true, nodes: 20, inError };
    assert.deepEqual(publicHealth(judgeRuntime(facts)), { httpStatus: 200, body: { status: "up" } });
  });

  it("is down when a history store cannot commit or the data dir cannot be written", () => {
    const ok = judgeStores([{ node: "h1", kind: "sqlite", lastError: null, rows: 5 }], { writable: true, error: null });
    assert.equal(ok.status, "ok");
    const failing = judgeStores([{ node: "h1", kind: "postgres", lastError: "connection refused", rows: 5 }], { writable: true, error: null });
    assert.equal(failing.status, "down");
    assert.match(failing.reasons[0]!, /history h1 \(postgres\) cannot commit: connection refused/);
    const readOnly = judgeStores([], { writable: false, error: "EROFS: read-only file system" });
    assert.equal(readOnly.status, "down");
    assert.match(readOnly.reasons[0]!, /data dir cannot be written: EROFS/);
  });

  it("degrades an outbox that fails, is too deep or waits too long, and never calls it down", () => {
    const t = { outboxDepth: 100, outboxAgeMs: 10 * 60_000 };
    assert.deepEqual(judgeOutbox(outbox({ size: 100, oldestAt: NOW - 10 * 60_000 }), NOW, t), []);
    const down = judgeOutbox(outbox({ failures: 3, lastError: "HTTP 401 Unauthorized", size: 2, oldestAt: NOW - 1000 }), NOW, t);
    assert.deepEqual(down.map(([v]) => v), ["degraded"]);
    assert.match(down[0]![1], /thingspeak\/123: the bridge is down \(3 failed attempts\): HTTP 401 Unauthorized/);
    const deep = judgeOutbox(outbox({ size: 101, oldestAt: NOW - 10 * 60_000 - 1 }), NOW, t);
    assert.deepEqual(deep.map(([v]) => v), ["degraded", "degraded"]);
    assert.match(deep[0]![1], /101 items queued \(more than 100\)/);
    assert.match(deep[1]![1], /oldest item has waited 10 min \(more than 10 min\)/);
    const facts = healthy();
    facts.outboxes = [outbox({ failures: 1, lastError: "ECONNREFUSED" }), outbox({ queue: "s3-writer/abc" })];
    const r = judgeRuntime(facts, DEFAULT_HEALTH_THRESHOLDS);
    assert.equal(r.status, "degraded");
    assert.equal(r.components.outboxes.reasons.length, 1);
    assert.deepEqual(
      (r.components.outboxes.details!.queues as Array<{ bridge: string }>).map((q) => q.bridge),
      ["thingspeak", "s3-writer"],
    );
  });

  it("takes the worst of its parts", () => {
    assert.equal(worst([]), "ok");
    assert.equal(worst(["ok", "degraded", "ok"]), "degraded");
    assert.equal(worst(["degraded", "down", "ok"]), "down");
  });
});

describe("runtime health: the flows as Node-RED's events tell", () => {
  const config = { flows: [{ id: "tab1", type: "tab" }, { id: "a", type: "thingspeak", z: "tab1" }, { id: "b", type: "history", z: "tab1" }] };

  it("runs once started, counts the nodes (not the tabs), and follows red statuses", () => {
    const w = new FlowWatch();
    assert.deepEqual(w.facts(), { started: false, nodes: 0, inError: [] });
    w.flowsStarting({ config, type: "full" });
    // a node may show its status while it starts, before flows:started
    w.status({ id: "a", status: { fill: "red", shape: "ring", text: "no API key" } });
    w.flowsStarted({ config, type: "full" });
    assert.deepEqual(w.facts(), { started: true, nodes: 2, inError: [{ id: "a", type: "thingspeak", text: "no API key" }] });
    w.status({ id: "a", status: { fill: "green", text: "sent" } });
    assert.deepEqual(w.facts().inError, []);
    w.status({ id: "b", status: { fill: "red", text: "store failed" } });
    // a deploy of other nodes keeps it; one that restarts it forgets it
    w.flowsStarting({ config, type: "nodes", diff: { changed: ["a"] } });
    assert.equal(w.facts().inError.length, 1);
    w.flowsStarting({ config, type: "nodes", diff: { changed: ["b"] } });
    assert.equal(w.facts().inError.length, 0);
    w.flowsStopped();
    assert.equal(w.facts().started, false);
  });

  it("follows a real event emitter and stops following", () => {
    const events = new EventEmitter();
    const w = new FlowWatch();
    const stop = w.attach(events);
    events.emit("flows:started", { config, type: "full" });
    events.emit("node-status", { id: "b", status: { fill: "red", text: "x" } });
    assert.equal(w.facts().inError.length, 1);
    stop();
    assert.equal(events.listenerCount("node-status"), 0);
    events.emit("flows:stopped", {});
    assert.equal(w.facts().started, true);
  });
});
