// One Slack Socket Mode connection (@slack/socket-mode over `ws`): apps.connections.open with the app-level token
// hands out a WebSocket URL, Slack says `hello`, then sends envelopes that must be acknowledged within 3 s; the ack
// of a `slash_commands` envelope carries the command's ephemeral reply. No public URL is needed.
//
// The client's own reconnection is off: it retries only some failures and, when a reconnect fails (the network is
// gone), its promise rejects with nobody listening, an unhandled rejection that would take the runtime down. Here
// every loss of the connection — Slack's `disconnect` (refresh_requested…), a dead socket, a failed start — leads to
// one reconnect timer: 1 s doubling to `backoffMaxMs` (a token Slack refuses waits the longest, a rate limit its
// Retry-After), reset by `hello`.
import type { SocketModeClient } from "@slack/socket-mode";
import type { Clock } from "../clock";
import {
  isPermanentSlackError,
  quietLogger,
  slackClientOptions,
  toSlackApiError,
  type SlackCommandReply,
  type SlackSocketState,
} from "./api";

export interface SlackSocketOptions {
  /** The app-level token (`xapp-…`, scope connections:write). */
  appToken: string;
  apiUrl: string;
  clock: Clock;
  /** Longest wait between reconnection attempts, ms (60 000). */
  backoffMaxMs?: number;
  onState(state: SlackSocketState): void;
  /** Answers one slash command; must not throw. */
  onSlashCommand(fields: Record<string, unknown>): SlackCommandReply;
  /** The client's warnings, for a debug log. */
  log(text: string): void;
}

const FIRST_RETRY_MS = 1000;
/** close() waits at most this long for the socket to say goodbye. */
const CLOSE_WAIT_MS = 2000;

export class SlackSocket {
  private readonly client: SocketModeClient;
  private readonly backoffMaxMs: number;
  private closed = false;
  private connecting = false;
  private timer: unknown = null;
  private failures = 0;

  constructor(private readonly options: SlackSocketOptions) {
    this.backoffMaxMs = options.backoffMaxMs ?? 60_000;
    const { logger: _ignored, ...clientOptions } = slackClientOptions(options.apiUrl);
    // loaded only when a slack-app uses Socket Mode (it brings @slack/web-api and ws)
    const { SocketModeClient: Client } = require("@slack/socket-mode") as typeof import("@slack/socket-mode");
    this.client = new Client({
      appToken: options.appToken,
      logger: quietLogger(options.log),
      autoReconnectEnabled: false,
      clientOptions,
    });
    this.client.on("connected", () => {
      this.failures = 0;
      if (!this.closed) options.onState({ state: "connected" });
    });
    // start()'s own failure is handled where it is awaited
    this.client.on("disconnected", () => {
      if (!this.connecting) this.lost("closed");
    });
    this.client.on("slash_commands", (event: { ack: (reply: SlackCommandReply) => Promise<void>; body?: unknown }) => {
      const body = typeof event.body === "object" && event.body !== null ? (event.body as Record<string, unknown>) : {};
      let reply: SlackCommandReply | undefined;
      try {
        reply = options.onSlashCommand(body);
      } catch (err) {
        // still acknowledged, or Slack sends the envelope again
        options.log(`slash command failed: ${(err as Error).message}`);
      }
      event.ack(reply as SlackCommandReply).catch((err: Error) => options.log(`could not acknowledge a slash command: ${err.message}`));
    });
  }

  start(): void {
    this.connect();
  }

  private connect(): void {
    if (this.closed || this.connecting) return;
    this.connecting = true;
    this.options.onState({ state: "connecting" });
    this.client.start().then(
      () => {
        this.connecting = false;
        // closed while connecting: the client connected anyway, so hang up again
        if (this.closed) this.client.disconnect().catch(() => undefined);
      },
      (err: unknown) => {
        this.connecting = false;
        if (err === undefined) return this.lost("closed");
        const e = toSlackApiError(err, "apps.connections.open");
        this.lost(e.code, isPermanentSlackError(e) ? this.backoffMaxMs : e.retryAfterMs);
      },
    );
  }

  /** The connection is gone (or never came): one reconnect timer, `atLeastMs` for a refused token or a rate limit. */
  private lost(reason: string, atLeastMs = 0): void {
    if (this.closed || this.timer !== null) return;
    this.options.onState({ state: "disconnected", reason });
    const delay = Math.max(Math.min(FIRST_RETRY_MS * 2 ** this.failures, this.backoffMaxMs), atLeastMs);
    this.failures++;
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) this.options.clock.clearTimeout(this.timer);
    this.timer = null;
    let wait: NodeJS.Timeout | undefined;
    await Promise.race([
      this.client.disconnect().catch(() => undefined),
      new Promise<void>((resolve) => {
        wait = setTimeout(resolve, CLOSE_WAIT_MS);
      }),
    ]);
    clearTimeout(wait);
  }
}
