// The forwarder (the face pipeline's msgForwarder, made durable): carries the chosen topic filters from the
// device's local broker to a remote broker, with prefix remapping (rules.ts), through the on-disk outbox.
//
// Every message is committed to `<data dir>/outbox.db` before anything else and deleted only once the remote
// broker has it: after its PUBACK at QoS 1, after the write to the socket at QoS 0. One delivery at a time,
// oldest first, a batch of messages published back to back on the one connection (MQTT keeps their order) and
// acknowledged together. A remote outage or a restart of either side only delays messages. Delivery is at least
// once: if the node stops (or crashes) while a batch waits for its PUBACKs, that batch is sent again after the
// restart, so a message the remote broker already had may arrive twice. A clean outage (the remote broker goes
// away and comes back while the node runs) sends nothing twice: mqtt.js resends the unacknowledged packets of the
// batch in flight itself and the batch is only acked once they are.
//
// Quota: at most `maxItems` messages and `maxBytes` bytes queued. When full the policy decides:
// - "refuse" (default): the new message is not queued; red status, a dead-letter record of it, and an error a
//   Catch node sees. Nothing already queued is lost.
// - "drop-oldest": the oldest queued messages are deleted until the new one fits; each dropped message gets a
//   dead-letter record and the status says how many were dropped.
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import fs from "node:fs";
import type { NodeAPI, NodeMessage, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import type { Clock } from "../lib/clock";
import { payloadText } from "../lib/dead-letter";
import { useDevice, type DeviceUser } from "../lib/node-red/device";
import { failMessage } from "../lib/node-red/fail";
import { runtimeAuthFor, servicesOf } from "../lib/services";
import { showStatus, type StatusKind } from "../lib/node-red/status";
import { openOutbox, StatusThrottle } from "../lib/outbox/bridge";
import { DeliveryError, Outbox, type OutboxItem } from "../lib/outbox/outbox";
import type { SqlitePool } from "../lib/store/sqlite";
import {
  formatBytes,
  normaliseForwarder,
  queuedBytes,
  remapTopic,
  ruleFor,
  type ForwarderCredentials,
  type ForwarderDef,
  type ForwarderSettings,
  type Queued,
} from "./rules";

export type { ForwarderDef } from "./rules";

/** Runtime settings (or a test's) that tune the connection. */
/** The outbox queue of a forwarder node: a re-deployed or restarted node finds its messages again. */
export function forwarderQueue(nodeId: string): string {
  return `forwarder/${nodeId}`;
}

class Aborted extends Error {}

function defineForwarder(RED: NodeAPI) {
  return class Forwarder extends Node {
    private user: DeviceUser | null = null;

    private readonly clock: Clock;
    private outbox: Outbox<Queued> | null = null;
    private client: MqttClient | null = null;
    private readonly unsubscribe: Array<() => void> = [];
    private bytes = 0;
    /** Refusing new messages since the quota filled (cleared when a delivery makes room). */
    private full = false;
    private dropped = 0;
    /** Messages were dropped while a batch was in flight: the byte count is taken from disk after it. */
    private recount = false;
    private lastError: string | null = null;
    /** One status update per 250 ms at most. */
    private readonly statusThrottle: StatusThrottle;
    private quota = { maxItems: Infinity, maxBytes: Infinity };

    constructor(config: ForwarderDef) {
      super(RED);
      this.createNode(config);
      this.clock = servicesOf(RED).clock;
      this.statusThrottle = new StatusThrottle(this.clock, 250, () => this.drawStatus());
      const user = useDevice(RED, this, config.device, "forwarder");
      if (!user) return;
      this.user = user;
      const device = user.device;
      if (!device) return;
      let s: ForwarderSettings;
      try {
        const credentials = (this as unknown as { credentials?: ForwarderCredentials }).credentials ?? {};
        s = normaliseForwarder(config, credentials, this.id);
      } catch (err) {
        this.show("error", (err as Error).message);
        this.error(RED._("forwarder.errors.config", { error: (err as Error).message }));
        return;
      }
      this.quota = { maxItems: s.maxItems, maxBytes: s.maxBytes };
      let ca: Buffer | undefined;
      try {
        ca = s.caFile ? fs.readFileSync(s.caFile) : undefined;
      } catch (err) {
        this.show("error", RED._("forwarder.errors.ca", { error: (err as Error).message }));
        this.error(RED._("forwarder.errors.ca", { error: (err as Error).message }));
        return;
      }

      const dataDir = servicesOf(RED).dataDir;
      const queue = forwarderQueue(this.id);
      const outbox = openOutbox(this, RED._("forwarder.errors.busy"), () =>
        new Outbox<Queued>({
          dataDir,
          pool: servicesOf(RED).stores,
          registry: servicesOf(RED).outboxes,
          queue,
          clock: this.clock,
          batchSize: s.batchSize,
          backoff: { initialMs: 500, factor: 2, maxMs: 30_000 },
          deliver: (items, signal) => this.deliver(s, items, signal),
        }),
      );
      if (!outbox) return;
      this.outbox = outbox;
      this.bytes = queuedBytesOnDisk(servicesOf(RED).stores, dataDir, queue);
      outbox.on("change", () => this.refreshStatus());
      outbox.on("delivered", (items) => {
        if (this.recount) {
          // some of the batch were dropped (and counted off) while it was in flight: count again
          this.recount = false;
          this.bytes = queuedBytesOnDisk(servicesOf(RED).stores, dataDir, queue);
        } else {
          for (const item of items) this.bytes -= queuedBytes(item.payload);
          this.bytes = Math.max(0, this.bytes);
        }
        if (this.full && this.fits(1)) this.full = false;
      });
      outbox.on("failed", (err) => {
        this.lastError = err.message;
        this.refreshStatus(true);
      });

      const runtime = servicesOf(RED).tuning;
      const options: IClientOptions = {
        clientId: s.clientId,
        clean: true,
        keepalive: 30,
        reconnectPeriod: runtime.forwarderReconnectMs ?? 2000,
        connectTimeout: 10_000,
        // QoS 0 never waits in mqtt.js's memory: offline, the outbox keeps it
        queueQoSZero: false,
        ...runtimeAuthFor(servicesOf(RED), s.remoteUrl, { username: s.username, password: s.password }),
        rejectUnauthorized: s.rejectUnauthorized,
        ...(ca ? { ca } : {}),
      };
      const client = mqtt.connect(s.remoteUrl, options);
      this.client = client;
      client.on("connect", () => {
        this.lastError = null;
        this.refreshStatus(true);
        this.outbox?.retryNow();
      });
      client.on("close", () => this.refreshStatus(true));
      client.on("error", (err) => {
        const first = this.lastError !== err.message;
        this.lastError = err.message;
        if (first) this.warn(RED._("forwarder.errors.remote", { error: err.message }));
        this.refreshStatus(true);
      });

      for (const rule of s.rules) {
        this.unsubscribe.push(
          device.link.subscribe(rule.filter, (topic, payload, meta) => {
            if (ruleFor(s.rules, topic) !== rule) return; // an earlier filter forwards it
            if (meta.retain && !s.retained) return; // a replay of a stored message, not a new one
            this.take(s, topic, payload, meta.retain && s.retained);
          }),
        );
      }

      this.on("input", (msg: NodeMessageInFlow, _send, done) => {
        const topic = typeof msg.topic === "string" ? msg.topic : "";
        if (topic === "" || topic.includes("+") || topic.includes("#")) {
          failMessage(RED, this, new Error(RED._("forwarder.errors.topic", { topic })), msg, done);
          return;
        }
        if (this.take(s, topic, toBuffer(msg.payload), false, msg, done)) done();
      });

      this.on("close", (done: () => void) => {
        for (const u of this.unsubscribe.splice(0)) u();
        this.statusThrottle.stop();
        const closing = this.outbox;
        const closingClient = this.client;
        this.outbox = null;
        this.client = null;
        // the outbox first: it aborts a batch waiting for PUBACKs, which then stays queued for the next start
        (closing ? closing.close() : Promise.resolve())
          .then(() => closingClient?.endAsync(true))
          .then(() => done(), () => done());
      });

      outbox.start();
      this.refreshStatus(true);
    }

    /** Whether one more message of `size` bytes fits in the quota. */
    private fits(size: number): boolean {
      const queued = this.outbox?.size ?? 0;
      return queued + 1 <= this.quota.maxItems && this.bytes + size <= this.quota.maxBytes;
    }

    /** Queues one message (on disk when this returns), or applies the quota policy. False when refused. */
    private take(
      s: ForwarderSettings,
      topic: string,
      payload: Buffer,
      retain: boolean,
      msg?: NodeMessage,
      done?: (err?: Error) => void,
    ): boolean {
      const failed = msg ?? { topic, payload };
      const outbox = this.outbox;
      if (!outbox) {
        failMessage(RED, this, new Error(RED._("forwarder.errors.stopped")), failed, done);
        return false;
      }
      const item: Queued = { t: topic, p: payload.toString("base64"), ...(retain ? { r: true } : {}) };
      const size = queuedBytes(item);
      try {
        if (!this.fits(size)) {
          if (s.policy === "refuse" || size > s.maxBytes) {
            this.full = true;
            const err = new Error(
              RED._("forwarder.errors.full", { topic, queued: outbox.size, bytes: formatBytes(this.bytes) }),
            );
            failMessage(RED, this, err, failed, done);
            this.refreshStatus(true);
            return false;
          }
          this.dropOldest(outbox, size);
        }
        outbox.put(item);
        this.bytes += size;
        return true;
      } catch (err) {
        failMessage(RED, this, err as Error, failed, done);
        return false;
      }
    }

    /** "drop-oldest": deletes the oldest queued messages until `size` more bytes fit, each with a dead-letter record. */
    private dropOldest(outbox: Outbox<Queued>, size: number): void {
      const letters = servicesOf(RED).deadLetters;
      const before = this.dropped;
      if (outbox.snapshot().delivering) this.recount = true;
      while (!this.fits(size) && outbox.size > 0) {
        for (const item of outbox.dropOldest(1)) {
          this.bytes = Math.max(0, this.bytes - queuedBytes(item.payload));
          this.dropped++;
          try {
            letters.append({
              node: this.id,
              type: this.type,
              error: RED._("forwarder.errors.dropped"),
              topic: item.payload.t,
              payload: payloadText(Buffer.from(item.payload.p, "base64")),
            });
          } catch (err) {
            this.warn(`could not write the dead-letter record: ${(err as Error).message}`);
          }
        }
      }
      if (before === 0 && this.dropped > 0) this.warn(RED._("forwarder.errors.dropping"));
      this.refreshStatus(true);
    }

    /** Publishes a batch back to back and acks its leading part that the remote broker took. */
    private async deliver(s: ForwarderSettings, items: OutboxItem<Queued>[], signal: AbortSignal) {
      const client = this.client;
      if (!client || !client.connected) {
        throw new DeliveryError(RED._("forwarder.status.disconnected"));
      }
      const sent = items.map(
        (item) =>
          new Promise<Error | null>((resolve) => {
            client.publish(
              remapTopic(s.rules, item.payload.t),
              Buffer.from(item.payload.p, "base64"),
              { qos: s.qos, retain: item.payload.r === true },
              (err) => resolve(err ?? null),
            );
          }),
      );
      const aborted = new Promise<never>((_resolve, reject) => {
        if (signal.aborted) reject(new Aborted("closed"));
        signal.addEventListener("abort", () => reject(new Aborted("closed")), { once: true });
      });
      const results = await Promise.race([Promise.all(sent), aborted]);
      let ok = 0;
      while (ok < results.length && results[ok] === null) ok++;
      if (ok === 0) throw new DeliveryError((results[0] as Error).message);
      return { count: ok };
    }

    /** Connection, queue and quota; coalesced to one update per 250 ms unless `now`. */
    private refreshStatus(now = false): void {
      this.statusThrottle.refresh(now);
    }

    private drawStatus(): void {
      const outbox = this.outbox;
      if (!outbox) return;
      const queued = RED._("forwarder.status.queued", { count: outbox.size, bytes: formatBytes(this.bytes) });
      const connected = this.client?.connected ?? false;
      let kind: StatusKind = connected ? "ok" : "warn";
      let text = RED._(connected ? "forwarder.status.connected" : "forwarder.status.disconnected-queued", { queued });
      if (this.full) {
        kind = "error";
        text = RED._("forwarder.status.full", { queued });
      } else if (this.dropped > 0) {
        kind = "warn";
        text = RED._("forwarder.status.dropped", { queued, dropped: this.dropped });
      }
      this.show(kind, text);
    }

    /** The node's own status, combined with its device's link once it has one. */
    private show(kind: StatusKind, text: string): void {
      if (this.user) this.user.show(kind, text);
      else showStatus(this, kind, text);
    }
  };
}

function toBuffer(payload: unknown): Buffer {
  if (Buffer.isBuffer(payload)) return payload;
  if (payload instanceof Uint8Array) return Buffer.from(payload);
  if (typeof payload === "string") return Buffer.from(payload, "utf8");
  if (payload === undefined || payload === null) return Buffer.alloc(0);
  return Buffer.from(typeof payload === "object" ? JSON.stringify(payload) : String(payload), "utf8");
}

/** The bytes a queue holds on disk (its items' JSON), counted once at start. */
function queuedBytesOnDisk(pool: SqlitePool, dataDir: string, queue: string): number {
  const handle = pool.data(dataDir, "outbox");
  try {
    const row = handle.db
      .prepare("SELECT COALESCE(SUM(LENGTH(CAST(payload AS BLOB))), 0) AS n FROM outbox WHERE queue = ?")
      .get(queue) as { n: number };
    return Number(row.n);
  } finally {
    handle.release();
  }
}

export default function register(RED: NodeAPI): void {
  defineForwarder(RED).registerType(RED, "forwarder", {
    credentials: { username: { type: "text" }, password: { type: "password" } },
  });
}
