// The dashboard widgets of the running flow, as the socket guard needs them (socket-events.ts WidgetInfo): read
// from Node-RED's deployed flow config, indexed once per deploy (the runtime swaps its config object on every
// deploy, so the object itself tells when to index again), and only for nodes that are running.
import { roleForClassName, type WidgetInfo, type WidgetLookup } from "./socket-events";

/** The part of Node-RED's runtime nodes module (`require("node-red").nodes`) this reads. */
export interface RuntimeNodes {
  getFlows(): unknown;
  eachNode(cb: (config: Record<string, unknown>) => void): void;
  getNode(id: string): unknown;
}

export class FlowWidgets {
  private indexed: { flows: unknown; widgets: Map<string, WidgetInfo> } | null = null;

  /** `nodes` is asked for on each lookup: the settings (which make this) are read before the runtime exists. */
  constructor(private readonly nodes: () => RuntimeNodes | undefined) {}

  readonly lookup: WidgetLookup = (id) => {
    const nodes = this.nodes();
    if (!nodes) return undefined;
    const flows = nodes.getFlows();
    if (!flows) return undefined;
    if (this.indexed?.flows !== flows) this.indexed = { flows, widgets: index(nodes) };
    const widget = this.indexed.widgets.get(id);
    // a widget in a disabled flow, or one that failed to start, is not there to take input
    return widget && nodes.getNode(id) ? widget : undefined;
  };
}

function index(nodes: RuntimeNodes): Map<string, WidgetInfo> {
  const widgets = new Map<string, WidgetInfo>();
  nodes.eachNode((n) => {
    if (typeof n.id !== "string" || typeof n.type !== "string" || !n.type.startsWith("ui_")) return;
    const wires = Array.isArray(n.wires) ? (n.wires as unknown[]) : [];
    widgets.set(n.id, {
      type: n.type,
      wired: wires.some((out) => Array.isArray(out) && out.length > 0),
      sharesInput: n.storeOutMessages === true || n.storeOutMessages === "true",
      scope: typeof n.templateScope === "string" ? n.templateScope : undefined,
      needs: roleForClassName(n.className),
    });
  });
  return widgets;
}

/** Node-RED's runtime nodes, once the runtime has been loaded (the settings module is read before it). */
export function nodeRedNodes(): RuntimeNodes | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require("node-red") as { nodes?: RuntimeNodes }).nodes;
  } catch {
    return undefined;
  }
}
