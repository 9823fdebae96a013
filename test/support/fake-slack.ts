// A local stand-in for the Slack Web API, as much as PiFog uses: auth.test, chat.postMessage,
// files.getUploadURLExternal, the upload URL it hands out, files.completeUploadExternal. Checks the bot token,
// records every call and every uploaded byte, can answer `ok:false` with a chosen error or 429, and can go down
// (stop listening) and come back on the same port.
import http from "node:http";
import type { AddressInfo } from "node:net";

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

export class FakeSlack {
  readonly token: string;
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

  private constructor(token: string) {
    this.token = token;
    this.server = this.makeServer();
  }

  static async start(token = "xoxb-test-token"): Promise<FakeSlack> {
    const fake = new FakeSlack(token);
    await fake.listen();
    return fake;
  }

  /** The API base URL (ends with a slash), as a slack-app's `slackApiUrl`. */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}/api/`;
  }

  /** Stops listening (connections refused) until `up()`. */
  async down(): Promise<void> {
    const server = this.server;
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
    return http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => this.handle(req, Buffer.concat(chunks), res));
    });
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
      this.uploads.set(id, body);
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`OK - ${body.length}`);
      return;
    }
    if (req.method !== "POST" || !url.pathname.startsWith("/api/")) return json(404, { ok: false, error: "unknown_method" });
    const method = url.pathname.slice("/api/".length);
    const args: Record<string, string> = {};
    const type = String(req.headers["content-type"] ?? "");
    if (type.includes("json")) Object.assign(args, JSON.parse(body.toString("utf8") || "{}"));
    else for (const [k, v] of new URLSearchParams(body.toString("utf8"))) args[k] = v;
    const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ""))?.[1] ?? args.token;
    const authorized = bearer === this.token;
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
