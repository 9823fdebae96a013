// The `slack-notify` node: posts msg.payload (or msg.text) to a Slack channel, with an image (msg.image, or a
// Buffer msg.payload) uploaded the files.uploadV2 way, through the durable outbox (queue `slack-notify/<node id>`,
// the image as base64 inside the queued JSON): a Slack outage or a restart only delays a notification.
//
// Failures: network errors and 5xx are retried with exponential backoff (1 s doubling to 1 min); a 429 or
// `ratelimited` waits its Retry-After; a permanent error (invalid_auth, channel_not_found…) turns the status red,
// logs once, and retries slowly (every minute) without dropping anything.
//
// Replies: a message that came from a slack-command carries msg.slack.response_url. Without an image, its text is
// a reply to that command (POST {response_type, text} to the response_url) instead of a channel post, sent at once
// and not queued (the person is waiting, and the URL expires after 30 minutes); a failure ends in done(err).
// A door-opener's result as msg.payload becomes readable text: "Door opened (5 s)", "Door not opened: busy".
import type { NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { failMessage } from "../lib/node-red/fail";
import { given } from "../lib/node-red/config-value";
import { servicesOf } from "../lib/services";
import { showStatus } from "../lib/node-red/status";
import { DeliveryReport, openOutbox, runOutbox, type Failure } from "../lib/outbox/bridge";
import { Outbox, type OutboxItem } from "../lib/outbox/outbox";
import { isPermanentSlackError, postToSlack, SlackApiError, type SlackAppNode, type SlackCommandReply } from "../lib/slack/api";
import { doorReplyText, isDoorOpenResult, postToResponseUrl, responseUrlAllowed, type Translate } from "../lib/slack/reply";

export interface SlackNotifyDef extends NodeDef {
  app: string;
  channel?: string;
  /** How a reply to a slash command shows: "ephemeral" (only to who asked, default) or "in_channel". */
  responseType?: string;
}

type ResponseType = SlackCommandReply["response_type"];

function responseTypeOf(value: unknown): ResponseType | undefined {
  return value === "ephemeral" || value === "in_channel" ? value : undefined;
}

/** One queued notification. */
export interface QueuedSlackPost {
  /** Channel. */
  c: string;
  /** Text. */
  t: string;
  /** Image bytes, base64. */
  i?: string;
  /** Image file name. */
  f?: string;
}

export function slackNotifyQueue(nodeId: string): string {
  return `slack-notify/${nodeId}`;
}

function defineSlackNotify(RED: NodeAPI) {
  return class SlackNotify extends Node {
    private outbox: Outbox<QueuedSlackPost> | null = null;
    private readonly report: DeliveryReport;

    constructor(config: SlackNotifyDef) {
      super(RED);
      this.createNode(config);
      const runtime = servicesOf(RED).tuning;
      this.report = new DeliveryReport(this, runtime.slackPermanentRetryMs ?? 60_000);
      const app = RED.nodes.getNode(config.app) as unknown as SlackAppNode | null;
      if (!app || !app.slack) {
        showStatus(this, "error", RED._("slack-notify.errors.no-app"));
        this.error(RED._("slack-notify.errors.no-app"));
        return;
      }
      if (app.problem) {
        showStatus(this, "error", app.problem);
        return;
      }
      const defaultChannel = given(config.channel) ?? app.slack.channel;
      const defaultResponseType = responseTypeOf(given(config.responseType)) ?? "ephemeral";
      const t: Translate = (key, vars) => RED._(`slack-notify.${key}`, vars);
      const outbox = openOutbox(this, RED._("slack-notify.errors.busy"), () =>
        new Outbox<QueuedSlackPost>({
          dataDir: servicesOf(RED).dataDir,
          pool: servicesOf(RED).stores,
          registry: servicesOf(RED).outboxes,
          queue: slackNotifyQueue(this.id),
          clock: servicesOf(RED).clock,
          batchSize: 1,
          backoff: { initialMs: 1000, factor: 2, maxMs: runtime.slackBackoffMaxMs ?? 60_000 },
          deliver: (items, signal) => this.deliver(app, items, signal),
        }),
      );
      if (!outbox) return;
      this.outbox = outbox;

      this.on("input", (msg: NodeMessageInFlow, _send, done) => {
        const m = msg as NodeMessageInFlow & Record<string, unknown>;
        const image = toImage(m.image) ?? toImage(m.payload);
        const text =
          typeof m.text === "string" ? m.text : typeof m.payload === "string" ? m.payload : isDoorOpenResult(m.payload) ? doorReplyText(m.payload, t) : "";
        const responseUrl = responseUrlOf(m.slack);
        if (responseUrl && !image) {
          this.reply(app, responseUrl, { response_type: responseTypeOf(m.response_type) ?? defaultResponseType, text }, msg, done);
          return;
        }
        const channel = typeof m.channel === "string" && m.channel.trim() !== "" ? m.channel.trim() : defaultChannel;
        try {
          if (!channel) throw new Error(RED._("slack-notify.errors.no-channel"));
          if (!image && text.trim() === "") throw new Error(RED._("slack-notify.errors.empty"));
          if (!this.outbox) throw new Error(RED._("slack-notify.errors.stopped"));
          const filename = typeof m.filename === "string" && m.filename.trim() !== "" ? m.filename.trim() : undefined;
          this.outbox.put({ c: channel, t: text, ...(image ? { i: image.toString("base64"), f: filename ?? guessName(image) } : {}) });
        } catch (err) {
          failMessage(RED, this, err as Error, msg, done);
          return;
        }
        done();
      });

      runOutbox(this, outbox, () => (this.outbox = null), () => this.refreshStatus());
    }

    /** A reply to the slash command the message came from: at once, not queued. */
    private reply(app: SlackAppNode, url: string, reply: SlackCommandReply, msg: NodeMessageInFlow, done: (err?: Error) => void): void {
      if (reply.text.trim() === "") return failMessage(RED, this, new Error(RED._("slack-notify.errors.empty")), msg, done);
      if (!responseUrlAllowed(url, app.slack.apiUrl)) {
        return failMessage(RED, this, new Error(RED._("slack-notify.errors.response-url")), msg, done);
      }
      postToResponseUrl(url, reply).then(
        () => {
          this.report.last = { kind: "ok", text: RED._("slack-notify.status.replied") };
          this.refreshStatus();
          done();
        },
        (err: Error) => failMessage(RED, this, err, msg, done),
      );
    }

    private async deliver(app: SlackAppNode, items: OutboxItem<QueuedSlackPost>[], signal: AbortSignal) {
      const post = async ({ payload: p }: OutboxItem<QueuedSlackPost>) => {
        await postToSlack(
          app.slack,
          { channel: p.c, text: p.t, ...(p.i !== undefined ? { image: Buffer.from(p.i, "base64"), filename: p.f } : {}) },
          signal,
        );
        return RED._("slack-notify.status.posted");
      };
      const classify = (err: unknown): Failure => {
        const e = err as Error;
        const code = err instanceof SlackApiError ? err.code : "error";
        // the status shows Slack's code (short); the log has the method too
        return {
          permanent: isPermanentSlackError(err),
          status: code === "error" ? e.message : code,
          key: code,
          message: e.message,
          log: RED._("slack-notify.errors.permanent", { error: e.message }),
          retryAfterMs: err instanceof SlackApiError ? err.retryAfterMs : undefined,
        };
      };
      return this.report.each(items, signal, post, classify);
    }

    private refreshStatus(): void {
      const outbox = this.outbox;
      if (outbox) this.report.show(outbox.size, RED._("slack-notify.status.queued", { count: outbox.size }));
    }
  };
}

function responseUrlOf(slack: unknown): string | null {
  if (typeof slack !== "object" || slack === null) return null;
  const url = (slack as { response_url?: unknown }).response_url;
  return typeof url === "string" && url.trim() !== "" ? url.trim() : null;
}

function toImage(value: unknown): Buffer | null {
  if (Buffer.isBuffer(value)) return value.length > 0 ? value : null;
  if (value instanceof Uint8Array) return value.length > 0 ? Buffer.from(value) : null;
  return null;
}

function guessName(image: Buffer): string {
  if (image[0] === 0x89 && image[1] === 0x50) return "snapshot.png";
  return "snapshot.jpg";
}

export default function register(RED: NodeAPI): void {
  defineSlackNotify(RED).registerType(RED, "slack-notify");
}
