// The camera Pi's side of the upload: drains its spool to the hub's device listener, oldest first, one item at a
// time (thumbnail, then media), and removes an item only after the hub answered 2xx for it. Failures wait with
// exponential backoff on the injected clock; an item the hub refuses for good (a 4xx other than 401/408/429) is
// set aside for a slow retry and reported, so it never blocks the items behind it and is never deleted.
import fs from "node:fs";
import https from "node:https";
import type { Clock } from "../clock";
import type { Spool } from "./spool";
import { encodeItemHeader } from "./spool-item";
import type { SpoolItem } from "./types";
import { ITEM_HEADER } from "./upload-routes";

export interface UploadTarget {
  /** https://hub:8443 */
  url: string;
  /** The hub's CA (the only one trusted). */
  ca: string;
  /** The device's certificate and key, or a password login. */
  cert?: string;
  key?: string;
  basic?: { username: string; password: string };
}

export interface UploaderEvents {
  uploaded(item: SpoolItem, duplicate: boolean): void;
  failed(item: SpoolItem | null, err: Error, retryInMs: number): void;
  refused(item: SpoolItem, status: number, reason: string): void;
  idle(queued: number): void;
}

export interface UploaderOptions {
  spool: Spool;
  /** Where to upload; null: not known yet (no identity): retried like a failure. */
  target: () => UploadTarget | null;
  clock: Clock;
  /** Backoff after a failure: doubling from initialMs to maxMs (1 s, 60 s). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** How often the spool is looked at without a kick (5 s). */
  pollMs?: number;
  /** An item refused for good is tried again after this (10 min). */
  refusedRetryMs?: number;
  /** A request that stays silent this long fails (60 s). */
  timeoutMs?: number;
  events: Partial<UploaderEvents>;
}

export class UploadError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

/** A 4xx that a retry will not heal (a bad item, another device's, a conflict). 401 (credentials not there yet),
 * 408, 429 and 5xx are retried. */
function isPermanent(status: number | null): boolean {
  return status !== null && status >= 400 && status < 500 && ![401, 408, 429].includes(status);
}

export class SpoolUploader {
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private failures = 0;
  private retryTimer: unknown = null;
  private pollTimer: unknown = null;
  private readonly setAside = new Map<string, number>();
  private current: import("node:http").ClientRequest | null = null;

  constructor(private readonly o: UploaderOptions) {}

  start(): void {
    this.pollTimer = this.o.clock.setInterval(() => this.kick(), this.o.pollMs ?? 5000);
    this.kick();
  }

  /** Looks at the spool now (a new item was put), unless a backoff is running. */
  kick(): void {
    if (this.stopped || this.retryTimer !== null) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = null;
      if (this.again && !this.stopped) {
        this.again = false;
        this.kick();
      }
    });
  }

  /** Resolves when the current pass is over (tests). */
  settled(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  get waitingForRetry(): boolean {
    return this.retryTimer !== null;
  }

  private async drain(): Promise<void> {
    let item: SpoolItem | null = null;
    try {
      for (;;) {
        const now = this.o.clock.now();
        item = this.o.spool.list().find((i) => (this.setAside.get(i.id) ?? 0) <= now) ?? null;
        if (!item || this.stopped) break;
        const target = this.o.target();
        if (!target) throw new UploadError("the hub's device address or this device's identity is not known yet", null);
        try {
          const duplicate = await this.upload(target, item);
          this.o.spool.remove(item);
          this.setAside.delete(item.id);
          this.failures = 0;
          this.o.events.uploaded?.(item, duplicate);
        } catch (err) {
          const status = err instanceof UploadError ? err.status : null;
          if (!isPermanent(status)) throw err;
          this.setAside.set(item.id, this.o.clock.now() + (this.o.refusedRetryMs ?? 600_000));
          this.o.events.refused?.(item, status!, (err as Error).message);
        }
      }
      this.o.events.idle?.(this.o.spool.list().length);
    } catch (err) {
      if (this.stopped) return;
      this.failures++;
      const initial = this.o.backoff?.initialMs ?? 1000;
      const max = this.o.backoff?.maxMs ?? 60_000;
      const wait = Math.min(max, initial * 2 ** Math.min(this.failures - 1, 20));
      this.retryTimer = this.o.clock.setTimeout(() => {
        this.retryTimer = null;
        this.kick();
      }, wait);
      this.o.events.failed?.(item, err as Error, wait);
    }
  }

  /** true when the hub had it already. */
  private async upload(target: UploadTarget, item: SpoolItem): Promise<boolean> {
    const base = `${target.url.replace(/\/+$/, "")}/device/v1/items/${encodeURIComponent(item.id)}`;
    const thumbnail = fs.readFileSync(this.o.spool.file(item.thumbnail));
    const first = await this.put(target, `${base}/thumbnail`, item, thumbnail, thumbnail.length);
    if (first.stored) return true;
    const media = this.o.spool.file(item.media);
    const size = fs.statSync(media).size;
    const second = await this.put(target, base, item, fs.createReadStream(media), size);
    return second.duplicate === true;
  }

  private put(target: UploadTarget, url: string, item: SpoolItem, body: Buffer | fs.ReadStream, length: number): Promise<{ stored?: boolean; duplicate?: boolean }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = {
        "content-type": "application/octet-stream",
        "content-length": String(length),
        [ITEM_HEADER]: encodeItemHeader(item),
      };
      if (target.basic) headers.authorization = `Basic ${Buffer.from(`${target.basic.username}:${target.basic.password}`).toString("base64")}`;
      const req = https.request(url, {
        method: "PUT",
        headers,
        ca: target.ca,
        ...(target.cert && target.key ? { cert: target.cert, key: target.key } : {}),
        agent: false,
        timeout: this.o.timeoutMs ?? 60_000,
      });
      this.current = req;
      const done = () => {
        if (this.current === req) this.current = null;
      };
      req.on("timeout", () => req.destroy(new UploadError(`no answer from ${url} in time`, null)));
      req.on("error", (err) => {
        done();
        if (body instanceof fs.ReadStream) body.destroy();
        reject(err instanceof UploadError ? err : new UploadError(`${url}: ${err.message}`, null));
      });
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.length < 64 && chunks.push(c));
        res.on("error", (err) => reject(new UploadError(err.message, null)));
        res.on("end", () => {
          done();
          if (body instanceof fs.ReadStream) body.destroy();
          const text = Buffer.concat(chunks).toString("utf8");
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // not JSON: the status says enough
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve(json as { stored?: boolean; duplicate?: boolean });
          reject(new UploadError(`the hub answered ${status}: ${typeof json.error === "string" ? json.error : text.slice(0, 200)}`, status));
        });
      });
      if (Buffer.isBuffer(body)) req.end(body);
      else {
        body.on("error", (err) => req.destroy(err));
        body.pipe(req);
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pollTimer !== null) this.o.clock.clearInterval(this.pollTimer);
    if (this.retryTimer !== null) this.o.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.current?.destroy(new UploadError("stopped", null));
    await this.running?.catch(() => undefined);
  }
}
