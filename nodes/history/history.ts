// The logger: keeps every message on its topic filters (topic, raw payload, numeric value, time, QoS, retain)
// in SQLite or PostgreSQL. A QoS 1 message is acknowledged to its publisher only once it is committed.
// Serves GET /api/history and /api/history/topics.
import type { NodeAPI, NodeDef } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import type { Clock } from "../lib/clock";
import { HistorySink, type SinkOwner } from "../lib/history/history-sink";
import { historyRoutes, type HistoryProvider } from "../lib/history/http-api";
import type { PgHistoryStore as PgStore } from "../lib/history/pg-store";
import { SqliteHistoryStore } from "../lib/history/sqlite-store";
import type { HistoryStore } from "../lib/history/types";
import { numericValue } from "../lib/telemetry-value";
import { failMessage } from "../lib/node-red/fail";
import { servicesOf } from "../lib/services";
import { showStatus, type StatusKind } from "../lib/node-red/status";
import { useDevice, type DeviceUser } from "../lib/node-red/device";

export interface HistoryDef extends NodeDef {
  device: string;
  filters: string;
  backend: string;
  pgUrl: string;
  ingest: string;
  rawDays: string | number;
  rollupDays: string | number;
}

export interface HistoryCredentials {
  pgPassword?: string;
}

const DAY_MS = 86_400_000;

export interface HistorySettings {
  filters: string[];
  backend: "sqlite" | "postgres";
  pgUrl: string;
  ingest: "auto" | "subscribe";
  rawMs: number;
  rollupMs: number;
}

export function normaliseHistory(config: HistoryDef): HistorySettings {
  const filters = String(config.filters ?? "#")
    .split(/[\n,]/)
    .map((f) => f.trim())
    .filter(Boolean);
  for (const f of filters) {
    if (/#./.test(f) || /[^/]\+|\+[^/]/.test(f)) throw new Error(`"${f}" is not an MQTT topic filter`);
  }
  const days = (v: string | number | undefined, fallback: number, name: string) => {
    const n = v === undefined || v === "" ? fallback : Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a number of days above 0`);
    return n * DAY_MS;
  };
  const backend = config.backend === "postgres" ? "postgres" : "sqlite";
  if (backend === "postgres" && !/^postgres(ql)?:\/\//.test(config.pgUrl ?? "")) {
    throw new Error("PostgreSQL needs a URL like postgres://user@host:5432/database");
  }
  return {
    filters: filters.length > 0 ? filters : ["#"],
    backend,
    pgUrl: config.pgUrl ?? "",
    ingest: config.ingest === "subscribe" ? "subscribe" : "auto",
    rawMs: days(config.rawDays, 30, "Keep messages"),
    rollupMs: days(config.rollupDays, 730, "Keep hourly roll-ups"),
  };
}

/** pg is loaded only by a flow that asks for PostgreSQL. */
function loadPgStore(): typeof PgStore {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require("../lib/history/pg-store") as typeof import("../lib/history/pg-store")).PgHistoryStore;
}

function defineHistory(RED: NodeAPI) {
  return class History extends Node implements HistoryProvider, SinkOwner {
    private user: DeviceUser | null = null;

    private sink: HistorySink | null = null;
    private statusTimer: unknown = null;
    private readonly clock: Clock;

    get store(): HistoryStore | null {
      return this.sink?.store ?? null;
    }

    constructor(config: HistoryDef) {
      super(RED);
      this.createNode(config);
      const services = servicesOf(RED);
      this.clock = services.clock;
      const creds = (this as unknown as { credentials?: HistoryCredentials }).credentials ?? {};
      const user = useDevice(RED, this, config.device, "history");
      if (!user) return;
      this.user = user;
      const device = user.device;
      if (!device) return;
      const s = user.settings(() => normaliseHistory(config));
      if (!s) return;
      const dataDir = services.dataDir;
      const key = JSON.stringify({ s, dataDir, url: device.brokerUrl, pg: creds.pgPassword ?? "" });
      let sink = services.sinks.adopt<HistorySink>(this.id, key);
      if (!sink) {
        const embedded = s.ingest === "auto" ? device.embedded : null;
        const store =
          s.backend === "postgres"
            ? new (loadPgStore())({ connectionString: s.pgUrl, password: creds.pgPassword || undefined })
            : new SqliteHistoryStore(dataDir, "history", { pool: services.stores });
        sink = new HistorySink({
          key,
          store,
          observer: services.metrics.historyCommits(this.id, store.kind),
          filters: s.filters,
          clock: this.clock,
          numeric: (p) => numericValue(p),
          maxPayloadBytes: embedded?.maxPacketBytes ?? services.maxPacketBytes,
          embedded,
          external: { url: device.brokerUrl, clientId: device.brokerAuth.tls ? `${device.deviceId}:history-${this.id}` : `pifog-history-${device.deviceId}-${this.id}`.slice(0, 64), auth: device.brokerAuth },
          rawMs: s.rawMs,
          rollupMs: s.rollupMs,
        });
        services.sinks.keep(this.id, sink).catch((err: Error) => this.warn(err.message));
      }
      sink.owner = this;
      this.sink = sink;
      services.historyProviders.set(this.id, this);
      this.statusTimer = this.clock.setInterval(() => this.showProgress(), 2000);
      this.showProgress();

      this.on("input", (msg, _send, done) => {
        // a flow can log messages too: msg.topic + msg.payload
        const payload = Buffer.isBuffer(msg.payload) ? msg.payload : Buffer.from(typeof msg.payload === "string" ? msg.payload : JSON.stringify(msg.payload ?? null));
        if (typeof msg.topic !== "string" || msg.topic === "") {
          failMessage(RED, this, new Error(RED._("history.errors.no-topic")), msg, done);
          return;
        }
        sink.batcher
          .add({ topic: msg.topic, payload, value: numericValue(payload), at: this.clock.now(), qos: 0, retain: false, clientId: null, messageId: null, dup: false })
          .then(() => done(), (err: Error) => failMessage(RED, this, err, msg, done));
      });

      this.on("close", (removed: boolean, done: () => void) => {
        services.historyProviders.delete(this.id);
        if (this.statusTimer !== null) this.clock.clearInterval(this.statusTimer);
        if (sink.owner === this) sink.owner = null;
        // a redeploy keeps storing in between; a removed node stops
        (removed ? services.sinks.close(this.id) : Promise.resolve()).then(done, (err: Error) => {
          this.warn(err.message);
          done();
        });
      });
    }

    reject(reason: string, topic: string, payload: Buffer): void {
      failMessage(RED, this, new Error(reason), { topic, payload: payload.subarray(0, 4096) });
    }

    brokerState(connected: boolean, error?: Error): void {
      if (error) this.log(RED._("history.log.broker", { error: error.message }));
      if (!connected) this.show("warn", RED._("history.status.disconnected"));
    }

    pruneFailed(error: Error): void {
      this.warn(RED._("history.errors.prune", { error: error.message }));
    }

    private showProgress(): void {
      const b = this.sink?.batcher;
      if (!b) return;
      if (b.lastError && b.failures > 0) {
        this.show("error", RED._("history.status.failing", { error: b.lastError.message }));
        b.failures = 0;
        return;
      }
      this.show("ok", RED._("history.status.stored", { count: b.committed, backlog: b.backlog }));
    }

    /** The node's own status, combined with its device's link once it has one. */
    private show(kind: StatusKind, text: string): void {
      if (this.user) this.user.show(kind, text);
      else showStatus(this, kind, text);
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineHistory(RED).registerType(RED, "history", { credentials: { pgPassword: { type: "password" } } });
  const services = servicesOf(RED);
  historyRoutes(RED.httpNode, () => [...services.historyProviders.values()], {
    auth: { tokens: () => services.apiTokens, audit: services.audit, sessions: () => servicesOf(RED).webSessions },
    audit: services.audit,
    clock: services.clock,
  });
}
