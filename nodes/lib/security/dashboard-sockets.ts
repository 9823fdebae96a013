// Where each dashboard browser connects from, so that a node answering a dashboard message (the operator gate) can
// count sign-ins per client address. The dashboard gives a node only `msg.socketid`, and that id is written by the
// browser (node-red-dashboard's client sets it in every `update-value` it sends); so the socket.io middleware below
// notes each socket's TCP peer address when it connects and overwrites the `socketid` of every packet with the
// socket's own id: a page cannot speak under another browser's id (and so cannot be counted at its address).
import { clientAddress } from "./throttle";

/** The part of a socket.io server socket this needs. */
export interface DashboardSocket {
  id: string;
  /** socket.io's record of the handshake: `address` is the TCP peer's (never a header). */
  handshake?: { address?: string };
  on(event: "disconnect", listener: () => void): unknown;
  use(fn: (packet: unknown[], next: (err?: Error) => void) => void): unknown;
}

export interface SocketAddresses {
  /** The client address of a connected dashboard socket, or undefined. */
  addressOf(socketId: unknown): string | undefined;
}

export class DashboardSockets implements SocketAddresses {
  private readonly addresses = new Map<string, string>();

  /** `maxSockets` bounds the table whatever happens to disconnect events. */
  constructor(private readonly maxSockets = 10_000) {}

  addressOf(socketId: unknown): string | undefined {
    return typeof socketId === "string" ? this.addresses.get(socketId) : undefined;
  }

  get size(): number {
    return this.addresses.size;
  }

  /** For the dashboard's `ui.ioMiddleware` (a connection middleware: io.use). */
  readonly middleware = (socket: DashboardSocket, next: (err?: Error) => void): void => {
    if (this.addresses.size >= this.maxSockets) {
      const oldest = this.addresses.keys().next().value;
      if (oldest !== undefined) this.addresses.delete(oldest);
    }
    this.addresses.set(socket.id, clientAddress(socket.handshake?.address));
    socket.on("disconnect", () => this.addresses.delete(socket.id));
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
