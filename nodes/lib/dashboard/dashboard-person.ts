// What the nodes behind a dashboard share (issue 12): who sent a dashboard message, learnt from the socket it came
// on (msg.socketid, which the socket middleware made the socket's own: nodes/lib/security/dashboard-sockets.ts),
// never from its payload; whether a message is the dashboard saying a browser connected or changed tab (a ui_control
// node's "connect"/"change"), the moment to tell that browser what its person may do; and the answer for that
// browser only.
import type { NodeMessage } from "node-red";
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
