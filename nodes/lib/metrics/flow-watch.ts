// What /health knows of the flows, from Node-RED's own events (`RED.events`): whether they run, how many nodes, and
// which nodes show a red status now (the editor's status dot), with its text.
import type { FlowFacts } from "./runtime-health";

interface FlowConfigNode {
  id?: unknown;
  type?: unknown;
}

interface FlowsEvent {
  config?: { flows?: FlowConfigNode[] };
  type?: string;
  diff?: { changed?: string[]; removed?: string[]; added?: string[]; rewired?: string[] };
}

interface StatusEvent {
  id?: string;
  status?: { fill?: string; shape?: string; text?: unknown };
}

/** Node-RED's runtime events, as `RED.events` offers them. */
export interface RuntimeEvents {
  on(event: string, listener: (payload: unknown) => void): unknown;
  off(event: string, listener: (payload: unknown) => void): unknown;
}

/** Config nodes and tabs do not run as flow nodes. */
const NOT_NODES = new Set(["tab", "subflow", "group", "junction", "comment"]);

export class FlowWatch {
  private started = false;
  private readonly types = new Map<string, string>();
  private readonly red = new Map<string, string>();

  /** Follows a runtime's events; returns the function that stops following. */
  attach(events: RuntimeEvents): () => void {
    const listeners: Array<[string, (payload: unknown) => void]> = [
      ["flows:starting", (e) => this.flowsStarting((e ?? {}) as FlowsEvent)],
      ["flows:started", (e) => this.flowsStarted((e ?? {}) as FlowsEvent)],
      ["flows:stopped", () => this.flowsStopped()],
      ["node-status", (e) => this.status((e ?? {}) as StatusEvent)],
    ];
    for (const [event, listener] of listeners) events.on(event, listener);
    return () => {
      for (const [event, listener] of listeners) events.off(event, listener);
    };
  }

  /** Before the nodes are made (they may show a status while they start): a full deploy restarts every node, any
   * other the changed and removed ones, each without its old status. */
  flowsStarting(e: FlowsEvent): void {
    const restarted = e.type === "full" || !e.diff ? [...this.red.keys()] : [...(e.diff.changed ?? []), ...(e.diff.removed ?? [])];
    for (const id of restarted) this.red.delete(id);
  }

  flowsStarted(e: FlowsEvent): void {
    this.started = true;
    this.types.clear();
    for (const n of e.config?.flows ?? []) {
      if (typeof n.id === "string" && typeof n.type === "string" && !NOT_NODES.has(n.type) && !n.type.startsWith("subflow:")) this.types.set(n.id, n.type);
    }
  }

  flowsStopped(): void {
    this.started = false;
  }

  status(e: StatusEvent): void {
    if (!e.id) return;
    if (e.status?.fill === "red") this.red.set(e.id, typeof e.status.text === "string" ? e.status.text.slice(0, 200) : "");
    else this.red.delete(e.id);
  }

  facts(): FlowFacts {
    return {
      started: this.started,
      nodes: this.started ? this.types.size : 0,
      inError: [...this.red].map(([id, text]) => ({ id, type: this.types.get(id) ?? "unknown", text })),
    };
  }
}
