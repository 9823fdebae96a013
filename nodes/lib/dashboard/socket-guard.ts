// The dashboard's socket middleware (`ui.ioMiddleware` in the settings): it keeps the two checks the dashboard's
// own middleware makes (which giving ioMiddleware replaces), then holds every incoming event to what the
// dashboard's client sends (socket-events.ts). A dropped event never reaches the dashboard and never throws: it is
// counted, written to the dead-letter record and the audit, and logged (one warning per interval at most, so a
// flood cannot fill the log). Every socket has an event budget, and one that keeps sending what no dashboard sends
// is cut, so one connection cannot make the records churn.
//
// Each event is also held to what the socket's signed-in person may do (issue 12): the person is asked of the
// sessions on every event, so a session that ended, expired or lost its person cuts the socket at its next event;
// navigation (tab changes, replay, refresh, collapse, audio, params) is every role's; input to a widget needs the
// widget's role (socket-events.ts roleForClassName: operator unless its className says `pifog-view` or
// `pifog-admin`). A refused event is dropped like the others and the browser is told (a dashboard toast).
import type { AuditEvent } from "../audit/audit";
import { payloadText, type DeadLetter } from "../dead-letter";
import { roleAtLeast } from "../security/api-tokens";
import type { UserRole } from "../identity/types";
import type { SocketPerson } from "../security/dashboard-sockets";
import { checkDashboardEvent, type WidgetLookup } from "./socket-events";

/** The part of a socket.io server socket the guard uses. */
export interface GuardedSocket {
  id: string;
  handshake: { address: string; xdomain: boolean };
  client: { conn: { request: { url?: string }; close(): void } };
  use(fn: (packet: unknown[], next: (err?: Error) => void) => void): unknown;
  emit(event: string, data: unknown): unknown;
  disconnect(close?: boolean): unknown;
}

export interface SocketGuardOptions {
  widgets: WidgetLookup;
  /** The signed-in person of a socket, now (null: its session ended, expired, or its person is gone). */
  people: (socketId: string) => SocketPerson | null;
  deadLetters: { append(letter: Omit<DeadLetter, "at">): void };
  audit: { record(event: AuditEvent): void };
  warn: (text: string) => void;
  now: () => number;
  /** Events a socket may send in a burst, and per second after it. */
  burst?: number;
  perSecond?: number;
  /** The same for the events that cost the hub more than they cost the sender (COSTLY). */
  costlyBurst?: number;
  costlyPerSecond?: number;
  /** Dropped events after which a socket is cut. */
  maxDropsPerSocket?: number;
  /** At most one warning in this many ms. */
  warnEveryMs?: number;
}

export interface SocketGuardStats {
  passed: number;
  dropped: number;
  /** Sockets cut for sending too much that no dashboard sends. */
  cut: number;
  /** Connections refused before any event (a raw websocket, a cross-site page). */
  refused: number;
}

const SOURCE = "dashboard-socket";

/** Events a dashboard sends when it connects or a person changes tab, each of which makes the hub do work for
 * others: ui-change runs the flows' "tab opened" controls (history queries), ui-refresh sends the whole menu to
 * every dashboard, ui-replay-state sends every widget's state back. */
const COSTLY: ReadonlySet<string> = new Set(["ui-change", "ui-refresh", "ui-replay-state"]);

class TokenBucket {
  private tokens: number;

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    private filledAt: number,
  ) {
    this.tokens = burst;
  }

  take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, now - this.filledAt) / 1000) * this.perSecond);
    this.filledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export class DashboardSocketGuard {
  private readonly counts: SocketGuardStats = { passed: 0, dropped: 0, cut: 0, refused: 0 };
  private lastWarnAt = -Infinity;
  private droppedSinceWarn = 0;
  private readonly burst: number;
  private readonly perSecond: number;
  private readonly costlyBurst: number;
  private readonly costlyPerSecond: number;
  private readonly maxDrops: number;
  private readonly warnEveryMs: number;

  constructor(private readonly o: SocketGuardOptions) {
    this.burst = o.burst ?? 100;
    this.perSecond = o.perSecond ?? 50;
    this.costlyBurst = o.costlyBurst ?? 10;
    this.costlyPerSecond = o.costlyPerSecond ?? 2;
    this.maxDrops = o.maxDropsPerSocket ?? 20;
    this.warnEveryMs = o.warnEveryMs ?? 10_000;
  }

  stats(): SocketGuardStats {
    return { ...this.counts };
  }

  /** For `ui.ioMiddleware`: socket.io calls it once per connection. */
  readonly middleware = (socket: GuardedSocket, next: (err?: Error) => void): void => {
    const who = socket.handshake.address;
    // the dashboard's own rules: its client starts with polling, and only its own pages may connect
    if ((socket.client.conn.request.url ?? "").includes("transport=websocket")) {
      this.refuse(who, "a direct websocket (the dashboard's client starts with polling)");
      socket.client.conn.close();
      return;
    }
    if (socket.handshake.xdomain !== false) {
      this.refuse(who, "a page from another site");
      socket.disconnect(true);
      return;
    }
    const all = new TokenBucket(this.burst, this.perSecond, this.o.now());
    const costly = new TokenBucket(this.costlyBurst, this.costlyPerSecond, this.o.now());
    let drops = 0;
    let cut = false;
    const cutSocket = (n: number) => {
      cut = true;
      this.counts.cut++;
      this.o.audit.record({ event: "dashboard.socket.cut", via: "dashboard", who, reason: `${n} events dropped`, socket: socket.id });
      this.o.warn(`dashboard socket: cut ${who} (socket ${socket.id}) after ${n} dropped events`);
      socket.disconnect(true);
    };
    socket.use((packet, pass) => {
      try {
        filter(packet, pass);
      } catch (err) {
        // a record or a log that fails must not take the process down with it: the event (already counted) goes nowhere
        console.error(`PiFog: dashboard socket guard: ${(err as Error).message}`);
      }
    });
    const filter = (packet: unknown[], pass: (err?: Error) => void): void => {
      if (cut) {
        this.counts.dropped++;
        return;
      }
      const now = this.o.now();
      const event = eventName(packet);
      const person = this.o.people(socket.id);
      if (!person) {
        // signed out, expired, removed: nothing more from this browser until it signs in again
        cut = true;
        this.counts.cut++;
        this.drop(socket, outline(packet), event, "the session has ended (signed out, expired, or the user was removed)", "dashboard.session.ended");
        this.tell(socket, "Your session has ended: sign in again.");
        socket.disconnect(true);
        return;
      }
      let check: ReturnType<typeof checkDashboardEvent>;
      if (!all.take(now)) {
        check = { ok: false, event, reason: `more than ${this.perSecond} events a second` };
      } else if (COSTLY.has(event) && !costly.take(now)) {
        check = { ok: false, event, reason: `more than ${this.costlyPerSecond} tab changes, refreshes and replays a second` };
      } else {
        try {
          check = checkDashboardEvent(packet, socket.id, this.o.widgets);
        } catch (err) {
          check = { ok: false, event, reason: `could not be checked (${(err as Error).message})` };
        }
      }
      if (check.ok) {
        const needs = this.roleNeeded(check.packet);
        if (!roleAtLeast(person.role, needs)) {
          const reason = `${person.role} ${person.name} may not do this (${needs}s only)`;
          this.drop(socket, outline(check.packet), event, reason, "dashboard.event.refused", person.name);
          this.tell(socket, `Refused: ${needs}s only (you are signed in as ${person.name}, ${person.role}).`);
          if (++drops >= this.maxDrops) cutSocket(drops);
          return;
        }
        // socket.io hands this same array to the dashboard's handlers: from here on it holds only what was allowed
        packet.splice(0, packet.length, ...check.packet);
        this.counts.passed++;
        pass();
        return;
      }
      this.drop(socket, packet, check.event, check.reason);
      if (++drops >= this.maxDrops) cutSocket(drops);
      // never pass(): a dropped event goes nowhere, and never pass(err): that would reach socket.io's error path
    };
    next();
  };

  /** The least role an allowed (rebuilt) event needs: navigation is everyone's, input is the widget's. */
  private roleNeeded(packet: unknown[]): UserRole {
    if (packet[0] !== "update-value") return "viewer";
    const id = (packet[1] as { id?: unknown } | undefined)?.id;
    return (typeof id === "string" ? this.o.widgets(id)?.needs : undefined) ?? "admin";
  }

  /** A dashboard toast on that browser only: why what it just did was refused. */
  private tell(socket: GuardedSocket, message: string): void {
    try {
      socket.emit("show-toast", { message, title: "PiFog", displayTime: 6000, position: "top right", toastClass: "pifog-refused", id: "pifog-refused", raw: false, msg: {} });
    } catch (err) {
      this.o.warn(`dashboard socket: could not tell ${socket.id} (${(err as Error).message})`);
    }
  }

  private drop(socket: GuardedSocket, packet: unknown[], event: string, reason: string, auditEvent = "dashboard.event.dropped", person?: string): void {
    this.counts.dropped++;
    const address = socket.handshake.address;
    const who = person ? `${person}@${address}` : address;
    try {
      this.o.deadLetters.append({ node: SOURCE, type: "ui-socket", error: `${event}: ${reason}`, topic: event, payload: payloadText(packet.slice(1)) });
    } catch (err) {
      this.o.warn(`dashboard socket: could not write the dead-letter record (${(err as Error).message})`);
    }
    this.o.audit.record({ event: auditEvent, via: "dashboard", who, reason: `${event}: ${reason}`, socket: socket.id, ...(person ? { user: person } : {}) });
    this.droppedSinceWarn++;
    const now = this.o.now();
    if (now - this.lastWarnAt >= this.warnEveryMs) {
      this.o.warn(
        `dashboard socket: dropped ${this.droppedSinceWarn} event(s) no dashboard sends (${this.counts.dropped} since start; ` +
          `latest ${event} from ${who}: ${reason}); see dead-letter.jsonl`,
      );
      this.lastWarnAt = now;
      this.droppedSinceWarn = 0;
    }
  }

  private refuse(who: string, reason: string): void {
    this.counts.refused++;
    this.o.audit.record({ event: "dashboard.socket.refused", via: "dashboard", who, reason });
  }
}

/** What the records keep of an event refused for who sent it: the event, the widget and the msg's topic, never the
 * values (a password typed on the Users tab by someone whose session just ended must not land in a file). */
function outline(packet: unknown[]): unknown[] {
  const data = packet[1];
  if (packet[0] !== "update-value" || data === null || typeof data !== "object") return [packet[0]];
  const { id, msg } = data as { id?: unknown; msg?: { topic?: unknown } };
  const topic = msg && typeof msg === "object" && typeof msg.topic === "string" ? msg.topic.slice(0, 64) : undefined;
  return [packet[0], { id: typeof id === "string" ? id.slice(0, 64) : undefined, ...(topic !== undefined ? { topic } : {}) }];
}

function eventName(packet: unknown): string {
  const name = Array.isArray(packet) ? (packet as unknown[])[0] : undefined;
  return typeof name === "string" ? name.slice(0, 64) : "?";
}
