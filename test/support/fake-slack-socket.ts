// The Socket Mode side of the fake Slack: a `ws` WebSocketServer on the fake's own HTTP server. A connection needs a
// one-time ticket from apps.connections.open (as Slack's URLs are), gets `hello`, then whatever a test sends:
// `slash_commands` envelopes (each must be acknowledged, by envelope_id, within Slack's 3 s) or a `disconnect`.
import type http from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";

/** An acknowledgement as the app sent it: `payload` is the slash command's reply. */
export interface FakeSocketAck {
  envelope_id: string;
  payload?: { response_type?: string; text?: string } & Record<string, unknown>;
}

/** Slack waits this long for an ack before it tells the user the command failed. */
const ACK_WINDOW_MS = 3000;

export class FakeSlackSocket {
  /** Every connection opened, in order (a reconnect is a new one). */
  readonly opened: WebSocket[] = [];
  readonly acks: FakeSocketAck[] = [];
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly tickets = new Set<string>();
  private readonly waiting = new Map<string, (ack: FakeSocketAck) => void>();
  private issued = 0;
  private envelopes = 0;

  /** A WebSocket URL for apps.connections.open; `origin` is the fake's http://host:port. */
  issueUrl(origin: string): string {
    const ticket = `ticket-${++this.issued}`;
    this.tickets.add(ticket);
    return `${origin.replace(/^http/, "ws")}/link/?ticket=${ticket}`;
  }

  /** The fake's HTTP server hands every upgrade request here. */
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? "/", "http://x");
    const ticket = url.searchParams.get("ticket") ?? "";
    if (url.pathname !== "/link/" || !this.tickets.delete(ticket)) {
      socket.end("HTTP/1.1 401 Unauthorized\r\n\r\n");
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
  }

  /** The open connection, if any (the newest). */
  get current(): WebSocket | null {
    const ws = this.opened[this.opened.length - 1];
    return ws && ws.readyState === ws.OPEN ? ws : null;
  }

  /** Resolves once `count` connections were opened and the newest is open. */
  async connected(count = 1, timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.opened.length < count || !this.current) {
      if (Date.now() > end) throw new Error(`no Socket Mode connection #${count} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Sends a `slash_commands` envelope and resolves with the app's ack; rejects when none comes in time. */
  slashCommand(fields: Record<string, string>): Promise<FakeSocketAck> {
    const ws = this.current;
    if (!ws) return Promise.reject(new Error("no open Socket Mode connection"));
    const envelopeId = `env-${++this.envelopes}`;
    const payload = {
      token: "legacy",
      team_id: "T1",
      team_domain: "fake",
      channel_id: "C0DOOR",
      channel_name: "door",
      user_name: "someone",
      command: "/door",
      api_app_id: "A1",
      is_enterprise_install: "false",
      response_url: "https://hooks.slack.com/commands/T1/1/x",
      trigger_id: "1.2.3",
      ...fields,
    };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(envelopeId);
        reject(new Error(`no ack for ${envelopeId} within ${ACK_WINDOW_MS} ms`));
      }, ACK_WINDOW_MS);
      this.waiting.set(envelopeId, (ack) => {
        clearTimeout(timer);
        resolve(ack);
      });
      ws.send(JSON.stringify({ envelope_id: envelopeId, type: "slash_commands", payload, accepts_response_payload: true }));
    });
  }

  /** What Slack sends before it recycles a connection: the app should connect again. */
  requestRefresh(): void {
    this.current?.send(JSON.stringify({ type: "disconnect", reason: "refresh_requested", debug_info: { host: "fake" } }));
  }

  /** Drops every connection at once (the fake goes down). */
  dropAll(): void {
    for (const ws of this.wss.clients) ws.terminate();
  }

  close(): Promise<void> {
    this.dropAll();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }

  private accept(ws: WebSocket): void {
    this.opened.push(ws);
    ws.on("message", (data) => {
      let message: FakeSocketAck;
      try {
        message = JSON.parse(String(data)) as FakeSocketAck;
      } catch {
        return;
      }
      if (typeof message.envelope_id !== "string") return;
      this.acks.push(message);
      const waiter = this.waiting.get(message.envelope_id);
      this.waiting.delete(message.envelope_id);
      waiter?.(message);
    });
    ws.send(JSON.stringify({ type: "hello", num_connections: 1, debug_info: { host: "fake" }, connection_info: { app_id: "A1" } }));
  }
}
