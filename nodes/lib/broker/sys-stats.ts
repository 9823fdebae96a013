// The broker's statistics under `$SYS/broker/…`, as Mosquitto publishes them (every interval; not retained, since
// aedes would hand a retained `$SYS` message to a new `#` subscription): who is
// connected, how many messages went in and out, how long it has run. `$SYS` is for admins only (acl.ts): the
// broker's authorizeForward keeps these, and aedes' own `$SYS/<id>/…` messages, from everyone else.
import type { Aedes } from "aedes";
import type { Clock } from "../clock";

export interface SysCounters {
  /** PUBLISH packets received from clients. */
  received: number;
  /** Messages delivered to clients. */
  sent: number;
  /** Bytes of payload received from clients. */
  bytesReceived: number;
}

export const SYS_TOPICS = {
  version: "$SYS/broker/version",
  uptime: "$SYS/broker/uptime",
  connected: "$SYS/broker/clients/connected",
  total: "$SYS/broker/clients/total",
  maximum: "$SYS/broker/clients/maximum",
  received: "$SYS/broker/messages/received",
  sent: "$SYS/broker/messages/sent",
  publishReceived: "$SYS/broker/publish/messages/received",
  bytesReceived: "$SYS/broker/load/bytes/received",
  subscriptions: "$SYS/broker/subscriptions/count",
} as const;

export class SysStats {
  readonly counters: SysCounters = { received: 0, sent: 0, bytesReceived: 0 };
  private timer: unknown = null;
  private readonly startedAt: number;
  private maximum = 0;

  constructor(
    private readonly aedes: Aedes,
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly version: string,
  ) {
    this.startedAt = clock.now();
    aedes.on("publish", (packet, client) => {
      if (!client) return;
      this.counters.received++;
      this.counters.bytesReceived += packet.payload?.length ?? 0;
    });
  }

  start(): void {
    if (this.timer !== null || this.intervalMs <= 0) return;
    const tick = () => {
      this.timer = this.clock.setTimeout(tick, this.intervalMs);
      this.publish();
    };
    this.timer = this.clock.setTimeout(tick, this.intervalMs);
  }

  stop(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** The current figures as Mosquitto words them (plain text). */
  figures(): Array<[string, string]> {
    const connected = this.aedes.connectedClients;
    this.maximum = Math.max(this.maximum, connected);
    const clients = (this.aedes as unknown as { clients: Record<string, unknown> }).clients;
    let subscriptions = 0;
    for (const client of Object.values(clients)) {
      subscriptions += Object.keys((client as { subscriptions?: Record<string, unknown> }).subscriptions ?? {}).length;
    }
    return [
      [SYS_TOPICS.version, `PiFog embedded broker ${this.version} (aedes ${(this.aedes as unknown as { version: string }).version})`],
      [SYS_TOPICS.uptime, `${Math.floor((this.clock.now() - this.startedAt) / 1000)} seconds`],
      [SYS_TOPICS.connected, String(connected)],
      [SYS_TOPICS.total, String(Object.keys(clients).length)],
      [SYS_TOPICS.maximum, String(this.maximum)],
      [SYS_TOPICS.received, String(this.counters.received)],
      [SYS_TOPICS.publishReceived, String(this.counters.received)],
      [SYS_TOPICS.sent, String(this.counters.sent)],
      [SYS_TOPICS.bytesReceived, String(this.counters.bytesReceived)],
      [SYS_TOPICS.subscriptions, String(subscriptions)],
    ];
  }

  publish(): void {
    if (this.aedes.closed) return;
    for (const [topic, value] of this.figures()) {
      this.aedes.publish({ cmd: "publish", topic, payload: Buffer.from(value), qos: 0, retain: false, dup: false }, () => undefined);
    }
  }
}
