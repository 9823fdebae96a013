// A device's MQTT presence: one connection with the native last will, and (for a PiFog role) a second one
// whose last will is PiFog's `disconnected`, since MQTT allows one will per connection. It announces the
// device, answers `ping`, and dispatches subscriptions to the nodes that share it.
import type { IClientOptions, MqttClient } from "mqtt";
import { connectBrokers } from "./broker-urls";
import { EventEmitter } from "node:events";
import type { Clock } from "../clock";
import {
  compatAddresses,
  encodePayload,
  compatTopics,
  parseCommand,
  pythonTimestamp,
  topics,
  type Command,
  type CompatConnected,
  type CompatDisconnected,
  type DeviceStatus,
  type NetworkAddress,
  type PiName,
  type PongEvent,
  type Topic,
} from "../contract";
import { topicMatches } from "./topic-filter";

export interface DeviceLinkOptions {
  url: string;
  device: string;
  role: string;
  compat?: PiName;
  username?: string;
  password?: string;
  /**
   * The device's certificate (its CN is the device id), key and CA, for a broker's TLS listener (mqtts://, wss://):
   * the link then connects as the device itself, with the client ids the broker wants of it (`<id>`, `<id>:compat`).
   */
  tls?: { cert: string; key: string; ca: string };
  hardware: "pi" | "sim";
  version: string;
  addresses: () => NetworkAddress[];
  bootTime: Date;
  clock: Clock;
  /**
   * The embedded broker, when it runs in this process: subscriptions are then delivered in-process (no
   * encoding, socket or PUBACK per message). Publishing, the last will and the status stay on the MQTT connection.
   */
  local?: LocalBroker | null;
}

export interface LocalBroker {
  localSubscribe(filter: string, handler: (topic: string, payload: Buffer, meta: MessageMeta) => void): () => void;
}

export interface PublishOptions {
  qos?: 0 | 1 | 2;
  retain?: boolean;
}

/** How a message arrived: `retain` is set when the broker sent a stored message for a new subscription. */
export interface MessageMeta {
  retain: boolean;
  qos: 0 | 1 | 2;
}

/** No Nagle on the device's TCP connection: a door change goes out at once. */
function noDelay(client: MqttClient | null): void {
  const stream = client?.stream as { setNoDelay?: (on: boolean) => void } | undefined;
  stream?.setNoDelay?.(true);
}

type Handler = (topic: string, payload: Buffer, meta: MessageMeta) => void;

/**
 * Where the link stands: `closed` before it is opened and after it is closed; `connecting` until the first connect;
 * `reconnecting` once a connection is lost; `unreachable` once an attempt has failed, until one succeeds.
 */
export type LinkState = "closed" | "connecting" | "connected" | "reconnecting" | "unreachable";

export interface DeviceLinkEvents {
  connection: [connected: boolean];
  state: [state: LinkState];
  /** `raw`: the payload as it arrived, for what the parsed command leaves out (a signature: nodes/lib/identity/signing.ts). */
  command: [command: Command, source: "native" | "compat", raw: Buffer];
  error: [error: Error, context: { topic?: string; payload?: Buffer }];
}

export class DeviceLink extends EventEmitter<DeviceLinkEvents> {
  private client: MqttClient | null = null;
  private compatClient: MqttClient | null = null;
  private readonly subscriptions = new Map<string, Set<Handler>>();
  private readonly localSubscriptions = new Map<string, () => void>();
  private readonly startedAt: Date;
  private closing = false;
  private everConnected = false;
  private current: LinkState = "closed";
  private closed: Promise<void> = Promise.resolve();
  /** Whether the link should be open: a `start` during a close opens it again once the close is done. */
  private wanted = false;

  constructor(readonly options: DeviceLinkOptions) {
    super();
    this.startedAt = new Date(options.clock.now());
    // the link's own subscriptions live as long as it does, across a close and a new start
    this.subscribe(topics.command(options.device), (_t, p) => this.onCommand(p, "native"));
    const pi = options.compat;
    if (pi) this.subscribe(compatTopics.command(pi), (_t, p) => this.onCommand(p, "compat"));
  }

  get state(): LinkState {
    return this.current;
  }

  private setState(state: LinkState): void {
    if (state === this.current) return;
    this.current = state;
    this.emit("state", state);
  }

  get device(): string {
    return this.options.device;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Opens the connection(s); a link that is open already, or still closing, stays as it is or opens after. */
  start(): void {
    this.wanted = true;
    if (this.client) return; // open, or closing: `stop` opens it again once it is closed
    this.closing = false;
    this.everConnected = false;
    this.setState("connecting");
    const local = this.options.local;
    if (local) {
      for (const filter of this.subscriptions.keys()) {
        if (!this.localSubscriptions.has(filter)) {
          this.localSubscriptions.set(filter, local.localSubscribe(filter, (t, p, m) => this.dispatchTo(filter, t, p, m)));
        }
      }
    }
    const o = this.options;
    const offline: DeviceStatus = { state: "offline", device: o.device };
    const client = connectBrokers(o.url, {
      ...this.baseOptions(this.asItself() ? o.device : `pifog-${o.device}`),
      will: { topic: topics.status(o.device), payload: Buffer.from(JSON.stringify(offline)), qos: 1, retain: true },
    });
    this.client = client;
    client.on("connect", () => {
      noDelay(client);
      if (!this.everConnected) {
        // filters added before the first connect; later reconnects are resubscribed by mqtt.js itself
        this.everConnected = true;
        if (!this.options.local) for (const filter of this.subscriptions.keys()) client.subscribe(filter, { qos: 1 });
      }
      this.publish(topics.status(o.device), this.onlineStatus(), { qos: 1, retain: true }).catch(() => undefined);
      this.setState("connected");
      this.emit("connection", true);
    });
    client.on("close", () => {
      if (client !== this.client) return;
      // a lost connection is "reconnecting" until mqtt.js's next attempt fails too
      if (!this.closing) this.setState(this.current === "connected" ? "reconnecting" : "unreachable");
      this.emit("connection", false);
    });
    client.on("error", (err) => this.emit("error", err, {}));
    client.on("message", (topic, payload, packet) => this.dispatch(topic, payload, { retain: packet.retain, qos: packet.qos }));

    if (o.compat) this.startCompat(o.compat);
  }

  private startCompat(pi: PiName): void {
    const will: CompatDisconnected = { disconnected: { device: this.options.device } };
    const client = connectBrokers(this.options.url, {
      ...this.baseOptions(this.asItself() ? `${this.options.device}:compat` : `pifog-${this.options.device}-compat`),
      will: { topic: compatTopics.connection(pi), payload: Buffer.from(JSON.stringify(will)), qos: 1, retain: true },
    });
    this.compatClient = client;
    client.on("connect", () => {
      noDelay(client);
      const now = new Date(this.options.clock.now());
      const connected: CompatConnected = {
        connected: {
          boot_time: pythonTimestamp(this.options.bootTime),
          addresses: compatAddresses(this.options.addresses()),
          timestamp: pythonTimestamp(now),
        },
      };
      client.publish(compatTopics.connection(pi), JSON.stringify(connected), { qos: 1, retain: true });
    });
    client.on("error", (err) => this.emit("error", err, {}));
  }

  /** Whether the link is the device itself (its certificate, or its own password login): the broker then wants the
   * device id as client id, `<id>:<label>` for its extra connections. */
  private asItself(): boolean {
    return !!this.options.tls || (this.options.username !== undefined && this.options.username === this.options.device);
  }

  private baseOptions(clientId: string): IClientOptions {
    return {
      clientId,
      clean: true,
      keepalive: 30,
      reconnectPeriod: 2000,
      connectTimeout: 10_000,
      username: this.options.username || undefined,
      password: this.options.password || undefined,
      ...(this.options.tls ? { cert: this.options.tls.cert, key: this.options.tls.key, ca: this.options.tls.ca, rejectUnauthorized: true } : {}),
    };
  }

  private onlineStatus(): DeviceStatus {
    const o = this.options;
    const status: DeviceStatus = {
      state: "online",
      device: o.device,
      role: o.role,
      ...(o.compat ? { compat: o.compat } : {}),
      addresses: o.addresses(),
      bootTime: o.bootTime.toISOString(),
      startedAt: this.startedAt.toISOString(),
      version: o.version,
      hardware: o.hardware,
      timestamp: new Date(o.clock.now()).toISOString(),
    };
    return status;
  }

  private onCommand(payload: Buffer, source: "native" | "compat"): void {
    let command: Command;
    try {
      command = parseCommand(payload);
      // the sender stamp is only proof on this runtime's own broker, which overwrites whatever a client wrote there
      if (!this.options.local) {
        delete command.from;
        delete command.sender;
      }
    } catch (err) {
      this.emit("error", err as Error, { topic: source === "native" ? topics.command(this.device) : undefined, payload });
      return;
    }
    if (command.command === "ping") {
      const now = new Date(this.options.clock.now());
      if (source === "compat" && this.options.compat) {
        const pong: PongEvent = { pong: { id: command.id ?? null, timestamp: pythonTimestamp(now) } };
        this.publish(compatTopics.event(this.options.compat), pong, { qos: 1 }).catch(() => undefined);
      } else {
        const pong: PongEvent = { pong: { id: command.id ?? null, timestamp: now.toISOString() } };
        this.publish(topics.event(this.device), pong, { qos: 1 }).catch(() => undefined);
      }
      return;
    }
    this.emit("command", command, source, payload);
  }

  /** Subscribe a handler to a filter; returns the unsubscribe function. Survives reconnects. */
  subscribe(filter: string, handler: Handler, qos: 0 | 1 = 1): () => void {
    let handlers = this.subscriptions.get(filter);
    if (!handlers) {
      handlers = new Set();
      this.subscriptions.set(filter, handlers);
      const local = this.options.local;
      if (local) {
        if (this.client) this.localSubscriptions.set(filter, local.localSubscribe(filter, (t, p, m) => this.dispatchTo(filter, t, p, m)));
      } else if (this.everConnected) this.client?.subscribe(filter, { qos });
    }
    handlers.add(handler);
    return () => {
      const set = this.subscriptions.get(filter);
      if (!set) return;
      set.delete(handler);
      if (set.size === 0) {
        this.subscriptions.delete(filter);
        const local = this.localSubscriptions.get(filter);
        this.localSubscriptions.delete(filter);
        if (local) local();
        else if (!this.closing) this.client?.unsubscribe(filter);
      }
    };
  }

  private dispatch(topic: string, payload: Buffer, meta: MessageMeta): void {
    for (const filter of this.subscriptions.keys()) {
      if (topicMatches(filter, topic)) this.dispatchTo(filter, topic, payload, meta);
    }
  }

  private dispatchTo(filter: string, topic: string, payload: Buffer, meta: MessageMeta): void {
    for (const handler of this.subscriptions.get(filter) ?? []) {
      try {
        handler(topic, payload, meta);
      } catch (err) {
        // one failing user never takes the link (or the runtime) down
        this.emit("error", err as Error, { topic, payload });
      }
    }
  }

  /**
   * Publish the payload the contract gives the topic (JSON, or text and bytes as they are); resolves once the broker
   * has it (QoS ≥ 1) or it has been written (QoS 0).
   */
  publish<P>(topic: Topic<P>, payload: P, options: PublishOptions = {}): Promise<void> {
    return this.publishEncoded(topic, encodePayload(payload), options);
  }

  /** Publish a payload that is encoded already (the simulators' text and frames, on their own topics). */
  publishEncoded(topic: Topic<unknown>, payload: string | Buffer, options: PublishOptions = {}): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(new Error("device link not started"));
    return new Promise((resolve, reject) => {
      client.publish(topic, payload, { qos: options.qos ?? 1, retain: options.retain ?? false }, (err) =>
        err ? reject(err) : resolve(),
      );
    });
  }

  /**
   * A clean stop: say offline (the will is for unclean ones), then disconnect. Subscriptions stay: a later `start`
   * takes them up again. `dispose` also drops every listener.
   */
  close(): Promise<void> {
    this.wanted = false;
    if (!this.client || this.closing) return this.closed;
    this.closed = this.stop();
    return this.closed;
  }

  async dispose(): Promise<void> {
    await this.close();
    this.removeAllListeners();
  }

  private async stop(): Promise<void> {
    this.closing = true;
    for (const unsubscribe of this.localSubscriptions.values()) unsubscribe();
    this.localSubscriptions.clear();
    const o = this.options;
    const endClient = async (client: MqttClient | null, goodbye?: { topic: string; payload: string }) => {
      if (!client) return;
      if (goodbye && client.connected) {
        await new Promise<void>((resolve) =>
          client.publish(goodbye.topic, goodbye.payload, { qos: 1, retain: true }, () => resolve()),
        );
      }
      await client.endAsync(!client.connected);
    };
    const offline: DeviceStatus = { state: "offline", device: o.device };
    const compatGoodbye = o.compat
      ? { topic: compatTopics.connection(o.compat), payload: JSON.stringify({ disconnected: { device: o.device } }) }
      : undefined;
    await Promise.all([
      endClient(this.client, { topic: topics.status(o.device), payload: JSON.stringify(offline) }).catch(() => {}),
      endClient(this.compatClient, compatGoodbye),
    ]);
    this.client = null;
    this.compatClient = null;
    this.setState("closed");
    if (this.wanted) this.start();
  }
}
