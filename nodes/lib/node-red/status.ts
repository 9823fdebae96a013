// One way to show state in the editor, so every PiFog node speaks with the same colours and shapes.
import type { Node } from "node-red";

export type StatusKind = "ok" | "busy" | "warn" | "error" | "off";

const LOOK: Record<StatusKind, { fill: "green" | "blue" | "yellow" | "red" | "grey"; shape: "dot" | "ring" }> = {
  ok: { fill: "green", shape: "dot" },
  busy: { fill: "blue", shape: "ring" },
  warn: { fill: "yellow", shape: "ring" },
  error: { fill: "red", shape: "ring" },
  off: { fill: "grey", shape: "ring" },
};

export function showStatus(node: Node, kind: StatusKind, text: string): void {
  node.status({ ...LOOK[kind], text: text.length > 48 ? `${text.slice(0, 47)}…` : text });
}
