// The runtime's sign-in throttles, one per kind of account (the /v1 accounts, the editor's users, the dashboard's
// operators), made once for the runtime and handed to their users in its services (`servicesOf(RED).signIn`); and the
// one way a sign-in refusal is audited.
import type { Audit } from "../audit/audit";
import type { Clock } from "../clock";
import { LoginThrottle, retryAfterSeconds, type ThrottleLimits } from "./throttle";

/** What the environment sets (PIFOG_SIGNIN_*; see nodes/lib/runtime/config.ts). */
export interface SignInLimits {
  /** Wrong passwords for one user name from one address before it waits. */
  userAttempts: number;
  /** Wrong passwords from one address, all user names together, before it waits. */
  addressAttempts: number;
  /** The first wait; it doubles with each further lock, up to an hour. */
  lockMs: number;
}

export const DEFAULT_SIGN_IN: SignInLimits = { userAttempts: 5, addressAttempts: 20, lockMs: 60_000 };

const WINDOW_MS = 15 * 60_000;
const MAX_LOCK_MS = 60 * 60_000;
/** Addresses (and address + user pairs) remembered at most, per kind of account. */
const MAX_ENTRIES = 10_000;

export interface SignInThrottles {
  /** POST /v1/auth */
  api: LoginThrottle;
  /** POST /admin/auth/token */
  editor: LoginThrottle;
  /** The dashboard's operator gate. */
  operator: LoginThrottle;
  /** POST /api/auth (the identity store's users, for PiFog's own API). */
  users: LoginThrottle;
  /** The embedded broker's user names and passwords (CONNECT). */
  mqtt: LoginThrottle;
}

export function makeSignInThrottles(limits: SignInLimits, clock: Pick<Clock, "now">): SignInThrottles {
  const limit = (maxFailures: number): ThrottleLimits => ({ maxFailures, windowMs: WINDOW_MS, lockMs: limits.lockMs, maxLockMs: Math.max(MAX_LOCK_MS, limits.lockMs) });
  const make = () =>
    new LoginThrottle({ perAddress: limit(limits.addressAttempts), perUser: limit(limits.userAttempts), maxEntries: MAX_ENTRIES, now: () => clock.now() });
  return { api: make(), editor: make(), operator: make(), users: make(), mqtt: make() };
}

export interface SignInRefusal {
  /** `http` (/v1), `editor`, `dashboard` */
  via: string;
  address: string;
  user: string;
  /** Set when the throttle refused it before any password check. */
  throttled?: { retryAfterMs: number; limit: "address" | "user" };
}

/** What the one refused is told (and the audit says). */
export function throttledMessage(limit: "address" | "user", retryAfterMs: number): string {
  const from = limit === "address" ? "from this address" : "for this user name from this address";
  return `Too many wrong passwords ${from}: try again in ${retryAfterSeconds(retryAfterMs)} s`;
}

/** Writes a wrong (`auth.refused`) or throttled (`auth.throttled`) sign-in to the audit record. */
export function auditSignIn(audit: Pick<Audit, "record">, r: SignInRefusal): void {
  const who = `${r.user}@${r.address}`;
  if (r.throttled) {
    audit.record({
      event: "auth.throttled",
      via: r.via,
      who,
      address: r.address,
      user: r.user,
      reason: `${throttledMessage(r.throttled.limit, r.throttled.retryAfterMs)}`,
      retryAfter: retryAfterSeconds(r.throttled.retryAfterMs),
    });
  } else {
    audit.record({ event: "auth.refused", via: r.via, who, address: r.address, user: r.user, reason: "wrong user name or password" });
  }
}
