// The runtime's sign-in throttles, one per kind of account (the /v1 accounts, the editor's users, the dashboard's
// operators), made once for the runtime and handed to their users in its services (`servicesOf(RED).signIn`); and the
// one way a sign-in refusal is audited.
import type { Audit } from "../audit/audit";
import type { Clock } from "../clock";
import { LoginThrottle, retryAfterSeconds, type ThrottleLimit, type ThrottleLimits } from "./throttle";

/** What the environment sets (PIFOG_SIGNIN_*; see nodes/lib/runtime/config.ts). */
export interface SignInLimits {
  /** Wrong passwords for one user name from one address before it waits. */
  userAttempts: number;
  /** Wrong passwords from one address, all user names together, before it waits. */
  addressAttempts: number;
  /** The first wait; it doubles with each further lock, up to an hour. */
  lockMs: number;
  /** Wrong passwords for one user name of the user store from every address together before it waits (the people's
   * sign-in: /signin, the editor, POST /api/auth); unset: twice `userAttempts`. */
  nameAttempts?: number;
}

export const DEFAULT_SIGN_IN: SignInLimits = { userAttempts: 5, addressAttempts: 20, lockMs: 60_000 };
/** The longest a name waits for wrong passwords from elsewhere (anyone can make it wait, so never an hour). */
const MAX_NAME_LOCK_MS = 15 * 60_000;

const WINDOW_MS = 15 * 60_000;
const MAX_LOCK_MS = 60 * 60_000;
/** Addresses (and address + user pairs) remembered at most, per kind of account. */
const MAX_ENTRIES = 10_000;

export interface SignInThrottles {
  /** POST /v1/auth */
  api: LoginThrottle;
  /** POST /admin/auth/token: the same throttle as `users` (the same people, the same store). */
  editor: LoginThrottle;
  /** The dashboard's operator gate. */
  operator: LoginThrottle;
  /** The user store's people: POST /signin, the editor's login, POST /api/auth; also per name from anywhere. */
  users: LoginThrottle;
  /** The embedded broker's user names and passwords (CONNECT). */
  mqtt: LoginThrottle;
}

export function makeSignInThrottles(limits: SignInLimits, clock: Pick<Clock, "now">): SignInThrottles {
  const limit = (maxFailures: number): ThrottleLimits => ({ maxFailures, windowMs: WINDOW_MS, lockMs: limits.lockMs, maxLockMs: Math.max(MAX_LOCK_MS, limits.lockMs) });
  const make = (perName?: ThrottleLimits) =>
    new LoginThrottle({ perAddress: limit(limits.addressAttempts), perUser: limit(limits.userAttempts), perName, maxEntries: MAX_ENTRIES, now: () => clock.now() });
  const perName: ThrottleLimits = {
    maxFailures: limits.nameAttempts ?? limits.userAttempts * 2,
    windowMs: WINDOW_MS,
    lockMs: limits.lockMs,
    maxLockMs: Math.max(MAX_NAME_LOCK_MS, limits.lockMs),
  };
  // one throttle for the people of the user store, whichever page they sign in on: an attacker gains nothing by
  // taking turns between them
  const users = make(perName);
  return { api: make(), editor: users, operator: make(), users, mqtt: make() };
}

export interface SignInRefusal {
  /** `http` (/v1), `editor`, `dashboard` */
  via: string;
  address: string;
  user: string;
  /** Set when the throttle refused it before any password check. */
  throttled?: { retryAfterMs: number; limit: ThrottleLimit };
  /** Why, when the password was right but the person may not in (a viewer at the editor); default: a wrong password. */
  reason?: string;
}

/** What the one refused is told (and the audit says). */
export function throttledMessage(limit: ThrottleLimit, retryAfterMs: number): string {
  const from = limit === "address" ? "from this address" : limit === "user" ? "for this user name from this address" : "for this user name";
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
    audit.record({ event: "auth.refused", via: r.via, who, address: r.address, user: r.user, reason: r.reason ?? "wrong user name or password" });
  }
}
