// A history node's store and ingest outlive the node object across a redeploy: Node-RED closes the old node
// before it builds the new one, and every message acknowledged in between must still be stored. A sink is kept
// by node id (in the runtime's services: one DurableSinks per runtime); a new node with the same settings
// adopts it, one with other settings replaces it (the new one listens before the old one stops), and a removed
// node closes it.

export interface DurableSink {
  /** Settings it was made with: a node with the same key adopts it. */
  readonly key: string;
  close(): Promise<void>;
}

export class DurableSinks {
  private readonly sinks = new Map<string, DurableSink>();

  adopt<T extends DurableSink>(nodeId: string, key: string): T | null {
    const sink = this.sinks.get(nodeId);
    return sink && sink.key === key ? (sink as T) : null;
  }

  /** Keeps `sink` for `nodeId`; a different sink it replaces is closed after. */
  async keep(nodeId: string, sink: DurableSink): Promise<void> {
    const old = this.sinks.get(nodeId);
    this.sinks.set(nodeId, sink);
    if (old && old !== sink) await old.close();
  }

  async close(nodeId: string): Promise<void> {
    const sink = this.sinks.get(nodeId);
    this.sinks.delete(nodeId);
    await sink?.close();
  }

  /** On runtime shutdown: commit what is queued and close every store. */
  async closeAll(): Promise<void> {
    const all = [...this.sinks.values()];
    this.sinks.clear();
    await Promise.allSettled(all.map((s) => s.close()));
  }
}
