// How the runtime judges itself for GET /health (containers' healthchecks, systemd, a person): four components —
// the broker, the flows, the stores, the outboxes — each ok, degraded or down with the reasons, and the whole as its
// worst part. Down means the runtime cannot do its job (restart it or call someone); degraded means it works but
// something waits or fails (a cloud bridge's outage, a node in error). Pure: facts in, judgement out.
import type { OutboxSnapshot } from "../outbox/outbox";
import { bridgeOf } from "../outbox/registry";

export type Verdict = "ok" | "degraded" | "down";

export interface ComponentHealth {
  status: Verdict;
  /** Why it is not ok (empty when ok); each reason names what it is about. */
  reasons: string[];
  /** What a person looking wants to know besides (counts, the store's kind...). */
  details?: Record<string, unknown>;
}

export interface RuntimeHealthReport {
  status: Verdict;
  /** The clock's time of the judgement (ISO). */
  at: string;
  components: { broker: ComponentHealth; flows: ComponentHealth; stores: ComponentHealth; outboxes: ComponentHealth };
}

export interface HealthThresholds {
  /** An outbox with more queued items than this is degraded (default 1000). */
  outboxDepth: number;
  /** An outbox whose oldest item waited longer than this is degraded, ms (default 15 min). */
  outboxAgeMs: number;
}

export const DEFAULT_HEALTH_THRESHOLDS: HealthThresholds = { outboxDepth: 1000, outboxAgeMs: 15 * 60_000 };

/** The broker this runtime uses: its own embedded one (its state), or another (PIFOG_MQTT_URL) it does not watch. */
export type BrokerFacts =
  | { kind: "embedded"; listening: boolean; clients: number; store: { ok: boolean; error: string | null } | null }
  | { kind: "external"; url: string };

export interface FlowFacts {
  /** Node-RED said `flows:started` (and not `flows:stopped` since). */
  started: boolean;
  /** How many nodes run (0 before the flows started). */
  nodes: number;
  /** Nodes whose status is red, with its text. */
  inError: Array<{ id: string; type: string; text: string }>;
}

export interface HistoryStoreFacts {
  /** The history node's id. */
  node: string;
  kind: string;
  /** The last commit's failure; null when it committed (or has not tried yet). */
  lastError: string | null;
  rows: number;
}

export interface RuntimeFacts {
  now: number;
  broker: BrokerFacts;
  flows: FlowFacts;
  history: HistoryStoreFacts[];
  /** The data dir accepts new files (checked by the caller). */
  dataDir: { writable: boolean; error: string | null };
  outboxes: OutboxSnapshot[];
}

const RANK: Record<Verdict, number> = { ok: 0, degraded: 1, down: 2 };

export function worst(verdicts: Iterable<Verdict>): Verdict {
  let w: Verdict = "ok";
  for (const v of verdicts) if (RANK[v] > RANK[w]) w = v;
  return w;
}

/** A component from its findings: the worst of them, with every reason. */
function component(findings: Array<[Verdict, string]>, details?: Record<string, unknown>): ComponentHealth {
  const bad = findings.filter(([v]) => v !== "ok");
  return { status: worst(bad.map(([v]) => v)), reasons: bad.map(([, r]) => r), ...(details ? { details } : {}) };
}

export function judgeBroker(b: BrokerFacts): ComponentHealth {
  if (b.kind === "external") return component([], { kind: "external", url: b.url });
  const findings: Array<[Verdict, string]> = [];
  if (!b.listening) findings.push(["down", "the embedded broker is not listening"]);
  if (b.store && !b.store.ok) findings.push(["down", `the broker's store cannot write: ${b.store.error ?? "unknown error"}`]);
  return component(findings, { kind: "embedded", clients: b.clients, persistent: b.store !== null });
}

const SHOWN_NODES = 5;

export function judgeFlows(f: FlowFacts): ComponentHealth {
  const findings: Array<[Verdict, string]> = [];
  if (!f.started) findings.push(["down", "the flows are not running"]);
  for (const n of f.inError.slice(0, SHOWN_NODES)) findings.push(["degraded", `node ${n.type} ${n.id} shows an error: ${n.text || "(no text)"}`]);
  if (f.inError.length > SHOWN_NODES) findings.push(["degraded", `and ${f.inError.length - SHOWN_NODES} more nodes show an error`]);
  return component(findings, { nodes: f.nodes, inError: f.inError.length });
}

export function judgeStores(history: HistoryStoreFacts[], dataDir: RuntimeFacts["dataDir"]): ComponentHealth {
  const findings: Array<[Verdict, string]> = [];
  if (!dataDir.writable) findings.push(["down", `the data dir cannot be written: ${dataDir.error ?? "unknown error"}`]);
  // a history store that cannot commit refuses every message it should keep (none is acknowledged): the hub's job stops
  for (const h of history) if (h.lastError !== null) findings.push(["down", `history ${h.node} (${h.kind}) cannot commit: ${h.lastError}`]);
  return component(findings, { history: history.map((h) => ({ node: h.node, kind: h.kind, rows: h.rows, ok: h.lastError === null })) });
}

function ageText(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 2 * 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3_600_000)} h`;
}

export function judgeOutbox(o: OutboxSnapshot, now: number, t: HealthThresholds): Array<[Verdict, string]> {
  const findings: Array<[Verdict, string]> = [];
  // a failing delivery is the bridge's peer being unreachable or refusing: nothing is lost, it waits
  if (o.failures > 0) findings.push(["degraded", `${o.queue}: the bridge is down (${o.failures} failed attempt${o.failures === 1 ? "" : "s"}): ${o.lastError ?? "unknown error"}`]);
  if (o.size > t.outboxDepth) findings.push(["degraded", `${o.queue}: ${o.size} items queued (more than ${t.outboxDepth})`]);
  const age = o.oldestAt === null ? 0 : Math.max(0, now - o.oldestAt);
  if (age > t.outboxAgeMs) findings.push(["degraded", `${o.queue}: the oldest item has waited ${ageText(age)} (more than ${ageText(t.outboxAgeMs)})`]);
  return findings;
}

export function judgeOutboxes(outboxes: OutboxSnapshot[], now: number, t: HealthThresholds): ComponentHealth {
  return component(
    outboxes.flatMap((o) => judgeOutbox(o, now, t)),
    {
      queues: outboxes.map((o) => ({
        queue: o.queue,
        bridge: bridgeOf(o.queue),
        depth: o.size,
        oldestAgeSeconds: o.oldestAt === null ? 0 : Math.max(0, now - o.oldestAt) / 1000,
        failures: o.failures,
      })),
    },
  );
}

export function judgeRuntime(facts: RuntimeFacts, thresholds: HealthThresholds = DEFAULT_HEALTH_THRESHOLDS): RuntimeHealthReport {
  const components = {
    broker: judgeBroker(facts.broker),
    flows: judgeFlows(facts.flows),
    stores: judgeStores(facts.history, facts.dataDir),
    outboxes: judgeOutboxes(facts.outboxes, facts.now, thresholds),
  };
  return { status: worst(Object.values(components).map((c) => c.status)), at: new Date(facts.now).toISOString(), components };
}
