// An in-memory SimBus for unit tests of the simulated drivers: no broker, every publish kept.
import type { SimBus } from "../../nodes/lib/drivers/sim/sim-bus";

export interface Published {
  topic: string;
  payload: string;
  retain: boolean;
}

/** An in-memory SimBus: records publishes and warnings; `deliver` plays the broker for subscribed topics. */
export class MemoryBus implements SimBus {
  readonly published: Published[] = [];
  readonly warnings: string[] = [];
  private handlers = new Map<string, Set<(payload: Buffer) => void>>();

  constructor(readonly device: string) {}

  subscribe(topic: string, handler: (payload: Buffer) => void): () => void {
    const set = this.handlers.get(topic) ?? new Set();
    set.add(handler);
    this.handlers.set(topic, set);
    return () => set.delete(handler);
  }

  publish(topic: string, payload: string, retain: boolean): void {
    this.published.push({ topic, payload, retain });
  }

  warn(message: string): void {
    this.warnings.push(message);
  }

  /** Hands `payload` to every handler subscribed to exactly `topic`, as the broker would. */
  deliver(topic: string, payload: string | Buffer): void {
    for (const h of this.handlers.get(topic) ?? []) h(Buffer.isBuffer(payload) ? payload : Buffer.from(payload));
  }

  /** How many handlers are subscribed to `topic` now. */
  subscribers(topic: string): number {
    return this.handlers.get(topic)?.size ?? 0;
  }

  /** Everything published on `topic`, oldest first. */
  on(topic: string): Published[] {
    return this.published.filter((p) => p.topic === topic);
  }

  /** The last thing published on `topic`, if anything. */
  last(topic: string): Published | undefined {
    return this.on(topic).at(-1);
  }
}
