// What the nodes behind a dashboard share (issue 12): who sent a dashboard message, learnt from the socket it came
// on (msg.socketid, which the socket middleware made the socket's own: nodes/lib/security/dashboard-sockets.ts),
// never from its payload; whether a message is the dashboard saying a browser connected or changed tab (a ui_control
// node's "connect"/"change"), the moment to tell that browser what its person may do; and the answer for that
// browser only.
import type { Node, NodeAPI, NodeMessage } from "node-red";
import type { AuditEvent } from "../audit/audit";
import { showStatus } from "../node-red/status";
import type { UserRole } from "../identity/types";
import { roleAtLeast } from "../security/api-tokens";
import type { SocketAddresses, SocketPerson } from "../security/dashboard-sockets";

export interface DashboardSender {
  /** The socket's signed-in person now; null: unknown socket, or the session ended. */
  person: SocketPerson | null;
  /** The browser's address as the socket saw it ("unknown" when the socket is gone). */
  address: string;
  /** For audit records: `name@address`, or the address alone. */
  who: string;
}

export function senderOf(sockets: SocketAddresses, msg: { socketid?: unknown }): DashboardSender {
  const person = sockets.personOf(msg.socketid);
  const address = sockets.addressOf(msg.socketid) ?? "unknown";
  return { person, address, who: person ? `${person.name}@${address}` : address };
}

/** Whether the sender may do what needs `role`. */
export function mayAct(sender: DashboardSender, role: UserRole): boolean {
  return sender.person !== null && roleAtLeast(sender.person.role, role);
}

const BROWSER_EVENTS = ["connect", "change", "lost", "group"] as const;
export type BrowserEvent = (typeof BROWSER_EVENTS)[number];

/** What a ui_control node's message says happened in a browser (it carries no topic): connected, opened a tab,
 * went away, folded a group; null for anything else. */
export function browserEvent(msg: { topic?: unknown; payload?: unknown }): BrowserEvent | null {
  if (msg.topic !== undefined && msg.topic !== "") return null;
  return (BROWSER_EVENTS as readonly unknown[]).includes(msg.payload) ? (msg.payload as BrowserEvent) : null;
}

/** A message for one browser only (the dashboard sends a message with socketid to that socket alone). */
export function answerTo(msg: { socketid?: unknown }, topic: string, payload: unknown): NodeMessage {
  return { topic, payload, ...(typeof msg.socketid === "string" ? { socketid: msg.socketid } : {}) } as NodeMessage;
}

export interface Refusal {
  /** The node's message prefix: its locale has `refused.<lacking>`, `refused.no-session`, `status.refused` and the
   * log line `logKey`, each taking __user__, __role__, __action__, __who__ and __why__ as they need. */
  messages: string;
  /** The locale key saying what the person lacks (`not-admin`, `not-operator`). */
  lacking: string;
  logKey: string;
  /** What was asked, for the log, the status and the audit record. */
  action: string;
}

/** A dashboard action refused for want of a role, the same way by every node behind the dashboard: the reason in
 * the node's words, a warning in the log, the node's status, and the audit record. Returns the reason, for the
 * answer to that browser. */
export function refuseAction(RED: Pick<NodeAPI, "_">, node: Node, audit: { record(e: AuditEvent): void }, sender: DashboardSender, r: Refusal): string {
  const p = sender.person;
  const why = RED._(`${r.messages}.refused.${p ? r.lacking : "no-session"}`, { user: p?.name ?? "", role: p?.role ?? "" });
  audit.record({ event: "dashboard.action.refused", via: "dashboard", who: sender.who, reason: why, action: r.action, ...(p ? { user: p.name, role: p.role } : {}) });
  node.warn(RED._(`${r.messages}.${r.logKey}`, { action: r.action, who: sender.who, why }));
  showStatus(node, "warn", RED._(`${r.messages}.status.refused`, { action: r.action }));
  return why;
}
