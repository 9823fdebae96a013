// detectordag's e-mails, sent from the hub without a cloud: a TransitionEvent from the power tracker becomes
// the original's status mail (subject, title, description, five-line text body, HTML card), one mail per
// address of the device's account. Each mail is on disk in the outbox before anything is sent and stays there
// until the SMTP server took it, so an SMTP outage or a restart only delays it; a server that refuses one
// address for good never holds up the others (that mail is dead-lettered with the server's reason).
import type { NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { AccountError, AccountStore, validEmails } from "../lib/accounts/store";
import type { Clock } from "../lib/clock";
import { PayloadError } from "../lib/contract";
import { payloadText } from "../lib/dead-letter";
import { MailSender, type MailAttachment, type NewMail, type QueuedMail, type SmtpFailure, type SmtpSecurity, type SmtpSettings } from "../lib/email/sender";
import { checkTimeZone, parseTransitionEvent, renderTransitionMail } from "../lib/email/templates";
import { failMessage } from "../lib/node-red/fail";
import { settingsFor } from "../lib/node-red/device";
import { servicesOf } from "../lib/services";
import { showStatus } from "../lib/node-red/status";
import { openOutbox } from "../lib/outbox/bridge";

export interface EmailDef extends NodeDef {
  host: string;
  port: string | number;
  security: string;
  from: string;
  retries: string | number;
  dashboardUrl: string;
  timeZone: string;
}

export interface EmailCredentials {
  username?: string;
  password?: string;
}

/** Runtime settings (settings.ts, or a test). */
export interface EmailSettings {
  smtp: Omit<SmtpSettings, "timeoutMs" | "rejectUnauthorized">;
  retries: number;
  dashboardUrl: string;
  timeZone: string;
}

export const DEFAULT_PORTS: Record<SmtpSecurity, number> = { none: 25, starttls: 587, tls: 465 };
export const DEFAULT_RETRIES = 5;
const DEFAULT_TIMEOUT_MS = 30_000;
const ADDRESS = /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/;
const NAMED_ADDRESS = /^[^<>\r\n]*<([^\s@<>]+@[^\s@<>]+\.[^\s@<>]+)>$/;

/** Normalises the editor's config once; throws with a message a user can act on. */
export function normaliseEmail(config: Partial<EmailDef>, credentials: EmailCredentials): EmailSettings {
  const host = String(config.host ?? "").trim();
  if (host === "" || /[\s/]/.test(host)) throw new Error("the SMTP server's host name is missing");
  const security = (String(config.security ?? "").trim() || "starttls") as SmtpSecurity;
  if (!(security in DEFAULT_PORTS)) throw new Error(`security "${config.security}" is not none, starttls or tls`);
  const portText = String(config.port ?? "").trim();
  const port = portText === "" ? DEFAULT_PORTS[security] : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port ${config.port} is not 1..65535`);
  const from = String(config.from ?? "").trim();
  if (!ADDRESS.test(from) && !NAMED_ADDRESS.test(from)) throw new Error(`from "${from}" is not an e-mail address`);
  const retriesText = String(config.retries ?? "").trim();
  const retries = retriesText === "" ? DEFAULT_RETRIES : Number(retriesText);
  if (!Number.isInteger(retries) || retries < 0 || retries > 100) throw new Error(`retries ${config.retries} is not 0..100`);
  const dashboardUrl = String(config.dashboardUrl ?? "").trim();
  if (dashboardUrl !== "") {
    let url: URL;
    try {
      url = new URL(dashboardUrl);
    } catch {
      throw new Error(`dashboard URL "${dashboardUrl}" is not a URL`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`dashboard URL "${dashboardUrl}" must be http(s)`);
  }
  const zoneText = String(config.timeZone ?? "").trim();
  let timeZone: string;
  try {
    timeZone = checkTimeZone(zoneText);
  } catch {
    throw new Error(`time zone "${zoneText}" is not known (use an IANA name such as Europe/London, or leave it empty)`);
  }
  const username = String(credentials.username ?? "").trim();
  const password = String(credentials.password ?? "");
  return {
    smtp: { host, port, security, from, ...(username ? { username, password } : {}) },
    retries,
    dashboardUrl,
    timeZone,
  };
}

/** The outbox queue of a node: a restarted (or redeployed) node finds its mails again by its id. */
export function emailQueue(nodeId: string): string {
  return `email/${nodeId}`;
}

function asRecord(v: unknown): Record<string, unknown> | null {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v) ? (v as Record<string, unknown>) : null;
}

/** A plain mail: `{to, subject, text?, html?}` in msg.payload, or msg.to/subject/text/html (text may be a string payload). */
export function parsePlainMail(msg: NodeMessage): NewMail[] {
  const m = msg as unknown as Record<string, unknown>;
  const fromPayload = asRecord(msg.payload);
  const src = fromPayload && "to" in fromPayload ? fromPayload : m;
  const rawTo = src.to;
  const list = typeof rawTo === "string" ? rawTo.split(",").map((a) => a.trim()).filter(Boolean) : rawTo;
  let to: string[];
  try {
    to = validEmails(list);
  } catch (err) {
    if (err instanceof AccountError) throw new PayloadError("to must be an e-mail address or a list of them");
    throw err;
  }
  if (to.length === 0) throw new PayloadError("to must name at least one address");
  const subject = src.subject;
  if (typeof subject !== "string" || subject.trim() === "" || /[\r\n]/.test(subject) || subject.length > 998) {
    throw new PayloadError("subject must be one line of text");
  }
  const text = src.text ?? (src === m && typeof msg.payload === "string" ? msg.payload : undefined);
  const html = src.html;
  if (text !== undefined && typeof text !== "string") throw new PayloadError("text must be a string");
  if (html !== undefined && typeof html !== "string") throw new PayloadError("html must be a string");
  if (text === undefined && html === undefined) throw new PayloadError("a mail needs text or html");
  const attachments = parseAttachments(src.attachments);
  return to.map((address) => ({
    to: address,
    subject,
    ...(attachments.length > 0 ? { attachments } : {}),
    ...(text !== undefined ? { text } : {}),
    ...(html !== undefined ? { html } : {}),
  }));
}

/** The most a mail carries attached (the outbox keeps it as base64 JSON). */
export const MAX_ATTACHMENT_BYTES = 4 * 1024 * 1024;

/** msg.attachments: [{filename, content: Buffer, contentType?}], bounded. */
export function parseAttachments(raw: unknown): MailAttachment[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw) || raw.length > 5) throw new PayloadError("attachments must be a list of at most 5 {filename, content} objects");
  let total = 0;
  return raw.map((a: unknown) => {
    const r = asRecord(a);
    const filename = r?.filename;
    const content = r?.content;
    if (typeof filename !== "string" || !/^[A-Za-z0-9_. -]{1,100}$/.test(filename)) throw new PayloadError("an attachment's filename must be a plain file name");
    if (!Buffer.isBuffer(content)) throw new PayloadError("an attachment's content must be a Buffer");
    total += content.length;
    if (total > MAX_ATTACHMENT_BYTES) throw new PayloadError(`attachments over ${MAX_ATTACHMENT_BYTES} bytes`);
    const contentType = typeof r!.contentType === "string" && /^[a-z]+\/[a-z0-9.+-]+$/i.test(r!.contentType) ? r!.contentType : "application/octet-stream";
    return { filename, contentType, content: content.toString("base64") };
  });
}

function isTransitionMessage(msg: NodeMessage): boolean {
  const p = asRecord(msg.payload);
  return p !== null && "transition" in p;
}

interface LastResult {
  kind: "sent" | "rejected" | "gave-up";
  to: string;
}

function defineEmail(RED: NodeAPI) {
  return class Email extends Node {
    private readonly clock: Clock;
    private sender: MailSender | null = null;
    private accounts: AccountStore | null = null;
    private last: LastResult | null = null;
    private failure: { failure: SmtpFailure; retryAt: number } | null = null;
    private reportedAuth = false;

    constructor(config: EmailDef) {
      super(RED);
      this.createNode(config);
      this.clock = servicesOf(RED).clock;
      const runtime = servicesOf(RED).tuning;
      const credentials = (this as unknown as { credentials?: EmailCredentials }).credentials ?? {};
      const s = settingsFor(this, () => normaliseEmail(config, credentials));

      this.on("input", (msg: NodeMessageInFlow, _send, done) => {
        try {
          if (!s || !this.sender) throw new Error(RED._("email.errors.not-ready"));
          this.take(s, msg, done);
        } catch (err) {
          failMessage(RED, this, err as Error, msg, done);
        }
      });
      this.on("close", (done: () => void) => {
        const sender = this.sender;
        this.sender = null;
        this.accounts?.close();
        this.accounts = null;
        (sender ? sender.close() : Promise.resolve()).then(done, done);
      });
      if (!s) return;

      const dataDir = servicesOf(RED).dataDir;
      const sender = openOutbox(this, RED._("email.errors.busy"), () => {
        this.accounts = new AccountStore(dataDir, servicesOf(RED).stores);
        return new MailSender({
          dataDir,
          pool: servicesOf(RED).stores,
          registry: servicesOf(RED).outboxes,
          queue: emailQueue(this.id),
          clock: this.clock,
          smtp: {
            ...s.smtp,
            timeoutMs: runtime.emailTimeoutMs ?? DEFAULT_TIMEOUT_MS,
            rejectUnauthorized: runtime.emailTlsRejectUnauthorized !== false,
          },
          retries: s.retries,
          backoff: runtime.emailBackoff,
        });
      });
      if (!sender) {
        this.accounts?.close();
        this.accounts = null;
        return;
      }
      this.sender = sender;
      sender.on("sent", (mail, response) => {
        this.last = { kind: "sent", to: mail.to };
        this.failure = null;
        this.reportedAuth = false;
        this.report(mail, "sent", response);
      });
      sender.on("dropped", (mail, reason, detail) => {
        this.last = { kind: reason, to: mail.to };
        this.failure = null;
        this.deadLetter(mail, reason, detail);
        this.report(mail, reason, detail);
      });
      sender.on("failed", (failure, retryInMs) => {
        this.failure = { failure, retryAt: this.clock.now() + retryInMs };
        if (failure.kind === "auth" && !this.reportedAuth) {
          this.reportedAuth = true;
          this.error(RED._("email.errors.auth", { detail: failure.detail }));
        }
        this.refreshStatus();
      });
      sender.on("change", () => this.refreshStatus());
      sender.start();
      this.refreshStatus();
    }

    private take(s: EmailSettings, msg: NodeMessageInFlow, done: (err?: Error) => void): void {
      const sender = this.sender as MailSender;
      let mails: NewMail[];
      if (isTransitionMessage(msg)) {
        const event = parseTransitionEvent(msg.payload);
        const recipients = (this.accounts as AccountStore).recipients(event.device);
        if (recipients.length === 0) {
          this.warn(RED._("email.errors.no-recipients", { device: event.device }));
          showStatus(this, "warn", RED._("email.status.no-recipients", { device: event.device }));
          done();
          return;
        }
        const rendered = renderTransitionMail(event, { timeZone: s.timeZone, dashboardUrl: s.dashboardUrl || undefined });
        const source = { device: event.device, transition: event.transition, at: event.at };
        mails = recipients.map((to) => ({ to, ...rendered, source }));
      } else {
        mails = parsePlainMail(msg);
      }
      sender.queue(mails);
      done();
    }

    /** One message per mail that is done with: sent, rejected or given up. */
    private report(mail: QueuedMail, result: LastResult["kind"], detail: string): void {
      this.send({
        topic: mail.to,
        payload: {
          to: mail.to,
          subject: mail.subject,
          result,
          detail,
          messageId: mail.messageId,
          ...(mail.source ? { device: mail.source.device, transition: mail.source.transition, at: mail.source.at } : {}),
          queued: this.sender?.size ?? 0,
        },
      });
      this.refreshStatus();
    }

    /** A mail given up: the dead-letter record, and an error (with the mail) that Catch nodes see. */
    private deadLetter(mail: QueuedMail, reason: "rejected" | "gave-up", detail: string): void {
      // the server's own words outside the translated text, so they survive any locale
      const error = `${RED._(`email.errors.${reason}`, { to: mail.to })}: ${detail}`;
      const summary = { to: mail.to, subject: mail.subject, messageId: mail.messageId, ...(mail.source ?? {}) };
      try {
        servicesOf(RED).deadLetters.append({ node: this.id, type: this.type, error, topic: mail.to, payload: payloadText(summary) });
      } catch (writeErr) {
        this.warn(`could not write the dead-letter record: ${(writeErr as Error).message}`);
      }
      this.error(new Error(error), { topic: mail.to, payload: summary } as NodeMessage);
    }

    private refreshStatus(): void {
      const sender = this.sender;
      if (!sender) return;
      const queued = sender.size;
      const failing = sender.lastFailure !== null && this.failure !== null;
      if (failing && this.failure) {
        const { failure, retryAt } = this.failure;
        const retry = Math.max(0, Math.round((retryAt - this.clock.now()) / 1000));
        showStatus(
          this,
          failure.kind === "auth" ? "error" : "warn",
          RED._(`email.status.${failure.kind}`, { count: queued, detail: failure.detail, retry }),
        );
        return;
      }
      const last = this.last;
      if (!last) {
        showStatus(this, "ok", RED._("email.status.queued", { count: queued }));
        return;
      }
      showStatus(this, last.kind === "sent" ? "ok" : "warn", RED._(`email.status.${last.kind}`, { count: queued, to: last.to }));
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineEmail(RED).registerType(RED, "email", {
    credentials: { username: { type: "text" }, password: { type: "password" } },
  });
}
