// The ThingSpeak bridge (IoTitan's mqtt_bridge_thingspeak, made durable): every numeric reading on a mapped
// topic goes into the on-disk outbox first; a window's readings become one update (each field its latest
// reading); the outbox drains through bulk_update.json no more often than every 15 s and at most 960 updates
// a call; whatever ThingSpeak does not accept stays queued and is sent again after a backoff. Unlike the
// original, nothing is dropped on failure.
import type { NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import type { Clock } from "../lib/clock";
import { PayloadError, isCleared } from "../lib/contract";
import { pifogVersion } from "../lib/device-info";
import { topicMatches } from "../lib/mqtt/topic-filter";
import { failMessage } from "../lib/node-red/fail";
import { servicesOf } from "../lib/services";
import { showStatus, type StatusKind } from "../lib/node-red/status";
import { openOutbox, StatusThrottle } from "../lib/outbox/bridge";
import { DeliveryError, Outbox, type OutboxItem } from "../lib/outbox/outbox";
import { useDevice, type DeviceUser } from "../lib/node-red/device";
import {
  THINGSPEAK_MAX_UPDATES,
  THINGSPEAK_MIN_INTERVAL_MS,
  bulkUpdates,
  classifyAnswer,
  isFieldName,
  mergeWindows,
  parseReading,
  readyReadings,
  type Answer,
  type BulkUpdateBody,
  type FieldName,
  type Reading,
  type TimeMode,
  type TimedReading,
} from "./bulk-update";

export interface FieldMapping {
  topic: string;
  field: string;
}

export interface ThingspeakDef extends NodeDef {
  device: string;
  channel: string;
  baseUrl: string;
  /** seconds */
  interval: string | number;
  timeMode: string;
  mappings: FieldMapping[] | string;
  /** field → value sent when a window has no reading for it ("" for none) */
  fieldDefaults: Record<string, string | number> | string;
}

export interface ThingspeakCredentials {
  writeApiKey?: string;
}

/** Runtime settings (settings.ts, or a test) that change the node's limits. */
export const DEFAULT_BASE_URL = "https://api.thingspeak.com";
const DEFAULT_TIMEOUT_MS = 30_000;
/** The longest wait between retries, in intervals: 40 × 15 s = 10 minutes. A bad key waits this long too. */
const BACKOFF_CAP_INTERVALS = 40;

export interface ThingspeakSettings {
  channel: string;
  baseUrl: string;
  writeApiKey: string;
  intervalMs: number;
  /** The configured interval was below the minimum and was raised to it. */
  intervalRaised: boolean;
  timeMode: TimeMode;
  mappings: Array<{ topic: string; field: FieldName }>;
  defaults: Partial<Record<FieldName, number>>;
}

function isTopicFilter(filter: string): boolean {
  if (filter === "" || filter.length > 1024 || filter.includes("\u0000")) return false;
  const levels = filter.split("/");
  return levels.every((level, i) =>
    level === "#" ? i === levels.length - 1 : level === "+" || (!level.includes("+") && !level.includes("#")),
  );
}

function parseList<T>(value: T | string | undefined, what: string): T | undefined {
  if (typeof value !== "string") return value;
  if (value.trim() === "") return undefined;
  try {
    return JSON.parse(value) as T;
  } catch {
    throw new Error(`${what} is not valid JSON`);
  }
}

/** Normalises the editor's config once; throws with a message a user can act on. */
export function normaliseThingspeak(
  config: ThingspeakDef,
  credentials: ThingspeakCredentials,
  minIntervalMs = THINGSPEAK_MIN_INTERVAL_MS,
): ThingspeakSettings {
  const channel = String(config.channel ?? "").trim();
  if (!/^\d{1,12}$/.test(channel)) throw new Error(`channel id "${channel}" must be a number`);

  const base = String(config.baseUrl ?? "").trim() || DEFAULT_BASE_URL;
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new Error(`base URL "${base}" is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error(`base URL "${base}" must be http(s)`);
  const baseUrl = url.toString().replace(/\/+$/, "");

  const writeApiKey = String(credentials.writeApiKey ?? "").trim();
  if (writeApiKey === "" || /\s/.test(writeApiKey)) throw new Error("the channel's write API key is missing");

  const seconds = config.interval === "" || config.interval === undefined ? 15 : Number(config.interval);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 86_400) throw new Error(`interval ${config.interval} s is not 15..86400`);
  const wanted = Math.round(seconds * 1000);
  const intervalMs = Math.max(wanted, minIntervalMs);

  const timeMode: TimeMode = config.timeMode === "delta_t" ? "delta_t" : "created_at";

  const rawMappings = parseList<FieldMapping[]>(config.mappings, "the field mapping") ?? [];
  if (!Array.isArray(rawMappings)) throw new Error("the field mapping must be a list");
  const mappings: Array<{ topic: string; field: FieldName }> = [];
  for (const m of rawMappings) {
    const topic = String(m?.topic ?? "").trim();
    if (!isTopicFilter(topic)) throw new Error(`"${topic}" is not an MQTT topic (or filter)`);
    if (!isFieldName(m.field)) throw new Error(`topic ${topic}: "${m.field}" is not field1..field8`);
    if (!mappings.some((x) => x.topic === topic && x.field === m.field)) mappings.push({ topic, field: m.field });
  }
  if (mappings.length === 0) throw new Error("map at least one topic to a field");

  const rawDefaults = parseList<Record<string, string | number>>(config.fieldDefaults, "the default values") ?? {};
  const defaults: Partial<Record<FieldName, number>> = {};
  for (const [field, value] of Object.entries(rawDefaults)) {
    if (value === "" || value === null || value === undefined) continue;
    if (!isFieldName(field)) throw new Error(`default for "${field}": not field1..field8`);
    const n = Number(value);
    if (!Number.isFinite(n)) throw new Error(`default for ${field}: "${value}" is not a number`);
    defaults[field] = n;
  }
  return { channel, baseUrl, writeApiKey, intervalMs, intervalRaised: intervalMs > wanted, timeMode, mappings, defaults };
}

/** The outbox queue of a channel: one node per channel, and a re-created node finds its readings again. */
export function thingspeakQueue(channel: string): string {
  return `thingspeak/${channel}`;
}

interface NetworkFailure {
  kind: "network";
  detail: string;
}

interface LastResult {
  kind: Answer["kind"] | "network";
  detail: string;
  entries?: number;
}

function networkDetail(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

function defineThingspeak(RED: NodeAPI) {
  return class Thingspeak extends Node {
    private user: DeviceUser | null = null;

    private readonly clock: Clock;
    private outbox: Outbox<Reading> | null = null;
    private readonly unsubscribe: Array<() => void> = [];
    private last: LastResult | null = null;
    /** The bad key / refusal was logged; again only after a success. */
    private reported = false;
    /** One status update a second at most. */
    private readonly statusThrottle: StatusThrottle;

    constructor(config: ThingspeakDef) {
      super(RED);
      this.createNode(config);
      this.clock = servicesOf(RED).clock;
      this.statusThrottle = new StatusThrottle(this.clock, 1000, () => this.drawStatus());
      const runtime = servicesOf(RED).tuning;
      const user = useDevice(RED, this, config.device, "thingspeak");
      if (!user) return;
      this.user = user;
      const device = user.device;
      if (!device) return;
      let s: ThingspeakSettings;
      try {
        const credentials = (this as unknown as { credentials?: ThingspeakCredentials }).credentials ?? {};
        s = normaliseThingspeak(config, credentials, runtime.thingspeakMinIntervalMs ?? THINGSPEAK_MIN_INTERVAL_MS);
      } catch (err) {
        this.show("error", (err as Error).message);
        this.error(RED._("thingspeak.errors.config", { error: (err as Error).message }));
        return;
      }
      if (s.intervalRaised) this.warn(RED._("thingspeak.errors.interval-raised", { seconds: s.intervalMs / 1000 }));

      const batchSize = THINGSPEAK_MAX_UPDATES * 16;
      const outbox = openOutbox(this, RED._("thingspeak.errors.channel-busy", { channel: s.channel }), () =>
        new Outbox<Reading>({
          dataDir: servicesOf(RED).dataDir,
          pool: servicesOf(RED).stores,
          registry: servicesOf(RED).outboxes,
          queue: thingspeakQueue(s.channel),
          clock: this.clock,
          batchSize,
          minIntervalMs: s.intervalMs,
          backoff: { initialMs: s.intervalMs, factor: 2, maxMs: s.intervalMs * BACKOFF_CAP_INTERVALS },
          select: (items, now) => readyReadings(timed(items), now, s.intervalMs, THINGSPEAK_MAX_UPDATES, items.length >= batchSize),
          deliver: (items, signal) => this.deliver(s, items, signal, runtime.thingspeakTimeoutMs ?? DEFAULT_TIMEOUT_MS),
        }),
      );
      if (!outbox) return;
      this.outbox = outbox;
      outbox.on("change", () => this.refreshStatus());
      outbox.on("failed", () => this.refreshStatus(true));

      for (const { topic, field } of s.mappings) {
        this.unsubscribe.push(
          device.link.subscribe(topic, (t, payload) => {
            if (isCleared(payload)) return; // a cleared retained topic: no reading, not a broken one
            this.take({ topic: t, payload: payload.toString("utf8") }, field);
          }),
        );
      }

      this.on("input", (msg: NodeMessageInFlow, _send, done) => {
        const explicit = (msg as { field?: unknown }).field;
        const fields = isFieldName(explicit)
          ? [explicit]
          : s.mappings.filter((m) => typeof msg.topic === "string" && topicMatches(m.topic, msg.topic)).map((m) => m.field);
        if (fields.length === 0) {
          const err = new PayloadError(RED._("thingspeak.errors.unmapped", { topic: String(msg.topic ?? "") }));
          failMessage(RED, this, err, msg, done);
          return;
        }
        for (const field of fields) if (!this.take(msg, field, done)) return;
        done();
      });

      this.on("close", (done: () => void) => {
        for (const u of this.unsubscribe.splice(0)) u();
        this.statusThrottle.stop();
        const closing = this.outbox;
        this.outbox = null;
        (closing ? closing.close() : Promise.resolve()).then(done, done);
      });

      outbox.start();
      this.refreshStatus(true);
    }

    /** Stores one reading before anything else; bad input goes to the dead-letter record and Catch nodes. */
    private take(msg: NodeMessage, field: FieldName, done?: (err?: Error) => void): boolean {
      try {
        const value = parseReading(msg.payload);
        if (!this.outbox) throw new Error(RED._("thingspeak.errors.stopped"));
        this.outbox.put({ field, value, topic: typeof msg.topic === "string" ? msg.topic : undefined });
        return true;
      } catch (err) {
        failMessage(RED, this, err as Error, msg, done);
        return false;
      }
    }

    private async deliver(s: ThingspeakSettings, items: OutboxItem<Reading>[], signal: AbortSignal, timeoutMs: number) {
      const outbox = this.outbox;
      const windows = mergeWindows(timed(items), s.intervalMs);
      const previous = outbox?.state<{ lastEntryAt?: number }>()?.lastEntryAt;
      const { updates, lastEntryAt } = bulkUpdates(windows, { mode: s.timeMode, defaults: s.defaults, previousEntryAt: previous });
      const body: BulkUpdateBody = { write_api_key: s.writeApiKey, updates };
      const answer = await this.post(`${s.baseUrl}/channels/${s.channel}/bulk_update.json`, body, signal, timeoutMs);
      const queuedAfter = (outbox?.size ?? 0) - (answer.kind === "accepted" ? items.length : 0);
      this.send({
        payload: {
          channel: s.channel,
          result: answer.kind,
          ...(answer.kind === "accepted" ? {} : { detail: answer.detail }),
          entries: updates.length,
          readings: items.length,
          queued: queuedAfter,
        },
      });
      if (answer.kind === "accepted") {
        this.last = { kind: "accepted", detail: "", entries: updates.length };
        this.reported = false;
        return { state: { lastEntryAt } };
      }
      this.last = { kind: answer.kind, detail: answer.detail };
      const longWait = s.intervalMs * BACKOFF_CAP_INTERVALS;
      switch (answer.kind) {
        case "bad-key":
          this.reportOnce(RED._("thingspeak.errors.bad-key", { detail: answer.detail }));
          throw new DeliveryError(answer.detail, { retryAfterMs: longWait });
        case "rejected":
          this.reportOnce(RED._("thingspeak.errors.rejected", { detail: answer.detail }));
          throw new DeliveryError(answer.detail, { retryAfterMs: longWait });
        case "rate-limited":
          throw new DeliveryError(answer.detail, { retryAfterMs: answer.retryAfterMs });
        case "network":
          throw new DeliveryError(RED._("thingspeak.errors.network", { error: answer.detail }));
        default:
          throw new DeliveryError(answer.detail);
      }
    }

    private async post(url: string, body: BulkUpdateBody, signal: AbortSignal, timeoutMs: number): Promise<Answer | NetworkFailure> {
      const timeout = new AbortController();
      const timer = this.clock.setTimeout(() => timeout.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: { "Content-Type": "application/json", "User-Agent": `pifog/${pifogVersion()}` },
          body: JSON.stringify(body),
          signal: AbortSignal.any([signal, timeout.signal]),
        });
        const text = await res.text();
        return classifyAnswer(res.status, text, res.headers.get("retry-after"));
      } catch (err) {
        if (signal.aborted) throw err; // closing: the readings stay queued for the next start
        return { kind: "network", detail: timeout.signal.aborted ? (timeout.signal.reason as Error).message : networkDetail(err) };
      } finally {
        this.clock.clearTimeout(timer);
      }
    }

    private reportOnce(message: string): void {
      if (this.reported) return;
      this.reported = true;
      this.error(message);
    }

    /** Shows the queue and the last result; coalesced to one update per second unless `now`. */
    private refreshStatus(now = false): void {
      this.statusThrottle.refresh(now);
    }

    private drawStatus(): void {
      const outbox = this.outbox;
      if (!outbox) return;
      const queued = outbox.size;
      const last = this.last;
      const snapshot = outbox.snapshot();
      const failing = last !== null && last.kind !== "accepted" && snapshot.failures > 0;
      const count = failing && queued > 0
        ? RED._("thingspeak.status.queued-old", { count: queued, age: formatAge(outbox.oldestAgeMs()) })
        : RED._("thingspeak.status.queued", { count: queued });
      let kind: StatusKind = "ok";
      let text = count;
      if (failing && last) {
        const retry = snapshot.retryAt;
        const inSeconds = retry === null ? 0 : Math.max(0, Math.round((retry - this.clock.now()) / 1000));
        kind = last.kind === "bad-key" || last.kind === "rejected" ? "error" : "warn";
        text = RED._(`thingspeak.status.${last.kind}`, { queued: count, detail: last.detail, retry: inSeconds });
      } else if (last?.kind === "accepted") {
        text = RED._("thingspeak.status.accepted", { queued: count, entries: last.entries ?? 0 });
      }
      this.show(kind, text);
    }

    /** The node's own status, combined with its device's link once it has one. */
    private show(kind: StatusKind, text: string): void {
      if (this.user) this.user.show(kind, text);
      else showStatus(this, kind, text);
    }
  };
}

function formatAge(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

function timed(items: OutboxItem<Reading>[]): TimedReading[] {
  return items.map((i) => ({ ...i.payload, at: i.createdAt }));
}

export default function register(RED: NodeAPI): void {
  defineThingspeak(RED).registerType(RED, "thingspeak", {
    credentials: { writeApiKey: { type: "password" } },
  });
}
