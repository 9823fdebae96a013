// Durable e-mail: every mail (one per recipient) is committed to the outbox before anything is sent, then
// delivered one at a time over SMTP with nodemailer. What happens to a mail depends on how it failed:
// - the server is down, unreachable, slow, or refuses the login: the mail stays queued and every mail waits
//   behind it with exponential backoff (nothing could go anyway), for as long as it takes;
// - the server refuses this mail temporarily (4xx to RCPT/DATA): retried with backoff up to `retries` times,
//   then given up ("gave-up");
// - the server refuses this mail for good (5xx to MAIL/RCPT/DATA, or an address it cannot take): dropped at once
//   ("rejected"), and the next mail goes.
// A dropped mail is reported to the owner (the node writes the dead-letter record). A crash between the
// server's 250 and the outbox's ack sends that one mail again after the restart, with the same Message-ID.
import type nodemailer from "nodemailer";
import type SMTPTransport from "nodemailer/lib/smtp-transport";
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import type { Clock } from "../clock";
import type { PowerTransition } from "../contract";
import type { OutboxRegistry } from "../outbox/registry";
import { DeliveryError, Outbox, type OutboxItem, type OutboxSnapshot } from "../outbox/outbox";
import type { SqlitePool } from "../store/sqlite";

export type SmtpSecurity = "none" | "starttls" | "tls";

export interface SmtpSettings {
  host: string;
  port: number;
  /** none: plain text, never upgraded; starttls: upgrade required before login; tls: implicit TLS (465). */
  security: SmtpSecurity;
  username?: string;
  password?: string;
  /** The From header and envelope sender: `a@b.c` or `Name <a@b.c>`. */
  from: string;
  /** Connecting, waiting for the greeting, and any silence on the socket each give up after this long. */
  timeoutMs: number;
  /** false only for tests (a self-signed test server): see the node's help. */
  rejectUnauthorized: boolean;
}

/** One queued mail, as stored in the outbox. */
export interface QueuedMail {
  to: string;
  subject: string;
  text?: string;
  html?: string;
  /** Files sent with it (a motion clip's thumbnail), their bytes as base64 (the outbox keeps JSON). */
  attachments?: MailAttachment[];
  /** Set when queued, so a mail sent again after a crash can be told apart by the receiver. */
  messageId: string;
  /** The Date header (ms since the epoch): when it was queued. */
  date: number;
  /** What it reports, for a power transition mail. */
  source?: { device: string; transition: PowerTransition; at: string };
}

export type NewMail = Omit<QueuedMail, "messageId" | "date">;

export interface MailAttachment {
  filename: string;
  contentType: string;
  /** base64 */
  content: string;
}

export type SmtpFailureKind = "rejected" | "deferred" | "auth" | "connection";

export interface SmtpFailure {
  kind: SmtpFailureKind;
  detail: string;
}

interface NodemailerError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
}

/** What a nodemailer error means for the mail: given up, retried alone, or the whole server is the problem. */
export function classifySmtpError(err: unknown): SmtpFailure {
  const e = (err ?? {}) as NodemailerError;
  const detail = (e.response ?? e.message ?? String(err)).replace(/\s+/g, " ").trim();
  const code = e.code ?? "";
  if (code === "EENVELOPE" || code === "EMESSAGE") {
    const status = e.responseCode ?? 0;
    if (status >= 400 && status < 500) return { kind: "deferred", detail };
    // 5xx, or no answer at all because the address itself is unusable ("Invalid recipient")
    return { kind: "rejected", detail };
  }
  if (code === "EAUTH" || code === "ENOAUTH") return { kind: "auth", detail };
  return { kind: "connection", detail };
}

export interface MailSenderOptions {
  dataDir: string;
  /** The runtime's open database files (the services' stores). */
  pool?: SqlitePool;
  /** The runtime's open outboxes (the services' `outboxes`). */
  registry?: OutboxRegistry;
  /** The outbox queue: one per sending node. */
  queue: string;
  clock: Clock;
  smtp: SmtpSettings;
  /** Temporary refusals of one mail retried before it is given up. */
  retries: number;
  backoff?: { initialMs?: number; maxMs?: number };
}

export interface MailSenderEvents {
  sent: [mail: QueuedMail, response: string];
  /** Given up for good: `rejected` (5xx) or `gave-up` (still refused after the retries). */
  dropped: [mail: QueuedMail, reason: "rejected" | "gave-up", detail: string];
  /** An attempt failed and the queue waits `retryInMs`. */
  failed: [failure: SmtpFailure, retryInMs: number];
  change: [];
}

/** How long closing waits for a send in flight before leaving that mail queued. */
const CLOSE_GRACE_MS = 5000;

class FailedAttempt extends DeliveryError {
  constructor(readonly failure: SmtpFailure) {
    super(failure.detail);
  }
}

export class MailSender extends EventEmitter<MailSenderEvents> {
  private readonly outbox: Outbox<QueuedMail>;
  private readonly transport: nodemailer.Transporter<SMTPTransport.SentMessageInfo>;
  /** Temporary refusals per queued mail (outbox id); forgotten on restart, so a restart grants the retries again. */
  private readonly deferrals = new Map<number, number>();
  private lastFailure_: SmtpFailure | null = null;

  constructor(private readonly options: MailSenderOptions) {
    super();
    const { smtp } = options;
    // loaded on first use: a Pi whose flow sends no mail never pays for it
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mailer = require("nodemailer") as typeof nodemailer;
    this.transport = mailer.createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.security === "tls",
      requireTLS: smtp.security === "starttls",
      ignoreTLS: smtp.security === "none",
      ...(smtp.username ? { auth: { user: smtp.username, pass: smtp.password ?? "" } } : {}),
      connectionTimeout: smtp.timeoutMs,
      greetingTimeout: smtp.timeoutMs,
      socketTimeout: smtp.timeoutMs,
      tls: { rejectUnauthorized: smtp.rejectUnauthorized },
      disableFileAccess: true,
      disableUrlAccess: true,
    });
    this.outbox = new Outbox<QueuedMail>({
      dataDir: options.dataDir,
      pool: options.pool,
      ...(options.registry ? { registry: options.registry } : {}),
      queue: options.queue,
      clock: options.clock,
      batchSize: 1,
      backoff: { initialMs: options.backoff?.initialMs ?? 5000, factor: 2, maxMs: options.backoff?.maxMs ?? 10 * 60_000 },
      deliver: (items, signal) => this.deliver(items[0] as OutboxItem<QueuedMail>, signal),
    });
    this.outbox.on("change", () => this.emit("change"));
    this.outbox.on("failed", (err, retryInMs) => {
      const failure = err instanceof FailedAttempt ? err.failure : { kind: "connection" as const, detail: err.message };
      this.lastFailure_ = failure;
      this.emit("failed", failure, retryInMs);
    });
  }

  /** Mails queued and not yet sent or dropped. */
  get size(): number {
    return this.outbox.size;
  }

  /** The failure that the queue is waiting on now, or null. */
  get lastFailure(): SmtpFailure | null {
    return this.outbox.snapshot().failures > 0 ? this.lastFailure_ : null;
  }

  snapshot(): OutboxSnapshot {
    return this.outbox.snapshot();
  }

  /** Commits the mails to disk (in one transaction) and returns them; sending follows. */
  queue(mails: NewMail[]): QueuedMail[] {
    const now = this.options.clock.now();
    const domain = /@([^>\s]+)>?\s*$/.exec(this.options.smtp.from)?.[1] ?? "pifog.local";
    const queued = mails.map((m) => ({ ...m, messageId: `<${randomUUID()}@${domain}>`, date: now }));
    this.outbox.putMany(queued);
    return queued;
  }

  /** Starts sending (what was queued before a restart goes first). */
  start(): void {
    this.outbox.start();
  }

  /** Tries again now instead of waiting out the backoff. */
  retryNow(): void {
    this.outbox.retryNow();
  }

  /** Stops sending; a mail in flight stays queued. */
  async close(): Promise<void> {
    await this.outbox.close();
    this.transport.close();
    this.removeAllListeners();
  }

  private async deliver(item: OutboxItem<QueuedMail>, signal: AbortSignal): Promise<void> {
    const mail = item.payload;
    let response: string;
    try {
      const info = await abortable(
        this.transport.sendMail({
          from: this.options.smtp.from,
          to: mail.to,
          subject: mail.subject,
          ...(mail.text !== undefined ? { text: mail.text } : {}),
          ...(mail.html !== undefined ? { html: mail.html } : {}),
          ...(mail.attachments?.length
            ? { attachments: mail.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, content: Buffer.from(a.content, "base64") })) }
            : {}),
          messageId: mail.messageId,
          date: new Date(mail.date),
        }),
        signal,
        this.options.clock,
        CLOSE_GRACE_MS,
      );
      response = info.response ?? "";
    } catch (err) {
      if (signal.aborted) throw err;
      const failure = classifySmtpError(err);
      if (failure.kind === "rejected") {
        this.finish(item, () => this.emit("dropped", mail, "rejected", failure.detail));
        return;
      }
      if (failure.kind === "deferred") {
        const refusals = (this.deferrals.get(item.id) ?? 0) + 1;
        if (refusals > this.options.retries) {
          this.finish(item, () => this.emit("dropped", mail, "gave-up", failure.detail));
          return;
        }
        this.deferrals.set(item.id, refusals);
      }
      throw new FailedAttempt(failure);
    }
    this.finish(item, () => this.emit("sent", mail, response));
  }

  private finish(item: OutboxItem<QueuedMail>, report: () => void): void {
    this.deferrals.delete(item.id);
    this.lastFailure_ = null;
    try {
      report();
    } catch {
      // a listener's failure must not keep the mail queued (it would be sent or dropped twice)
    }
  }
}

/** The send's own outcome, unless the outbox closes and it has not settled within `graceMs`: a mail the server
 * is already taking is then usually acked instead of being sent again after the restart. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal, clock: Clock, graceMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: unknown = null;
    const onAbort = () => {
      timer = clock.setTimeout(() => reject(signal.reason as Error), graceMs);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    const settle = () => {
      signal.removeEventListener("abort", onAbort);
      if (timer !== null) clock.clearTimeout(timer);
    };
    promise.then(
      (v) => {
        settle();
        resolve(v);
      },
      (e: unknown) => {
        settle();
        reject(e as Error);
      },
    );
  });
}
