// Who is on each dashboard socket (issue 12): the signed-in person and the browser's address. A socket connects only
// with a live session in its handshake's Cookie (the `pifog_session` cookie the sign-in page set; the browser sends
// it with socket.io's polling requests and its websocket upgrade alike): without one the connection is refused with
// a clear error, audited. The person is asked of the sessions again whenever a node or the socket guard wants them
// (`personOf`), so a session ended, expired or demoted counts at once, on a socket that is still open.
//
// The dashboard gives a node only `msg.socketid`, and that id is written by the browser (node-red-dashboard's client
// sets it in every `update-value` it sends); so the middleware below overwrites the `socketid` of every packet with
// the socket's own id: a page cannot speak under another browser's id, and "who did it" is the socket's person.
import type { AuditEvent } from "../audit/audit";
import type { UserRole } from "../identity/types";
import { clientAddress } from "./throttle";
import type { WebSession } from "./web-sessions";

/** The part of a socket.io server socket this needs. */
export interface DashboardSocket {
  id: string;
  /** socket.io's record of the handshake: `address` is the TCP peer's (never a header); `headers.cookie` the
   * browser's cookies. */
  handshake?: { address?: string; headers?: Record<string, string | string[] | undefined> };
  on(event: "disconnect", listener: () => void): unknown;
  use(fn: (packet: unknown[], next: (err?: Error) => void) => void): unknown;
}

/** Who is on a dashboard socket now. */
export interface SocketPerson {
  name: string;
  role: UserRole;
}

export interface SocketAddresses {
  /** The client address of a connected dashboard socket, or undefined. */
  addressOf(socketId: unknown): string | undefined;
  /** The signed-in person of a connected dashboard socket, with the role they have now; null when the socket is not
   * known or its session has ended, expired, or its person is no longer a user. */
  personOf(socketId: unknown): SocketPerson | null;
}

export interface DashboardSocketsOptions {
  /** The runtime's sessions (read when used: the settings make this before the services). */
  sessions: () => { fromCookie(cookieHeader: string | undefined): WebSession | null };
  audit: () => { record(event: AuditEvent): void };
  /** Sockets kept at most, whatever happens to disconnect events. */
  maxSockets?: number;
}

/** What a browser without a live session is told (socket.io hands it to the client's connect_error). */
export const SIGN_IN_FIRST = "PiFog: sign in first (no live session on this browser; open the dashboard's sign-in page)";

interface Entry {
  address: string;
  cookie: string | undefined;
}

export class DashboardSockets implements SocketAddresses {
  private readonly sockets = new Map<string, Entry>();
  private readonly maxSockets: number;

  constructor(private readonly o: DashboardSocketsOptions) {
    this.maxSockets = o.maxSockets ?? 10_000;
  }

  addressOf(socketId: unknown): string | undefined {
    return typeof socketId === "string" ? this.sockets.get(socketId)?.address : undefined;
  }

  personOf(socketId: unknown): SocketPerson | null {
    const entry = typeof socketId === "string" ? this.sockets.get(socketId) : undefined;
    if (!entry) return null;
    const session = this.o.sessions().fromCookie(entry.cookie);
    return session ? { name: session.name, role: session.role } : null;
  }

  get size(): number {
    return this.sockets.size;
  }

  /** For the dashboard's `ui.ioMiddleware` (a connection middleware: io.use). */
  readonly middleware = (socket: DashboardSocket, next: (err?: Error) => void): void => {
    const address = clientAddress(socket.handshake?.address);
    const raw = socket.handshake?.headers?.cookie;
    const cookie = Array.isArray(raw) ? raw.join("; ") : raw;
    const session = this.o.sessions().fromCookie(cookie);
    if (!session) {
      this.o.audit().record({ event: "dashboard.socket.refused", via: "dashboard", who: address, reason: "no live session (not signed in, signed out or expired)" });
      next(new Error(SIGN_IN_FIRST));
      return;
    }
    if (this.sockets.size >= this.maxSockets) {
      const oldest = this.sockets.keys().next().value;
      if (oldest !== undefined) this.sockets.delete(oldest);
    }
    this.sockets.set(socket.id, { address, cookie });
    socket.on("disconnect", () => this.sockets.delete(socket.id));
    socket.use((packet, nextPacket) => {
      const data = packet[1];
      if (typeof data === "object" && data !== null && !Array.isArray(data)) {
        (data as { socketid: unknown }).socketid = socket.id;
      }
      nextPacket();
    });
    next();
  };
}
