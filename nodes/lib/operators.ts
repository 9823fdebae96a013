// Who may press the dashboard's front-door buttons: an operator (the runtime's `pifogOperators`: usernames and
// bcrypt hashes; settings.ts names one, "operator", whose password is its own, never the editor's, so a password
// typed on the dashboard cannot unlock the editor). Signing in on the dashboard gives
// a random session token, kept only in that browser tab and valid for a while; every action carries it.
// Repeated wrong passwords lock signing in for a minute (per user name), so the dashboard is no password oracle.
import { hashSync, verify } from "@node-rs/bcrypt";
import crypto from "node:crypto";

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

export type SignIn = { ok: true; session: OperatorSession } | { ok: false; reason: "wrong" | "locked" | "no-operators" };

const MAX_FAILURES = 5;
const LOCK_MS = 60_000;
/** A hash of nothing in particular, so an unknown user costs as much time as a known one. */
let dummyHash: string | null = null;
const dummy = () => (dummyHash ??= hashSync(crypto.randomBytes(16).toString("hex"), 10));

export class OperatorSessions {
  private readonly sessions = new Map<string, OperatorSession>();
  private readonly failures = new Map<string, { count: number; since: number }>();

  constructor(
    private readonly operators: readonly Operator[],
    private readonly sessionMs: number,
    private readonly now: () => number,
  ) {}

  async signIn(username: unknown, password: unknown): Promise<SignIn> {
    if (this.operators.length === 0) return { ok: false, reason: "no-operators" };
    const name = typeof username === "string" ? username.trim().slice(0, 128) : "";
    const pass = typeof password === "string" ? password.slice(0, 1024) : "";
    const f = this.failures.get(name);
    if (f && f.count >= MAX_FAILURES && this.now() - f.since < LOCK_MS) return { ok: false, reason: "locked" };
    const operator = this.operators.find((o) => o.username === name);
    // on libuv's thread pool: a burst of sign-ins does not hold up the broker and the flows
    const match = await verify(pass, operator?.hash ?? dummy()).catch(() => false);
    if (!operator || !match || pass === "") {
      const since = f && this.now() - f.since < LOCK_MS ? f.since : this.now();
      this.failures.set(name, { count: (f && this.now() - f.since < LOCK_MS ? f.count : 0) + 1, since });
      return { ok: false, reason: "wrong" };
    }
    this.failures.delete(name);
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

/** The operators a runtime's settings name (`pifogOperators`), or none. */
export function operatorsOf(settings: unknown): Operator[] {
  const list = (settings as { pifogOperators?: unknown } | undefined)?.pifogOperators;
  if (!Array.isArray(list)) return [];
  return list.filter(
    (o): o is Operator => !!o && typeof (o as Operator).username === "string" && typeof (o as Operator).hash === "string",
  );
}
