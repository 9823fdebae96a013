// Everything a history node runs: the store, the group-commit batcher, the ingest (embedded broker or a
// persistent session) and retention. Kept across redeploys (see sinks.ts).
import type { EmbeddedBroker } from "../broker/embedded-broker";
import type { Clock } from "../clock";
import { CommitBatcher, type CommitObserver } from "./commit-batcher";
import { ingestFromBroker, ingestFromEmbeddedBroker, type ExternalIngest } from "./ingest";
import type { DurableSink } from "./sinks";
import type { HistoryStore } from "./types";

export interface SinkOwner {
  reject(reason: string, topic: string, payload: Buffer): void;
  brokerState(connected: boolean, error?: Error): void;
  pruneFailed(error: Error): void;
}

export interface HistorySinkOptions {
  key: string;
  store: HistoryStore;
  filters: string[];
  clock: Clock;
  numeric: (payload: Buffer) => number | null;
  /** The largest payload stored (the broker's packet limit). */
  maxPayloadBytes: number;
  /** The embedded broker in this process, or how to reach another one. */
  embedded: EmbeddedBroker | null;
  external: { url: string; clientId: string; auth: { username?: string; password?: string; tls?: { cert: string; key: string; ca: string } } };
  rawMs: number;
  rollupMs: number;
  /** Who watches the commits (the runtime's metrics: `services.metrics.historyCommits(...)`); `closed` once the sink
   * is closed. */
  observer?: CommitObserver & { closed?(): void };
}

export class HistorySink implements DurableSink {
  readonly key: string;
  readonly store: HistoryStore;
  readonly batcher: CommitBatcher;
  owner: SinkOwner | null = null;
  private readonly stopIngest: (() => void) | null = null;
  private readonly externalIngest: ExternalIngest | null = null;
  private readonly pruneTimer: unknown;
  private closing: Promise<void> | null = null;

  constructor(private readonly o: HistorySinkOptions) {
    this.key = o.key;
    this.store = o.store;
    this.batcher = new CommitBatcher(o.store, { maxBatch: 2000, maxDelayMs: 2, clock: o.clock, ...(o.observer ? { observer: o.observer } : {}) });
    const deps = {
      filters: o.filters,
      batcher: this.batcher,
      clock: o.clock,
      numeric: o.numeric,
      maxPayloadBytes: o.maxPayloadBytes,
      reject: (reason: string, topic: string, payload: Buffer) => this.owner?.reject(reason, topic, payload),
    };
    if (o.embedded) {
      this.stopIngest = ingestFromEmbeddedBroker(o.embedded, deps);
    } else {
      this.externalIngest = ingestFromBroker(o.external.url, o.external.clientId, o.external.auth, deps, (connected, err) =>
        this.owner?.brokerState(connected, err),
      );
    }
    this.prune();
    this.pruneTimer = o.clock.setInterval(() => this.prune(), 3_600_000);
  }

  private prune(): void {
    const now = this.o.clock.now();
    this.store.prune(now - this.o.rawMs, now - this.o.rollupMs).catch((err: Error) => this.owner?.pruneFailed(err));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopIngest?.();
      this.o.clock.clearInterval(this.pruneTimer);
      await this.externalIngest?.close();
      await this.batcher.close();
      await this.store.close();
      this.o.observer?.closed?.();
    })();
    return this.closing;
  }
}
