// The OpenID Connect sign-ins under way: what PiFog must remember between sending a browser to the provider and
// its return (the PKCE verifier, the nonce, where to go next). Kept here, keyed by the random `state`, and bound to
// the browser that started it by a second random value in a short-lived cookie (SameSite=Lax: the provider's
// redirect back is a cross-site navigation, which a Strict cookie would not ride on). A state is good once, for a
// few minutes, and only with its browser's cookie; what went wrong is told apart so the page and the audit say it.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Clock } from "../clock";

export const OIDC_BROWSER_COOKIE = "pifog_oidc";
/** How long a person has at the provider. */
export const DEFAULT_STATE_MS = 10 * 60_000;
const MAX_PENDING = 2_000;
const MAX_PENDING_PER_ADDRESS = 20;

export interface PendingSignIn {
  codeVerifier: string;
  nonce: string;
  /** The redirect URL sent with the authorization request (the token request must repeat it). */
  redirectUri: string;
  /** Where to go once signed in: a path of this PiFog. */
  next: string;
  address: string;
}

interface Entry extends PendingSignIn {
  browserHash: string;
  expiresAt: number;
  /** Set once used: kept until it would have expired, so a second use is named for what it is. */
  usedAt?: number;
}

export type TakeResult =
  | { ok: true; pending: PendingSignIn }
  | { ok: false; why: "unknown" | "expired" | "reused" | "other-browser"; reason: string };

const sha256 = (s: string) => createHash("sha256").update(s).digest();

/** The browser cookie's value in a Cookie header, or undefined. */
export function browserKeyOf(cookieHeader: string | undefined): string | undefined {
  for (const part of (cookieHeader ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === OIDC_BROWSER_COOKIE) {
      const v = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{20,100}$/.test(v) ? v : undefined;
    }
  }
  return undefined;
}

export class OidcStates {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly clock: Pick<Clock, "now">, private readonly lifetimeMs = DEFAULT_STATE_MS) {}

  get lifetimeSeconds(): number {
    return Math.floor(this.lifetimeMs / 1000);
  }

  /** A new random browser key (the cookie's value) when the browser has none yet. */
  static newBrowserKey(): string {
    return randomBytes(32).toString("base64url");
  }

  /** Remembers a sign-in under way; returns its state. */
  put(pending: PendingSignIn, browserKey: string, state = randomBytes(32).toString("base64url")): string {
    const now = this.clock.now();
    this.sweep(now);
    // one address cannot push everybody else's sign-ins out
    const mine = [...this.entries].filter(([, e]) => e.address === pending.address && e.usedAt === undefined);
    if (mine.length >= MAX_PENDING_PER_ADDRESS) this.entries.delete(mine[0]![0]);
    while (this.entries.size >= MAX_PENDING) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(state, { ...pending, browserHash: sha256(browserKey).toString("hex"), expiresAt: now + this.lifetimeMs });
    return state;
  }

  /** The sign-in a returning browser names by `state`, once: used, expired, unknown or from another browser → why. */
  take(state: string, browserKey: string | undefined): TakeResult {
    const now = this.clock.now();
    const entry = state ? this.entries.get(state) : undefined;
    if (!entry) return { ok: false, why: "unknown", reason: "the sign-in's state is unknown to this PiFog (altered, or from before a restart)" };
    if (entry.usedAt !== undefined) return { ok: false, why: "reused", reason: "the sign-in's state was already used" };
    if (entry.expiresAt <= now) {
      this.entries.delete(state);
      return { ok: false, why: "expired", reason: `the sign-in took longer than ${Math.round(this.lifetimeMs / 60_000)} minutes` };
    }
    const expected = Buffer.from(entry.browserHash, "hex");
    if (!browserKey || !timingSafeEqual(sha256(browserKey), expected)) {
      // not marked used: the browser that started it may still finish it
      return { ok: false, why: "other-browser", reason: "the sign-in was started in another browser (its cookie is missing or different)" };
    }
    entry.usedAt = now;
    const { browserHash: _b, expiresAt: _e, usedAt: _u, ...pending } = entry;
    return { ok: true, pending };
  }

  /** Sign-ins under way (not used, not expired). */
  get size(): number {
    const now = this.clock.now();
    return [...this.entries.values()].filter((e) => e.usedAt === undefined && e.expiresAt > now).length;
  }

  private sweep(now: number): void {
    for (const [state, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(state);
  }
}
