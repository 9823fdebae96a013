// Who may press the dashboard's front-door buttons: an operator (the runtime's services' `operators`: usernames and
// bcrypt hashes; settings.ts names one, "operator", whose password is its own, never the editor's, so a password
// typed on the dashboard cannot unlock the editor). Signing in on the dashboard gives
// a random session token, kept only in that browser tab and valid for a while; every action carries it.
// Wrong passwords are limited per browser address and per (address, user name) (nodes/lib/security/throttle.ts),
// so the dashboard is no password oracle, and wrong attempts from one address never lock out an operator at another.
import crypto from "node:crypto";
import { checkPassword } from "./security/passwords";
import { DEFAULT_SIGN_IN, makeSignInThrottles } from "./security/sign-in";
import type { LoginThrottle, ThrottleLimit } from "./security/throttle";

export interface Operator {
  username: string;
  /** bcrypt hash */
  hash: string;
}

export interface OperatorSession {
  token: string;
  username: string;
  expiresAt: number;
}

export type SignIn =
  | { ok: true; session: OperatorSession }
  | { ok: false; reason: "wrong" | "no-operators" }
  | { ok: false; reason: "locked"; retryAfterMs: number; limit: ThrottleLimit };


export class OperatorSessions {
  private readonly sessions = new Map<string, OperatorSession>();

  constructor(
    private readonly operators: readonly Operator[],
    private readonly sessionMs: number,
    private readonly now: () => number,
    /** The runtime's operator sign-in throttle (shared by every gate); a gate alone gets its own. */
    private readonly throttle: LoginThrottle = makeSignInThrottles(DEFAULT_SIGN_IN, { now }).operator,
  ) {}

  /** `address`: the browser's (the dashboard socket's peer address); wrong passwords are counted by it. */
  async signIn(username: unknown, password: unknown, address = "unknown"): Promise<SignIn> {
    if (this.operators.length === 0) return { ok: false, reason: "no-operators" };
    const name = typeof username === "string" ? username.trim().slice(0, 128) : "";
    const pass = typeof password === "string" ? password.slice(0, 1024) : "";
    const admission = this.throttle.admit(address, name);
    if (!admission.allowed) return { ok: false, reason: "locked", retryAfterMs: admission.retryAfterMs, limit: admission.limit };
    let match: boolean;
    const operator = this.operators.find((o) => o.username === name);
    try {
      // on libuv's thread pool: a burst of sign-ins does not hold up the broker and the flows; an unknown name
      // costs as much time as a known one
      match = await checkPassword(pass, operator?.hash);
    } catch (err) {
      admission.attempt.abandon();
      throw err;
    }
    if (!operator || !match || pass === "") {
      admission.attempt.wrong();
      return { ok: false, reason: "wrong" };
    }
    admission.attempt.right();
    this.prune();
    const session = { token: crypto.randomBytes(24).toString("hex"), username: operator.username, expiresAt: this.now() + this.sessionMs };
    this.sessions.set(session.token, session);
    return { ok: true, session };
  }

  /** The operator of a token still valid, or null. */
  check(token: unknown): OperatorSession | null {
    if (typeof token !== "string") return null;
    const session = this.sessions.get(token);
    if (!session) return null;
    if (session.expiresAt <= this.now()) {
      this.sessions.delete(token);
      return null;
    }
    return session;
  }

  signOut(token: unknown): void {
    if (typeof token === "string") this.sessions.delete(token);
  }

  private prune(): void {
    for (const [token, s] of this.sessions) if (s.expiresAt <= this.now()) this.sessions.delete(token);
  }
}
