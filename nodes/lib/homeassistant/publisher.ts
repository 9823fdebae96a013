// A device's Home Assistant discovery configs: its nodes announce their entities (./discovery.ts), it publishes each
// config retained while its link is up (again on every connect), and it takes a config away (an empty retained
// payload) when the node that announced it is removed or announces without it. It also owns its node id under the
// prefix: a config it finds there on the broker that none of its nodes announces once the flows have started (a node
// removed while the runtime was down, a node that came back without that entity, discovery switched off in the
// device) is cleared too, so Home Assistant never keeps an entity PiFog no longer has.
import { haTopics, isCleared, type Topic } from "../contract";
import type { MessageMeta, PublishOptions } from "../mqtt/device-link";
import { discoveryMessage, type HaConfig, type HaDeviceDescription, type HaEntity } from "./discovery";

/** What the publisher needs of the device's link (a DeviceLink). */
export interface DiscoveryLink {
  readonly connected: boolean;
  publish<P>(topic: Topic<P>, payload: P, options?: PublishOptions): Promise<void>;
  subscribe(filter: string, handler: (topic: string, payload: Buffer, meta: MessageMeta) => void): () => void;
  on(event: "connection", listener: (connected: boolean) => void): unknown;
  off(event: "connection", listener: (connected: boolean) => void): unknown;
}

export interface DiscoveryOptions {
  prefix: string;
  device: HaDeviceDescription;
  /** false: the device's switch is off; nothing is announced, and what is found under its node id is cleared. */
  enabled: boolean;
  /** A publish that failed (the link closed meanwhile): said once per topic. */
  warn?: (message: string) => void;
}

const RETAINED: PublishOptions = { qos: 1, retain: true };

export class DiscoveryPublisher {
  /** Each owner's (node id's) configs, by topic. */
  private readonly owners = new Map<string, Map<string, HaConfig>>();
  /** Owners stopped for a redeploy: their configs stay unless they do not come back by the time the flows started. */
  private readonly restarting = new Set<string>();
  /** Configs found retained on the broker under this node id (not cleared). */
  private readonly found = new Set<string>();
  private flowsStarted = false;
  private readonly unsubscribe: () => void;
  private readonly onConnection = (connected: boolean) => {
    if (!connected) return;
    this.publishAll();
    // what was found while the link could not publish (an in-process broker delivers the retained configs at once)
    if (this.flowsStarted) for (const topic of [...this.found]) this.clearUnowned(topic);
  };

  constructor(
    private readonly link: DiscoveryLink,
    private readonly o: DiscoveryOptions,
  ) {
    this.unsubscribe = link.subscribe(haTopics.nodeConfigs(o.prefix, o.device.id), (topic, payload) => this.onFound(topic, payload));
    link.on("connection", this.onConnection);
  }

  get enabled(): boolean {
    return this.o.enabled;
  }

  /** `owner`'s entities now (all of them: one it no longer names is taken away). */
  announce(owner: string, entities: readonly HaEntity[]): void {
    if (!this.o.enabled) return;
    const before = this.owners.get(owner);
    const now = new Map<string, HaConfig>();
    for (const entity of entities) {
      const m = discoveryMessage(this.o.prefix, this.o.device, entity);
      now.set(m.topic, m.payload);
    }
    this.owners.set(owner, now);
    this.restarting.delete(owner);
    for (const topic of before?.keys() ?? []) if (!now.has(topic)) this.clearUnowned(topic);
    for (const [topic, payload] of now) {
      if (before && JSON.stringify(before.get(topic)) === JSON.stringify(payload) && this.found.has(topic)) continue;
      this.send(topic, payload);
    }
  }

  /** `owner` stops: `removed` (deleted by a deploy) takes its entities away; a restart keeps them for its return. */
  release(owner: string, removed: boolean): void {
    if (!this.owners.has(owner)) return;
    if (!removed) {
      this.restarting.add(owner);
      return;
    }
    this.drop(owner);
  }

  /** The flows have (re)started: an owner that did not come back, and a config nobody owns, are cleared. */
  started(): void {
    this.flowsStarted = true;
    for (const owner of [...this.restarting]) this.drop(owner);
    this.restarting.clear();
    for (const topic of [...this.found]) this.clearUnowned(topic);
  }

  /** The device stops. `removed`: it is deleted, so every entity of it goes (awaited, before its link closes). */
  async close(removed: boolean): Promise<void> {
    this.link.off("connection", this.onConnection);
    this.unsubscribe();
    if (!removed) return;
    const topics = new Set<string>([...this.found, ...[...this.owners.values()].flatMap((m) => [...m.keys()])]);
    this.owners.clear();
    if (!this.link.connected) return;
    await Promise.all([...topics].map((t) => this.link.publish(t as Topic<HaConfig | "">, "", RETAINED).catch(() => undefined)));
  }

  /** The topics announced now (for the device's own use and the tests). */
  topics(): string[] {
    return [...new Set([...this.owners.values()].flatMap((m) => [...m.keys()]))];
  }

  private drop(owner: string): void {
    const configs = this.owners.get(owner);
    this.owners.delete(owner);
    for (const topic of configs?.keys() ?? []) this.clearUnowned(topic);
  }

  private owned(topic: string): HaConfig | undefined {
    for (const configs of this.owners.values()) {
      const config = configs.get(topic);
      if (config) return config;
    }
    return undefined;
  }

  private clearUnowned(topic: string): void {
    if (this.owned(topic)) return;
    this.send(topic, "");
  }

  private onFound(topic: string, payload: Buffer): void {
    if (isCleared(payload)) {
      this.found.delete(topic);
      return;
    }
    this.found.add(topic);
    if (this.flowsStarted && !this.owned(topic)) this.send(topic, "");
  }

  private publishAll(): void {
    for (const topic of this.topics()) {
      const config = this.owned(topic);
      if (config) this.send(topic, config);
    }
  }

  private send(topic: string, payload: HaConfig | ""): void {
    // while the link is down nothing is sent: the next connect publishes every config again, and a clear that could not
    // go is made good by the next start, which finds the config unowned
    if (!this.link.connected) return;
    this.link.publish(topic as Topic<HaConfig | "">, payload, RETAINED).catch((err: Error) => this.o.warn?.(`${topic}: ${err.message}`));
  }
}
