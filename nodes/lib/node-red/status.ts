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

/** Where a device's MQTT link stands, with its words in the device's language. */
export interface LinkView {
  state: "closed" | "connecting" | "connected" | "reconnecting" | "unreachable";
  text: string;
}

const LINK_KIND: Record<LinkView["state"], StatusKind> = {
  closed: "off",
  connecting: "busy",
  connected: "ok",
  reconnecting: "warn",
  unreachable: "error",
};

/** The link states that a node's status gives way to: nothing the node says then reaches anyone. */
const LINK_DOWN: ReadonlySet<LinkView["state"]> = new Set(["reconnecting", "unreachable"]);

/**
 * A node's own status combined with its device's link. While the link is lost (reconnecting, broker unreachable) the
 * link's state shows, since nothing the node publishes then reaches anyone; once it is back, the node's own status
 * returns (or "connected", when the node has said nothing yet). A problem of the node itself (error, off) stays shown
 * whatever the link does: the broker coming back does not fix it. The first connect at start shows nothing of its own.
 */
export class LinkedStatus {
  private own: { kind: StatusKind; text: string } | null = null;
  private link: LinkView | null = null;
  private shown: { kind: StatusKind; text: string } | null = null;

  constructor(private readonly node: Node) {}

  show(kind: StatusKind, text: string): void {
    this.own = { kind, text };
    this.render(true);
  }

  linkChanged(link: LinkView): void {
    this.link = link;
    this.render(false);
  }

  private render(said: boolean): void {
    const own = this.own;
    const link = this.link;
    const linkDown = link !== null && LINK_DOWN.has(link.state);
    let next: { kind: StatusKind; text: string } | null;
    if (own && (own.kind === "error" || own.kind === "off" || !linkDown)) next = own;
    else if (link && (linkDown || this.shown)) next = { kind: LINK_KIND[link.state], text: link.text };
    else next = null;
    // the node's own words are shown each time it says them (as before); the link's only when they change something
    const same = this.shown !== null && next !== null && next.kind === this.shown.kind && next.text === this.shown.text;
    if (!next || (same && !(said && next === own))) return;
    this.shown = next;
    showStatus(this.node, next.kind, next.text);
  }
}
