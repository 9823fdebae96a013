// The runtime's open outboxes (one per cloud bridge's queue), so that what watches the runtime (the metrics and
// /health) sees each queue's depth, age and failures without knowing the bridges. An outbox given a registry is in it
// from its opening to its close.
import type { OutboxSnapshot } from "./outbox";

export interface WatchedOutbox {
  readonly queue: string;
  snapshot(): OutboxSnapshot;
}

export class OutboxRegistry {
  private readonly open = new Set<WatchedOutbox>();

  add(outbox: WatchedOutbox): () => void {
    this.open.add(outbox);
    return () => this.open.delete(outbox);
  }

  /** Each open outbox's snapshot, by queue name. */
  snapshots(): OutboxSnapshot[] {
    return [...this.open].map((o) => o.snapshot()).sort((a, b) => a.queue.localeCompare(b.queue));
  }
}

/** The bridge a queue belongs to: its name up to the first "/" (`thingspeak/<channel>` → thingspeak). */
export function bridgeOf(queue: string): string {
  const slash = queue.indexOf("/");
  return slash > 0 ? queue.slice(0, slash) : queue;
}
