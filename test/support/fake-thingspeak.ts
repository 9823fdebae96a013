// A local ThingSpeak that answers `POST /channels/<id>/bulk_update.json` as its documentation says
// (https://www.mathworks.com/help/thingspeak/bulkwritejsondata.html): the channel's write key or 401, at
// least `minIntervalMs` (15 s by default) between calls to a channel or 429, at most `maxUpdates` (960)
// updates per call, each with a valid `created_at` or `delta_t` (non-zero except for the first), timestamps
// unique in a call (else the whole call is refused) and entries whose timestamp the channel already has
// skipped. It records every call and every accepted entry, and can be taken down (connection refused, 503,
// a hang) and answer ThingSpeak's failure answer `0`.
import { EventEmitter } from "node:events";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface FakeEntry {
  channel: string;
  /** The entry's time (ms since the epoch), from created_at, or from delta_t and the previous entry. */
  at: number;
  fields: Record<string, unknown>;
  /** The update as it was sent. */
  update: Record<string, unknown>;
  /** Index of the call in `calls`. */
  call: number;
}

export interface FakeCall {
  /** When it arrived (the fake's clock). */
  at: number;
  channel: string;
  status: number;
  /** Updates in the body (0 when it had none or was not JSON). */
  updates: number;
  body: unknown;
  error?: string;
}

export interface FakeThingspeakOptions {
  /** channel id → write API key */
  channels: Record<string, string>;
  minIntervalMs?: number;
  maxUpdates?: number;
  now?: () => number;
}

/** How the endpoint behaves: up, refusing connections, answering 503, answering `0`, or never answering. */
export type FakeMode = "up" | "refused" | "unavailable" | "zero" | "hang";

const ISO_8601 = /^\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)$/;
const UPDATE_KEYS = new Set([
  "created_at", "delta_t", "latitude", "longitude", "elevation", "status",
  "field1", "field2", "field3", "field4", "field5", "field6", "field7", "field8",
]);

function thingspeakError(status: number, code: string, message: string, details: string) {
  return { status: String(status), error: { error_code: code, message, details } };
}

export class FakeThingspeak extends EventEmitter {
  readonly calls: FakeCall[] = [];
  private readonly accepted: FakeEntry[] = [];
  private readonly lastCallAt = new Map<string, number>();
  private readonly sockets = new Set<Socket>();
  private readonly hanging = new Set<http.ServerResponse>();
  private server: http.Server;
  private mode_: FakeMode = "up";
  private port_ = 0;
  readonly minIntervalMs: number;
  readonly maxUpdates: number;
  private readonly now: () => number;

  private constructor(private readonly options: FakeThingspeakOptions) {
    super();
    this.minIntervalMs = options.minIntervalMs ?? 15_000;
    this.maxUpdates = options.maxUpdates ?? 960;
    this.now = options.now ?? Date.now;
    this.server = this.createServer();
  }

  static async start(options: FakeThingspeakOptions): Promise<FakeThingspeak> {
    const fake = new FakeThingspeak(options);
    await fake.listen(0);
    return fake;
  }

  get port(): number {
    return this.port_;
  }

  /** The base URL to configure (`http://127.0.0.1:<port>`). */
  get url(): string {
    return `http://127.0.0.1:${this.port_}`;
  }

  get mode(): FakeMode {
    return this.mode_;
  }

  /** Accepted entries of a channel (or of all), in the order the channel took them. */
  entries(channel?: string): FakeEntry[] {
    return this.accepted.filter((e) => channel === undefined || e.channel === channel);
  }

  /** Takes the endpoint down: `refused` closes the port (and open connections), the others answer badly. */
  async setMode(mode: FakeMode): Promise<void> {
    const was = this.mode_;
    this.mode_ = mode;
    if (mode !== "hang") this.releaseHanging();
    if (mode === "refused" && was !== "refused") {
      await new Promise<void>((resolve) => {
        this.server.close(() => resolve());
        for (const s of this.sockets) s.destroy();
      });
    } else if (mode !== "refused" && was === "refused") {
      this.server = this.createServer();
      await this.listen(this.port_);
    }
  }

  /** Resolves when `test` holds, checked after every call. */
  until(test: () => boolean, timeoutMs = 10_000, what = "the fake ThingSpeak to see it"): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!test()) return;
        clearTimeout(timer);
        this.off("call", check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.off("call", check);
        reject(new Error(`timed out waiting for ${what}; calls: ${JSON.stringify(this.calls.map((c) => [c.status, c.updates, c.error]))}`));
      }, timeoutMs);
      this.on("call", check);
    });
  }

  async close(): Promise<void> {
    this.releaseHanging();
    for (const s of this.sockets) s.destroy();
    if (this.mode_ !== "refused") await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.removeAllListeners();
  }

  private releaseHanging(): void {
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
  }

  private createServer(): http.Server {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => this.handle(req, res, Buffer.concat(chunks).toString("utf8")));
    });
    server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
    return server;
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, "127.0.0.1", () => {
        this.server.off("error", reject);
        this.port_ = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, text: string): void {
    const at = this.now();
    const match = /^\/channels\/([^/]+)\/bulk_update\.json$/.exec(req.url ?? "");
    const channel = match?.[1] ?? "";
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    const updates = typeof body === "object" && body !== null && Array.isArray((body as { updates?: unknown }).updates)
      ? ((body as { updates: unknown[] }).updates)
      : [];
    const call: FakeCall = { at, channel, status: 0, updates: updates.length, body };
    const index = this.calls.push(call) - 1;
    const answer = (status: number, payload: unknown, error?: string) => {
      call.status = status;
      if (error) call.error = error;
      const out = typeof payload === "string" ? payload : JSON.stringify(payload);
      res.writeHead(status, { "Content-Type": typeof payload === "string" ? "text/plain" : "application/json" });
      res.end(out);
      this.emit("call", call);
    };

    if (this.mode_ === "hang") {
      call.error = "hang";
      this.hanging.add(res);
      this.emit("call", call);
      return;
    }
    if (this.mode_ === "unavailable") return answer(503, "Service Unavailable", "down");
    if (this.mode_ === "zero") return answer(200, "0", "answered 0");
    if (req.method !== "POST" || !match) return answer(404, thingspeakError(404, "error_resource_not_found", "Resource not found", req.url ?? ""), "no such endpoint");
    const key = this.options.channels[channel];
    if (key === undefined) return answer(404, thingspeakError(404, "error_resource_not_found", "Resource not found", `channel ${channel}`), "no such channel");
    if (!String(req.headers["content-type"] ?? "").startsWith("application/json")) {
      return answer(400, thingspeakError(400, "error_bad_request", "Bad Request", "Content-Type must be application/json"), "content type");
    }
    if (typeof body !== "object" || body === null || (body as { write_api_key?: unknown }).write_api_key !== key) {
      return answer(401, thingspeakError(401, "error_auth_required", "Authorization Required", "Please provide proper authentication details."), "bad key");
    }
    const last = this.lastCallAt.get(channel);
    this.lastCallAt.set(channel, at);
    if (last !== undefined && at - last < this.minIntervalMs) {
      return answer(429, thingspeakError(429, "error_too_many_requests", "Too Many Requests", `${at - last} ms since the last call`), "too soon");
    }
    const problem = this.validate(updates);
    if (problem) return answer(400, thingspeakError(400, "error_bad_request", "Bad Request", problem), problem);

    const known = new Set(this.entries(channel).map((e) => e.at));
    let previous = this.entries(channel).at(-1)?.at;
    updates.forEach((u, i) => {
      const update = u as Record<string, unknown>;
      const entryAt = update.created_at !== undefined
        ? Date.parse(update.created_at as string)
        : (i === 0 && previous === undefined ? at : (previous ?? at) + Number(update.delta_t) * 1000);
      previous = entryAt;
      if (known.has(entryAt)) return; // the channel has this timestamp already: that update is skipped
      known.add(entryAt);
      const fields = Object.fromEntries(Object.entries(update).filter(([k]) => k.startsWith("field")));
      this.accepted.push({ channel, at: entryAt, fields, update, call: index });
    });
    answer(202, { success: true });
  }

  /** What the documentation requires of `updates`, or null when it is fine. */
  private validate(updates: unknown[]): string | null {
    if (updates.length === 0) return "updates must be a non-empty array";
    if (updates.length > this.maxUpdates) return `${updates.length} updates; at most ${this.maxUpdates} per call`;
    const stamps = new Set<number>();
    let mode: "created_at" | "delta_t" | undefined;
    for (const [i, u] of updates.entries()) {
      if (typeof u !== "object" || u === null || Array.isArray(u)) return `update ${i} is not an object`;
      const update = u as Record<string, unknown>;
      for (const k of Object.keys(update)) if (!UPDATE_KEYS.has(k)) return `update ${i}: unknown member ${k}`;
      const hasCreated = update.created_at !== undefined;
      const hasDelta = update.delta_t !== undefined;
      if (hasCreated === hasDelta) return `update ${i} needs created_at or delta_t`;
      const thisMode = hasCreated ? "created_at" : "delta_t";
      if (mode && mode !== thisMode) return "created_at and delta_t mixed in one call";
      mode = thisMode;
      if (hasCreated) {
        const t = typeof update.created_at === "string" && ISO_8601.test(update.created_at) ? Date.parse(update.created_at) : NaN;
        if (!Number.isFinite(t)) return `update ${i}: created_at ${JSON.stringify(update.created_at)} is not ISO 8601`;
        if (stamps.has(t)) return `update ${i}: created_at ${update.created_at} is not unique`;
        stamps.add(t);
      } else {
        const d = typeof update.delta_t === "number" || typeof update.delta_t === "string" ? Number(update.delta_t) : NaN;
        if (!Number.isFinite(d) || d < 0) return `update ${i}: delta_t ${JSON.stringify(update.delta_t)} is not a number of seconds`;
        if (d === 0 && i > 0) return `update ${i}: delta_t is zero`;
      }
      for (const f of Object.keys(update)) {
        if (!f.startsWith("field")) continue;
        const v = update[f];
        if (typeof v !== "number" && typeof v !== "string") return `update ${i}: ${f} is ${typeof v}`;
      }
    }
    return null;
  }
}
