// A local stand-in for the Slack Web API, as much as PiFog uses: auth.test, chat.postMessage,
// files.getUploadURLExternal, the upload URL it hands out (raw bytes or a multipart form, as Slack takes both),
// files.completeUploadExternal, apps.connections.open (Socket Mode, with the app-level token; the WebSocket is
// in fake-slack-socket.ts) and response URLs (`/respond/<id>`, JSON replies to slash commands). Checks the tokens,
// records every call, every uploaded byte and every reply, can answer `ok:false` with a chosen error or 429, and
// can go down (stop listening, drop the WebSockets) and come back on the same port.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { FakeSlackSocket } from "./fake-slack-socket";

export interface FakeSlackCall {
  method: string;
  args: Record<string, string>;
  authorized: boolean;
}

export interface FakeSlackMessage {
  channel: string;
  text: string;
  /** For a file shared by files.completeUploadExternal: its id, title and bytes. */
  file?: { id: string; title: string; bytes: Buffer };
}

/** A reply posted to a response URL. */
export interface FakeSlackResponse {
  id: string;
  contentType: string;
  body: { response_type?: string; text?: string } & Record<string, unknown>;
}

/** The file part of a multipart/form-data body (the WebClient's upload), or null when it is not one. */
function multipartFile(contentType: string, body: Buffer): Buffer | null {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!/^multipart\/form-data/i.test(contentType) || !boundary) return null;
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  const start = body.indexOf(delimiter);
  const headersEnd = body.indexOf("\r\n\r\n", start);
  const end = body.indexOf(Buffer.concat([Buffer.from("\r\n"), delimiter]), headersEnd);
  if (start < 0 || headersEnd < 0 || end < 0) return null;
  return body.subarray(headersEnd + 4, end);
}

export class FakeSlack {
  readonly token: string;
  /** Socket Mode's app-level token. */
  readonly appToken: string;
  readonly socket = new FakeSlackSocket();
  readonly responses: FakeSlackResponse[] = [];
  readonly calls: FakeSlackCall[] = [];
  readonly messages: FakeSlackMessage[] = [];
  /** Uploaded bytes by file id. */
  readonly uploads = new Map<string, Buffer>();
  /** When set, every API method answers `{ok:false, error}`. */
  failWith: string | null = null;
  /** When set, every API method answers 429 with this Retry-After (seconds), once per value set. */
  rateLimitOnce: number | null = null;
  private server: http.Server;
  private port = 0;
  private files = 0;
  private pending = new Map<string, { title: string; length: number }>();

  private constructor(token: string, appToken: string) {
    this.token = token;
    this.appToken = appToken;
    this.server = this.makeServer();
  }

  static async start(token = "xoxb-test-token", appToken = "xapp-test-token"): Promise<FakeSlack> {
    const fake = new FakeSlack(token, appToken);
    await fake.listen();
    return fake;
  }

  /** The API base URL (ends with a slash), as a slack-app's `slackApiUrl`. */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}/api/`;
  }

  /** A response URL for a slash command: what is posted there lands in `responses`. */
  responseUrl(id: string): string {
    return `http://127.0.0.1:${this.port}/respond/${id}`;
  }

  /** Stops listening (connections refused) until `up()`. */
  async down(): Promise<void> {
    const server = this.server;
    this.socket.dropAll();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  async up(): Promise<void> {
    this.server = this.makeServer();
    await this.listen();
  }

  async close(): Promise<void> {
    if (this.server.listening) await this.down();
    await this.socket.close();
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.port, "127.0.0.1", () => {
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private makeServer(): http.Server {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => this.handle(req, Buffer.concat(chunks), res));
    });
    server.on("upgrade", (req, socket, head) => this.socket.handleUpgrade(req, socket, head));
    return server;
  }

  private handle(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://x");
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(value));
    };
    if (req.method === "POST" && url.pathname.startsWith("/upload/")) {
      const id = url.pathname.slice("/upload/".length);
      if (!this.pending.has(id)) return json(404, { ok: false });
      const bytes = multipartFile(String(req.headers["content-type"] ?? ""), body) ?? body;
      this.uploads.set(id, Buffer.from(bytes));
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`OK - ${bytes.length}`);
      return;
    }
    if (req.method === "POST" && url.pathname.startsWith("/respond/")) {
      const contentType = String(req.headers["content-type"] ?? "");
      let reply: FakeSlackResponse["body"];
      try {
        reply = JSON.parse(body.toString("utf8")) as FakeSlackResponse["body"];
      } catch {
        res.writeHead(400, { "content-type": "text/plain" });
        res.end("invalid_payload");
        return;
      }
      this.responses.push({ id: url.pathname.slice("/respond/".length), contentType, body: reply });
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok");
      return;
    }
    if (req.method !== "POST" || !url.pathname.startsWith("/api/")) return json(404, { ok: false, error: "unknown_method" });
    const method = url.pathname.slice("/api/".length);
    const args: Record<string, string> = {};
    const type = String(req.headers["content-type"] ?? "");
    if (type.includes("json")) Object.assign(args, JSON.parse(body.toString("utf8") || "{}"));
    else for (const [k, v] of new URLSearchParams(body.toString("utf8"))) args[k] = v;
    const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ""))?.[1] ?? args.token;
    // apps.connections.open takes the app-level token, every other method the bot token
    const authorized = bearer === (method === "apps.connections.open" ? this.appToken : this.token);
    this.calls.push({ method, args, authorized });
    if (this.rateLimitOnce !== null) {
      const seconds = this.rateLimitOnce;
      this.rateLimitOnce = null;
      return json(429, { ok: false, error: "ratelimited" }, { "retry-after": String(seconds) });
    }
    if (this.failWith) return json(200, { ok: false, error: this.failWith });
    if (!bearer) return json(200, { ok: false, error: "not_authed" });
    if (!authorized) return json(200, { ok: false, error: "invalid_auth" });
    switch (method) {
      case "apps.connections.open":
        return json(200, { ok: true, url: this.socket.issueUrl(`http://127.0.0.1:${this.port}`) });
      case "auth.test":
        return json(200, { ok: true, user_id: "UBOT", team_id: "T1", bot_id: "B1" });
      case "chat.postMessage": {
        if (!args.channel) return json(200, { ok: false, error: "channel_not_found" });
        this.messages.push({ channel: args.channel, text: args.text ?? "" });
        return json(200, { ok: true, channel: args.channel, ts: `${Date.now() / 1000}` });
      }
      case "files.getUploadURLExternal": {
        const length = Number(args.length);
        if (!args.filename || !Number.isInteger(length) || length <= 0) return json(200, { ok: false, error: "invalid_arguments" });
        const id = `F${++this.files}`;
        this.pending.set(id, { title: args.filename, length });
        return json(200, { ok: true, upload_url: `http://127.0.0.1:${this.port}/upload/${id}`, file_id: id });
      }
      case "files.completeUploadExternal": {
        let files: { id: string; title?: string }[];
        try {
          files = JSON.parse(args.files ?? "[]") as { id: string; title?: string }[];
        } catch {
          return json(200, { ok: false, error: "invalid_arguments" });
        }
        for (const f of files) {
          const bytes = this.uploads.get(f.id);
          const pending = this.pending.get(f.id);
          if (!bytes || !pending || bytes.length !== pending.length) return json(200, { ok: false, error: "file_upload_not_found" });
        }
        if (args.channel_id) {
          for (const f of files) {
            this.messages.push({
              channel: args.channel_id,
              text: args.initial_comment ?? "",
              file: { id: f.id, title: f.title ?? "", bytes: this.uploads.get(f.id) as Buffer },
            });
          }
        }
        return json(200, { ok: true, files: files.map((f) => ({ id: f.id, title: f.title })) });
      }
      default:
        return json(200, { ok: false, error: "unknown_method" });
    }
  }
}
