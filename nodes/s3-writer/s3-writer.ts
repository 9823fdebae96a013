// The `s3-writer`: stores each msg.payload (a face crop PNG, a JPEG…) as one object in the bucket of its
// `s3-bucket` config node, through a durable spool.
//
// Spool: every object is committed to the on-disk outbox (`<data dir>/outbox.db`, queue `s3-writer/<node id>`)
// before the input is done, its bytes as base64 inside the outbox JSON (face crops and snapshots are small; one
// file, one transaction, nothing to clean up beside it). It is deleted only after S3 accepted it (PutObject 200,
// or the multipart Upload completed above 5 MiB). The key is fixed when queued (`<n>` = the spool id), so an
// upload retried after a crash writes the same key again: nothing is ever stored twice under two keys.
//
// Failures: network errors, 5xx and throttling are retried with exponential backoff (1 s doubling to 1 min).
// A permanent 4xx (NoSuchBucket, AccessDenied, InvalidAccessKeyId…) turns the status red and logs one error
// (node.error, once per distinct error) and the spool keeps retrying slowly (every minute by default) without
// dropping anything: fixing the bucket or the credentials delivers the backlog. No dead-letter: an object is
// never given up on; the operator sees the red status and the queued count.
import type { NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import type { Clock } from "../lib/clock";
import { readFaceRecord } from "../lib/face-record";
import { failMessage } from "../lib/node-red/fail";
import { given } from "../lib/node-red/config-value";
import { servicesOf } from "../lib/services";
import { showStatus } from "../lib/node-red/status";
import { DeliveryReport, openOutbox, runOutbox, type Failure } from "../lib/outbox/bridge";
import { Outbox, type OutboxItem } from "../lib/outbox/outbox";
import { putObject, type S3Target } from "../lib/s3/client";
import {
  DEFAULT_KEY_TEMPLATE,
  MULTIPART_THRESHOLD,
  isPermanent,
  metadataOf,
  renderKey,
  sniffContentType,
  timestampOf,
  unknownPlaceholders,
  withSequence,
} from "../lib/s3/object";

export interface S3WriterDef extends NodeDef {
  bucket: string;
  device?: string;
  keyTemplate?: string;
}

/** Runtime settings (or a test's) that tune the retries. */
/** One queued object. */
export interface SpooledObject {
  /** The key with `<n>` still in it. */
  k: string;
  /** Content type. */
  c: string;
  /** Metadata. */
  m: Record<string, string>;
  /** The bytes, base64. */
  b: string;
}

/** What the node sends for each stored object (msg.payload). */
export interface S3Stored {
  bucket: string;
  key: string;
  etag: string;
  size: number;
  contentType: string;
}

export function s3WriterQueue(nodeId: string): string {
  return `s3-writer/${nodeId}`;
}

function defineS3Writer(RED: NodeAPI) {
  return class S3Writer extends Node {
    private readonly clock: Clock;
    private outbox: Outbox<SpooledObject> | null = null;
    private readonly report: DeliveryReport;

    constructor(config: S3WriterDef) {
      super(RED);
      this.createNode(config);
      this.clock = servicesOf(RED).clock;
      const runtime = servicesOf(RED).tuning;
      this.report = new DeliveryReport(this, runtime.s3PermanentRetryMs ?? 60_000);
      const target = RED.nodes.getNode(config.bucket) as unknown as (S3Target & { problem?: string | null }) | null;
      if (!target || !target.s3) {
        showStatus(this, "error", RED._("s3-writer.errors.no-bucket"));
        this.error(RED._("s3-writer.errors.no-bucket"));
        return;
      }
      if (target.problem) {
        showStatus(this, "error", target.problem);
        return;
      }
      const template = given(config.keyTemplate) ?? DEFAULT_KEY_TEMPLATE;
      const unknown = unknownPlaceholders(template);
      if (unknown.length > 0) {
        const message = RED._("s3-writer.errors.template", { placeholders: unknown.map((p) => `<${p}>`).join(" ") });
        showStatus(this, "error", message);
        this.error(message);
        return;
      }
      const defaultDevice = given(config.device) ?? "pifog";
      const multipartAbove = runtime.s3MultipartAbove ?? MULTIPART_THRESHOLD;

      const outbox = openOutbox(this, RED._("s3-writer.errors.busy"), () =>
        new Outbox<SpooledObject>({
          dataDir: servicesOf(RED).dataDir,
          pool: servicesOf(RED).stores,
          registry: servicesOf(RED).outboxes,
          queue: s3WriterQueue(this.id),
          clock: this.clock,
          // a handful per attempt: each holds its bytes in memory while it is sent
          batchSize: 4,
          backoff: { initialMs: 1000, factor: 2, maxMs: runtime.s3BackoffMaxMs ?? 60_000 },
          deliver: (items, signal) => this.deliver(target, items, signal, multipartAbove),
        }),
      );
      if (!outbox) return;
      this.outbox = outbox;

      this.on("input", (msg: NodeMessageInFlow, _send, done) => {
        const m = msg as NodeMessageInFlow & Record<string, unknown>;
        const body = toBuffer(m.payload);
        if (!body || body.length === 0) {
          failMessage(RED, this, new Error(RED._("s3-writer.errors.payload")), msg, done);
          return;
        }
        const contentType =
          (typeof m.contentType === "string" && m.contentType.trim() !== "" ? m.contentType.trim() : undefined) ??
          sniffContentType(body) ??
          "application/octet-stream";
        const device = typeof m.device === "string" && m.device.trim() !== "" ? m.device.trim() : defaultDevice;
        const timestamp = timestampOf(m.timestamp) ?? this.clock.now();
        const key = renderKey(template, { device, timestamp, contentType });
        try {
          if (!this.outbox) throw new Error(RED._("s3-writer.errors.stopped"));
          // a face crop carries its box and score inside (nodes/lib/face-record.ts): kept as object metadata
          const face = m.face ?? readFaceRecord(body) ?? undefined;
          this.outbox.put({ k: key, c: contentType, m: metadataOf(m.metadata, face), b: body.toString("base64") });
        } catch (err) {
          failMessage(RED, this, err as Error, msg, done);
          return;
        }
        done();
      });

      runOutbox(this, outbox, () => (this.outbox = null), () => this.refreshStatus());
    }

    /** Uploads the batch in order; acks the leading part S3 accepted. */
    private async deliver(target: S3Target, items: OutboxItem<SpooledObject>[], signal: AbortSignal, multipartAbove: number) {
      const bucket = target.s3.bucket;
      const upload = async (item: OutboxItem<SpooledObject>) => {
        const key = withSequence(item.payload.k, item.id);
        const body = Buffer.from(item.payload.b, "base64");
        const stored = await putObject(target.client(), bucket, key, body, item.payload.c, item.payload.m, signal, multipartAbove);
        const payload: S3Stored = { bucket, key, etag: stored.etag, size: stored.size, contentType: item.payload.c };
        this.send({ topic: key, payload });
        return RED._("s3-writer.status.stored", { key });
      };
      const classify = (err: unknown): Failure => {
        const e = err as Error & { Code?: string };
        const name = e.name && e.name !== "Error" ? e.name : e.Code ?? "Error";
        const text = `${name}: ${e.message}`;
        return { permanent: isPermanent(err), status: text, log: RED._("s3-writer.errors.permanent", { bucket, error: text }) };
      };
      return this.report.each(items, signal, upload, classify);
    }

    private refreshStatus(): void {
      const outbox = this.outbox;
      if (outbox) this.report.show(outbox.size, RED._("s3-writer.status.queued", { count: outbox.size }));
    }
  };
}

function toBuffer(payload: unknown): Buffer | null {
  if (Buffer.isBuffer(payload)) return payload;
  if (payload instanceof Uint8Array) return Buffer.from(payload);
  if (typeof payload === "string") return Buffer.from(payload, "utf8");
  return null;
}

export default function register(RED: NodeAPI): void {
  defineS3Writer(RED).registerType(RED, "s3-writer");
}
