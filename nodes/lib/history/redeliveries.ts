// Messages an external broker may deliver again after the history's connection was lost, told apart without their
// packet ids: a broker cluster's next node numbers its deliveries itself (NATS starts again at 1) and does not
// always set DUP, so a redelivery cannot be found by (client, packet id) as a single broker's can.
//
// What the history stored but had not acknowledged when the connection ended is certain to come again (QoS 1,
// persistent session): each such message is expected once and the first arrival with its topic and payload is taken
// for it, whatever its packet id or DUP flag, for REPEAT_WINDOW_MS after the reconnect. What it acknowledged in the
// second before its last acknowledgement may come again too (the dying node may not have passed the PUBACK on;
// NATS then redelivers it without DUP as often as with it): that second is measured back from the last PUBACK, not
// from when the loss was noticed (a loaded machine notices late), and only when that PUBACK went out at most
// ACK_STALE_MS before the loss was noticed (a broker that had that long has them). Such a possible repeat is taken
// for one only for POSSIBLE_WINDOW_MS after the reconnect (the next node redelivers at once, or when its ack wait
// ends). The price: a new message with the same topic and payload as one of those, arriving in that minute, is taken
// for a redelivery (once), where a duplicate would otherwise be stored.
// What this cannot tell apart: a NATS node sometimes sends a message that was in flight twice on the new connection
// (once at the reconnect, once again in order, neither with DUP). Each copy looks like a new message; QoS 1 is at
// least once, and the history stores both rather than risk taking a new message for a copy.
// Nothing is expected when the broker says the session is gone, nor after the windows.
import { createHash } from "node:crypto";
import { REPEAT_WINDOW_MS } from "./store-shared";

/** PUBACKs sent this long before the last one before a lost connection may not have reached the broker. */
export const ACK_GRACE_MS = 1_000;
/** A last PUBACK this long before the loss was noticed: the broker had time to take it and those before it. */
export const ACK_STALE_MS = 5_000;
/** How long after the reconnect a possible repeat (acknowledged before the loss) is looked for. */
export const POSSIBLE_WINDOW_MS = 60_000;

/** A message's identity for this purpose: its topic and payload. */
export function redeliveryKey(topic: string, payload: Buffer): string {
  return createHash("sha1").update(topic).update("\u0000").update(payload).digest("base64");
}

function add(bag: Map<string, number>, key: string): void {
  bag.set(key, (bag.get(key) ?? 0) + 1);
}

function take(bag: Map<string, number>, key: string): boolean {
  const n = bag.get(key);
  if (!n) return false;
  if (n === 1) bag.delete(key);
  else bag.set(key, n - 1);
  return true;
}

export class Redeliveries {
  /** This connection's QoS 1 messages not yet acknowledged, by packet id. */
  private readonly unacked = new Map<number, { key: string; committed: Promise<void> }>();
  /** This connection's last acknowledgements, oldest first. */
  private readonly recentAcks: Array<{ key: string; at: number }> = [];
  /** Stored and never acknowledged: they will come again. */
  private readonly expected = new Map<string, number>();
  /** Never acknowledged, their commit not settled yet when the connection ended: expected once it succeeds. */
  private readonly pending = new Map<string, Array<{ committed: Promise<void>; taken: boolean }>>();
  /** Acknowledged just before the connection ended: they may come again. */
  private readonly possible = new Map<string, number>();
  private until = 0;
  private possibleUntil = 0;
  /** Counts the sessions the broker lost: what the previous one left is not expected on the next. */
  private session = 0;

  constructor(private readonly now: () => number) {}

  /** A QoS 1 message handed to the store (or taken for a repeat): `committed` settles when it is on disk. */
  received(messageId: number, key: string, committed: Promise<void>): void {
    this.unacked.set(messageId, { key, committed });
  }

  /** Its PUBACK went out on the connection it came in on. */
  acknowledged(messageId: number): void {
    const entry = this.unacked.get(messageId);
    if (!entry) return;
    this.unacked.delete(messageId);
    const now = this.now();
    this.recentAcks.push({ key: entry.key, at: now });
    while (this.recentAcks.length > 0 && this.recentAcks[0].at < now - ACK_GRACE_MS) this.recentAcks.shift();
  }

  /** The connection ended: what it left unacknowledged is expected again (once stored), its last acknowledgements may be. */
  connectionLost(): void {
    const now = this.now();
    const session = this.session;
    for (const { key, committed } of this.unacked.values()) {
      // pending until its commit settles (a redelivery may come first: isRepeat then waits for it); not stored (the
      // commit failed): its redelivery is a message to store
      const entry = { committed, taken: false };
      const list = this.pending.get(key) ?? [];
      list.push(entry);
      this.pending.set(key, list);
      const settle = (stored: boolean) => {
        if (entry.taken || session !== this.session) return;
        const now = this.pending.get(key);
        const i = now ? now.indexOf(entry) : -1;
        if (i >= 0) now!.splice(i, 1);
        if (now && now.length === 0) this.pending.delete(key);
        if (stored) add(this.expected, key);
      };
      committed.then(
        () => settle(true),
        () => settle(false),
      );
    }
    this.unacked.clear();
    // recentAcks holds the last second of acknowledgements, measured back from the newest
    const last = this.recentAcks.at(-1);
    if (last && last.at >= now - ACK_STALE_MS) for (const a of this.recentAcks) add(this.possible, a.key);
    this.recentAcks.length = 0;
  }

  /** A new connection: the broker kept the session (it redelivers), or it did not (nothing will come again). */
  connected(sessionPresent: boolean): void {
    if (!sessionPresent) {
      this.session++;
      this.expected.clear();
      this.pending.clear();
      this.possible.clear();
      return;
    }
    const now = this.now();
    this.until = now + REPEAT_WINDOW_MS;
    this.possibleUntil = now + POSSIBLE_WINDOW_MS;
  }

  /**
   * Whether an arriving QoS 1 message is one already stored, coming again: each expected one is counted off once.
   * A promise when it is the redelivery of a message whose commit has not settled yet (a slow store): true once that
   * commit succeeded, false when it failed (this copy is then the one to store).
   */
  isRepeat(key: string): boolean | Promise<boolean> {
    if (this.expected.size === 0 && this.pending.size === 0 && this.possible.size === 0) return false;
    const now = this.now();
    if (now > this.possibleUntil) this.possible.clear();
    if (now > this.until) {
      this.expected.clear();
      this.pending.clear();
      return false;
    }
    if (take(this.expected, key)) return true;
    const waiting = this.pending.get(key)?.shift();
    if (waiting) {
      waiting.taken = true;
      if (this.pending.get(key)!.length === 0) this.pending.delete(key);
      return waiting.committed.then(
        () => true,
        () => false,
      );
    }
    return take(this.possible, key);
  }
}
