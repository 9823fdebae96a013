// The runtime's metrics (GET /metrics, Prometheus' text format) and the facts /health judges, in one object per
// runtime (the services' `metrics`), with its own prom-client Registry: never the library's global one, so two
// runtimes (or two tests) in one process never share a counter. The places where things happen tell it: the embedded
// broker (its observer), the history stores' commits, the dead-letter record, Node-RED's log (a node's error), the
// outboxes (their registry) and the flows (Node-RED's events); it reads the rest when scraped.
import fs from "node:fs";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { BrokerObserver, BrokerState, PublishRefusal } from "../broker/embedded-broker";
import type { Clock } from "../clock";
import type { CommitObserver } from "../history/commit-batcher";
import { bridgeOf, type OutboxRegistry } from "../outbox/registry";
import { FlowWatch } from "./flow-watch";
import { DEFAULT_HEALTH_THRESHOLDS, judgeRuntime, type BrokerFacts, type HealthThresholds, type HistoryStoreFacts, type RuntimeHealthReport, type Verdict } from "./runtime-health";

/** Every metric PiFog itself defines (the process's and Node.js's come from prom-client's default collectors). */
export const METRIC_NAMES = {
  brokerClients: "pifog_broker_clients",
  received: "pifog_broker_messages_received_total",
  sent: "pifog_broker_messages_sent_total",
  refused: "pifog_broker_publishes_refused_total",
  outboxDepth: "pifog_outbox_depth",
  outboxAge: "pifog_outbox_oldest_age_seconds",
  outboxFailures: "pifog_outbox_failures",
  commitSeconds: "pifog_history_commit_seconds",
  rows: "pifog_history_rows_committed_total",
  commitFailures: "pifog_history_commit_failures_total",
  deadLetters: "pifog_dead_letters_total",
  nodeErrors: "pifog_node_errors_total",
  health: "pifog_health_status",
} as const;

const QOS = ["0", "1", "2"] as const;
const REFUSALS: readonly PublishRefusal[] = ["not-allowed", "not-stored"];
const VERDICT_VALUE: Record<Verdict, number> = { ok: 0, degraded: 1, down: 2 };

/** The broker the metrics read: the launcher's embedded one, or another (its URL) it does not see into. */
export type WatchedBroker = { state(): BrokerState } | { url: string };

/** What Node-RED's log hands a handler (nodes/lib/metrics: the settings' `logging.pifogMetrics`). */
export interface NodeRedLogMessage {
  level: number;
  id?: string;
  type?: string;
  msg?: unknown;
}

/** Node-RED's level number of an error (`@node-red/util` log.ERROR); fatal (10) is below it. */
export const NODE_RED_ERROR_LEVEL = 20;

export interface RuntimeMetricsOptions {
  clock: Clock;
  dataDir: string;
  outboxes: OutboxRegistry;
  thresholds?: Partial<HealthThresholds>;
}

export class RuntimeMetrics {
  readonly registry = new Registry();
  readonly flows = new FlowWatch();
  /** Tell the embedded broker (its `observer` option). */
  readonly brokerObserver: BrokerObserver;
  private broker: WatchedBroker | null = null;
  private processMetrics = false;
  private readonly history = new Map<string, HistoryStoreFacts>();
  private readonly thresholds: HealthThresholds;
  private readonly received: Counter<"qos">;
  private readonly sent: Counter<"qos">;
  private readonly refused: Counter<"reason">;
  private readonly commitSeconds: Histogram<"store">;
  private readonly rows: Counter<"store">;
  private readonly commitFailures: Counter<"store">;
  private readonly deadLetters: Counter<"type">;
  private readonly nodeErrors: Counter<"type" | "node">;

  constructor(private readonly o: RuntimeMetricsOptions) {
    this.thresholds = { ...DEFAULT_HEALTH_THRESHOLDS, ...o.thresholds };
    const registers = [this.registry];
    const self = this;
    new Gauge({
      name: METRIC_NAMES.brokerClients,
      help: "Clients connected to the embedded MQTT broker.",
      registers,
      collect() {
        const b = self.broker;
        this.set(b && "state" in b ? b.state().clients : 0);
      },
    });
    this.received = new Counter({ name: METRIC_NAMES.received, help: "PUBLISH packets the embedded broker accepted from clients, by QoS.", labelNames: ["qos"], registers });
    this.sent = new Counter({ name: METRIC_NAMES.sent, help: "Messages the embedded broker delivered to subscribing clients, by the QoS they were published with.", labelNames: ["qos"], registers });
    this.refused = new Counter({
      name: METRIC_NAMES.refused,
      help: "PUBLISH packets the embedded broker refused: not-allowed (the ACL) or not-stored (it could not be stored before the PUBACK).",
      labelNames: ["reason"],
      registers,
    });
    for (const qos of QOS) {
      this.received.inc({ qos }, 0);
      this.sent.inc({ qos }, 0);
    }
    for (const reason of REFUSALS) this.refused.inc({ reason }, 0);
    const outboxGauge = (name: string, help: string, value: (s: ReturnType<OutboxRegistry["snapshots"]>[number], now: number) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ["bridge", "queue"],
        registers,
        collect() {
          // a queue closed since the last scrape is not reported any more
          this.reset();
          const now = o.clock.now();
          for (const s of o.outboxes.snapshots()) this.set({ bridge: bridgeOf(s.queue), queue: s.queue }, value(s, now));
        },
      });
    outboxGauge(METRIC_NAMES.outboxDepth, "Items queued in a cloud bridge's outbox.", (s) => s.size);
    outboxGauge(METRIC_NAMES.outboxAge, "How long the oldest queued item of an outbox has waited, seconds (0 when empty).", (s, now) =>
      s.oldestAt === null ? 0 : Math.max(0, now - s.oldestAt) / 1000,
    );
    outboxGauge(METRIC_NAMES.outboxFailures, "Failed delivery attempts in a row of an outbox (0 after a success).", (s) => s.failures);
    this.commitSeconds = new Histogram({
      name: METRIC_NAMES.commitSeconds,
      help: "How long a history store's commit (one transaction of a group of records) took, seconds.",
      labelNames: ["store"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.rows = new Counter({ name: METRIC_NAMES.rows, help: "Records the history stores committed.", labelNames: ["store"], registers });
    this.commitFailures = new Counter({ name: METRIC_NAMES.commitFailures, help: "History store commits that failed (their records were refused, never acknowledged).", labelNames: ["store"], registers });
    this.deadLetters = new Counter({ name: METRIC_NAMES.deadLetters, help: "Entries written to the dead-letter record (input a node could not take), by node type.", labelNames: ["type"], registers });
    this.nodeErrors = new Counter({
      name: METRIC_NAMES.nodeErrors,
      help: "Errors nodes logged (those a Catch node handled are the flow's own), by node type and id.",
      labelNames: ["type", "node"],
      registers,
    });
    new Gauge({
      name: METRIC_NAMES.health,
      help: "The runtime's health as GET /health judges it, per component and overall: 0 ok, 1 degraded, 2 down.",
      labelNames: ["component"],
      registers,
      collect() {
        const report = self.health();
        this.set({ component: "overall" }, VERDICT_VALUE[report.status]);
        for (const [name, c] of Object.entries(report.components)) this.set({ component: name }, VERDICT_VALUE[c.status]);
      },
    });
    this.brokerObserver = {
      received: (qos) => this.received.inc({ qos: String(qos) }),
      sent: (qos) => this.sent.inc({ qos: String(qos) }),
      refused: (why) => this.refused.inc({ reason: why }),
    };
  }

  /** The process's memory, CPU, handles and event-loop lag (prom-client's default collectors, on this registry):
   * once, by the launcher (each call would start another event-loop monitor). */
  collectProcessMetrics(): void {
    if (this.processMetrics) return;
    this.processMetrics = true;
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
  }

  /** The broker this runtime uses (the launcher's). */
  watchBroker(broker: WatchedBroker): void {
    this.broker = broker;
  }

  /** The observer of one history node's commits (`kind`: its store's). */
  historyCommits(node: string, kind: string): CommitObserver & { closed(): void } {
    const facts: HistoryStoreFacts = { node, kind, lastError: null, rows: 0 };
    this.history.set(node, facts);
    return {
      committed: (rows, seconds) => {
        facts.lastError = null;
        facts.rows += rows;
        this.rows.inc({ store: kind }, rows);
        this.commitSeconds.observe({ store: kind }, seconds);
      },
      failed: (err) => {
        facts.lastError = err.message;
        this.commitFailures.inc({ store: kind });
      },
      closed: () => {
        if (this.history.get(node) === facts) this.history.delete(node);
      },
    };
  }

  /** The dead-letter record wrote a letter of a node of `type`. */
  deadLetter(type: string): void {
    this.deadLetters.inc({ type: type || "unknown" });
  }

  /** A Node-RED log line: a node's error is counted. */
  logged(msg: NodeRedLogMessage): void {
    if (msg.level > NODE_RED_ERROR_LEVEL || !msg.type || !msg.id) return;
    this.nodeErrors.inc({ type: msg.type, node: msg.id });
  }

  /** The Prometheus text exposition of every metric. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** The runtime's health now (cheap: memory, and one access() of the data dir). */
  health(): RuntimeHealthReport {
    const b = this.broker;
    const broker: BrokerFacts = !b ? { kind: "external", url: "(none yet)" } : "state" in b ? { kind: "embedded", ...b.state() } : { kind: "external", url: b.url };
    return judgeRuntime(
      {
        now: this.o.clock.now(),
        broker,
        flows: this.flows.facts(),
        history: [...this.history.values()],
        dataDir: writable(this.o.dataDir),
        outboxes: this.o.outboxes.snapshots(),
      },
      this.thresholds,
    );
  }
}

function writable(dir: string): { writable: boolean; error: string | null } {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return { writable: true, error: null };
  } catch (err) {
    return { writable: false, error: (err as Error).message };
  }
}
