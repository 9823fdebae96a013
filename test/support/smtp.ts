// A real SMTP server for the tests (smtp-server): loopback, STARTTLS with the self-signed test certificate in
// test/fixtures/smtp-{cert,key}.pem (made once: `openssl req -x509 -newkey rsa:2048 -nodes -days 36500
// -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1`), AUTH PLAIN/LOGIN only after
// STARTTLS and only with the right login, and every accepted message parsed with mailparser. Addresses can be
// refused for good (550) or for now (451). It can be stopped (connection refused) and started again on the
// same port. A client reaches it only with `tls.rejectUnauthorized: false`: the node's
// `emailTlsRejectUnauthorized` in the runtime's services' tuning, which only tests set.
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { simpleParser, type ParsedMail } from "mailparser";
import { SMTPServer, type SMTPServerAuthentication, type SMTPServerSession } from "smtp-server";

const FIXTURES = path.resolve(__dirname, "..", "..", "..", "test", "fixtures");

export interface ReceivedMail {
  /** RCPT TO addresses of the session (one per mail, for the e-mail node). */
  envelopeTo: string[];
  envelopeFrom: string;
  /** The login used. */
  user: string | undefined;
  /** The session ran over TLS (STARTTLS). */
  secure: boolean;
  parsed: ParsedMail;
}

export interface TestSmtpOptions {
  username?: string;
  password?: string;
  /** 0: any free port (the first start); later starts reuse the same port. */
  port?: number;
}

export class TestSmtpServer {
  readonly received: ReceivedMail[] = [];
  /** Addresses refused with 550 at RCPT TO. */
  readonly rejectPermanently = new Set<string>();
  /** Addresses refused with 451 at RCPT TO. */
  readonly rejectTemporarily = new Set<string>();
  /** RCPT TO attempts per address (accepted or not). */
  readonly attempts = new Map<string, number>();
  private server: SMTPServer | null = null;
  private port_: number;
  private readonly key = fs.readFileSync(path.join(FIXTURES, "smtp-key.pem"));
  private readonly cert = fs.readFileSync(path.join(FIXTURES, "smtp-cert.pem"));
  private waiters: Array<() => void> = [];

  readonly username: string;
  readonly password: string;

  private constructor(options: TestSmtpOptions) {
    this.username = options.username ?? "pifog";
    this.password = options.password ?? "s3cret-pass";
    this.port_ = options.port ?? 0;
  }

  static async start(options: TestSmtpOptions = {}): Promise<TestSmtpServer> {
    const s = new TestSmtpServer(options);
    await s.start();
    return s;
  }

  get port(): number {
    return this.port_;
  }

  get running(): boolean {
    return this.server !== null;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = new SMTPServer({
      secure: false,
      key: this.key,
      cert: this.cert,
      authMethods: ["PLAIN", "LOGIN"],
      allowInsecureAuth: false,
      closeTimeout: 200,
      logger: false,
      onAuth: (auth: SMTPServerAuthentication, _session, callback) => {
        if (auth.username === this.username && auth.password === this.password) return callback(null, { user: auth.username });
        const err = Object.assign(new Error("Invalid username or password"), { responseCode: 535 });
        return callback(err);
      },
      onRcptTo: (address, _session, callback) => {
        const to = address.address.toLowerCase();
        this.attempts.set(to, (this.attempts.get(to) ?? 0) + 1);
        if (this.rejectPermanently.has(to)) {
          return callback(Object.assign(new Error(`5.1.1 <${to}>: mailbox unavailable`), { responseCode: 550 }));
        }
        if (this.rejectTemporarily.has(to)) {
          return callback(Object.assign(new Error(`4.2.0 <${to}>: try again later`), { responseCode: 451 }));
        }
        return callback();
      },
      onData: (stream, session: SMTPServerSession, callback) => {
        simpleParser(stream)
          .then((parsed) => {
            this.received.push({
              envelopeTo: session.envelope.rcptTo.map((r) => r.address),
              envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
              user: session.user as string | undefined,
              secure: session.secure,
              parsed,
            });
            for (const w of this.waiters.splice(0)) w();
            callback();
          })
          .catch((err: Error) => callback(err));
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port_, "127.0.0.1", () => {
        server.removeListener("error", reject);
        resolve();
      });
    });
    server.on("error", () => {
      // a client that goes away mid-session; the tests look at what was received
    });
    this.port_ = (server.server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening: a new connection is refused until `start` again. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Mails received for an address (envelope). */
  to(address: string): ReceivedMail[] {
    return this.received.filter((m) => m.envelopeTo.includes(address));
  }

  /** Resolves when `test` holds, checking after each received mail. */
  async until(test: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!test()) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what} (received ${this.received.length})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}
