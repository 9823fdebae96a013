// The dashboard's socket middleware (`ui.ioMiddleware` in the settings): it keeps the two checks the dashboard's
// own middleware makes (which giving ioMiddleware replaces), then holds every incoming event to what the
// dashboard's client sends (socket-events.ts). A dropped event never reaches the dashboard and never throws: it is
// counted, written to the dead-letter record and the audit, and logged (one warning per interval at most, so a
// flood cannot fill the log). Every socket has an event budget, and one that keeps sending what no dashboard sends
// is cut, so one connection cannot make the records churn.
import type { AuditEvent } from "../audit/audit";
import { payloadText, type DeadLetter } from "../dead-letter";
import { checkDashboardEvent, type WidgetLookup } from "./socket-events";

/** The part of a socket.io server socket the guard uses. */
export interface GuardedSocket {
  id: string;
  handshake: { address: string; xdomain: boolean };
  client: { conn: { request: { url?: string }; close(): void } };
  use(fn: (packet: unknown[], next: (err?: Error) => void) => void): unknown;
  disconnect(close?: boolean): unknown;
}

export interface SocketGuardOptions {
  widgets: WidgetLookup;
  deadLetters: { append(letter: Omit<DeadLetter, "at">): void };
  audit: { record(event: AuditEvent): void };
  warn: (text: string) => void;
  now: () => number;
  /** Events a socket may send in a burst, and per second after it. */
  burst?: number;
  perSecond?: number;
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

export class DashboardSocketGuard {
  private readonly counts: SocketGuardStats = { passed: 0, dropped: 0, cut: 0, refused: 0 };
  private lastWarnAt = -Infinity;
  private droppedSinceWarn = 0;
  private readonly burst: number;
  private readonly perSecond: number;
  private readonly maxDrops: number;
  private readonly warnEveryMs: number;

  constructor(private readonly o: SocketGuardOptions) {
    this.burst = o.burst ?? 100;
    this.perSecond = o.perSecond ?? 50;
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
    let tokens = this.burst;
    let filledAt = this.o.now();
    let drops = 0;
    let cut = false;
    socket.use((packet, pass) => {
      if (cut) {
        this.counts.dropped++;
        return;
      }
      const now = this.o.now();
      tokens = Math.min(this.burst, tokens + ((now - filledAt) / 1000) * this.perSecond);
      filledAt = now;
      let check: ReturnType<typeof checkDashboardEvent>;
      if (tokens < 1) {
        check = { ok: false, event: eventName(packet), reason: `more than ${this.perSecond} events a second` };
      } else {
        tokens -= 1;
        try {
          check = checkDashboardEvent(packet, socket.id, this.o.widgets);
        } catch (err) {
          check = { ok: false, event: eventName(packet), reason: `could not be checked (${(err as Error).message})` };
        }
      }
      if (check.ok) {
        // socket.io hands this same array to the dashboard's handlers: from here on it holds only what was allowed
        packet.splice(0, packet.length, ...check.packet);
        this.counts.passed++;
        pass();
        return;
      }
      this.drop(socket, packet, check.event, check.reason);
      if (++drops >= this.maxDrops) {
        cut = true;
        this.counts.cut++;
        this.o.audit.record({ event: "dashboard.socket.cut", via: "dashboard", who, reason: `${drops} events no dashboard sends`, socket: socket.id });
        this.o.warn(`dashboard socket: cut ${who} (socket ${socket.id}) after ${drops} events no dashboard sends`);
        socket.disconnect(true);
      }
      // never pass(): a dropped event goes nowhere, and never pass(err): that would reach socket.io's error path
    });
    next();
  };

  private drop(socket: GuardedSocket, packet: unknown[], event: string, reason: string): void {
    this.counts.dropped++;
    const who = socket.handshake.address;
    try {
      this.o.deadLetters.append({ node: SOURCE, type: "ui-socket", error: `${event}: ${reason}`, topic: event, payload: payloadText(packet.slice(1)) });
    } catch (err) {
      this.o.warn(`dashboard socket: could not write the dead-letter record (${(err as Error).message})`);
    }
    this.o.audit.record({ event: "dashboard.event.dropped", via: "dashboard", who, reason: `${event}: ${reason}`, socket: socket.id });
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

function eventName(packet: unknown): string {
  const name = Array.isArray(packet) ? (packet as unknown[])[0] : undefined;
  return typeof name === "string" ? name.slice(0, 64) : "?";
}
