// Limits wrong sign-ins per client address, and per user name from that address, so that guessing passwords is
// slow and costs the hub nothing once the limit is hit, while wrong attempts from one address never lock out the
// right person signing in from another. Optionally also per user name from anywhere (`perName`: the people's sign-in,
// issue 12 asks for it knowingly): many addresses guessing one name are stopped too, at the price that they can make
// the right person wait; its limit is set higher than the per-address ones so one address alone never reaches it. Pure: the time is given, and memory is bounded (entries are forgotten a
// window after their last failure, and each table holds at most `maxEntries`, the least recently used going first).
import net from "node:net";

export interface ThrottleLimits {
  /** Wrong attempts allowed within `windowMs` before the key is locked. */
  maxFailures: number;
  windowMs: number;
  /** The first lock; each further lock within the window doubles it, up to `maxLockMs`. */
  lockMs: number;
  maxLockMs: number;
}

export interface LoginThrottleOptions {
  /** Every user name from one address together. */
  perAddress: ThrottleLimits;
  /** One user name from one address. */
  perUser: ThrottleLimits;
  /** One user name from every address together (unset: no such limit). */
  perName?: ThrottleLimits;
  /** The most entries each table keeps. */
  maxEntries: number;
  now: () => number;
}

/** One admitted attempt; whichever of its methods is called first counts, the others do nothing. */
export interface LoginAttempt {
  /** The password was right: the user's failures from this address are forgotten (the address's are not). */
  right(): void;
  /** The password was wrong: one more failure for the address and for the user from it. */
  wrong(): void;
  /** No answer (an internal error): the attempt counts neither way. */
  abandon(): void;
}

/** Which limit refused: the address's, the name's from that address, or the name's from anywhere. */
export type ThrottleLimit = "address" | "user" | "name";

export type Admission =
  | { allowed: true; attempt: LoginAttempt }
  | { allowed: false; retryAfterMs: number; limit: ThrottleLimit };

interface Entry {
  failures: number;
  /** Attempts admitted and not answered yet: they count against the limit, so a burst cannot overshoot it. */
  pending: number;
  windowStart: number;
  lastFailure: number;
  lockedUntil: number;
  locks: number;
}

/** How long to wait when only attempts still in flight fill the limit. */
const IN_FLIGHT_RETRY_MS = 1000;
/** The longest user name kept in a key: longer ones count as their first part. */
const MAX_NAME = 256;

class Table {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly limits: ThrottleLimits,
    private readonly maxEntries: number,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Milliseconds until `key` may try again, or 0. */
  wait(key: string): number {
    const e = this.fresh(key);
    if (!e) return 0;
    // one that keeps trying stays among the most recent, so others coming and going cannot push it out
    this.touch(key, e);
    const t = this.now();
    if (e.lockedUntil > t) return e.lockedUntil - t;
    return e.failures + e.pending >= this.limits.maxFailures ? IN_FLIGHT_RETRY_MS : 0;
  }

  begin(key: string): void {
    const e = this.fresh(key) ?? this.add(key);
    e.pending++;
    this.touch(key, e);
  }

  end(key: string, outcome: "right" | "wrong" | "abandon"): void {
    const e = this.entries.get(key);
    if (!e) return; // forgotten meanwhile (the table was full): nothing to count against
    e.pending = Math.max(0, e.pending - 1);
    const t = this.now();
    if (outcome === "right") {
      e.failures = 0;
      e.locks = 0;
      e.lockedUntil = 0;
    } else if (outcome === "wrong") {
      if (t - e.windowStart >= this.limits.windowMs) {
        e.windowStart = t;
        e.failures = 0;
      }
      e.failures++;
      e.lastFailure = t;
      if (e.failures >= this.limits.maxFailures) {
        e.lockedUntil = t + Math.min(this.limits.maxLockMs, this.limits.lockMs * 2 ** Math.min(e.locks, 30));
        e.locks++;
        e.failures = 0;
        e.windowStart = t;
      }
    }
    if (e.pending === 0 && this.expired(e, t)) this.entries.delete(key);
  }

  private expired(e: Entry, t: number): boolean {
    return e.pending === 0 && e.lockedUntil <= t && (e.failures === 0 && e.locks === 0 ? true : t - e.lastFailure >= this.limits.windowMs);
  }

  private fresh(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (e && this.expired(e, this.now())) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  private add(key: string): Entry {
    if (this.entries.size >= this.maxEntries) this.makeRoom();
    const t = this.now();
    const e: Entry = { failures: 0, pending: 0, windowStart: t, lastFailure: t, lockedUntil: 0, locks: 0 };
    this.entries.set(key, e);
    return e;
  }

  /** Moves the key to the end of the map's order, so the first one is the least recently used. */
  private touch(key: string, e: Entry): void {
    this.entries.delete(key);
    this.entries.set(key, e);
  }

  private makeRoom(): void {
    const t = this.now();
    for (const [k, e] of this.entries) if (this.expired(e, t)) this.entries.delete(k);
    // still full: the least recently used go, attempts in flight last
    for (const [k, e] of this.entries) {
      if (this.entries.size < this.maxEntries) return;
      if (e.pending === 0) this.entries.delete(k);
    }
    for (const k of this.entries.keys()) {
      if (this.entries.size < this.maxEntries) return;
      this.entries.delete(k);
    }
  }
}

export class LoginThrottle {
  private readonly addresses: Table;
  private readonly users: Table;
  private readonly names: Table | null;

  constructor(readonly options: LoginThrottleOptions) {
    this.addresses = new Table(options.perAddress, options.maxEntries, options.now);
    this.users = new Table(options.perUser, options.maxEntries, options.now);
    this.names = options.perName ? new Table(options.perName, options.maxEntries, options.now) : null;
  }

  /** Whether `address` may try `user`'s password now; when allowed, the caller must end the attempt. */
  admit(address: string, user: string): Admission {
    const name = user.slice(0, MAX_NAME);
    const userKey = `${address}\u0000${name}`;
    const waits: Array<[ThrottleLimit, number]> = [
      ["address", this.addresses.wait(address)],
      ["user", this.users.wait(userKey)],
      ["name", this.names?.wait(name) ?? 0],
    ];
    const [limit, longest] = waits.reduce((a, b) => (b[1] > a[1] ? b : a));
    if (longest > 0) return { allowed: false, retryAfterMs: longest, limit };
    this.addresses.begin(address);
    this.users.begin(userKey);
    this.names?.begin(name);
    let ended = false;
    const end = (outcome: "right" | "wrong" | "abandon") => {
      if (ended) return;
      ended = true;
      this.addresses.end(address, outcome === "right" ? "abandon" : outcome);
      this.users.end(userKey, outcome);
      // a right password from one address does not forgive the name's failures from others
      this.names?.end(name, outcome === "right" ? "abandon" : outcome);
    };
    return { allowed: true, attempt: { right: () => end("right"), wrong: () => end("wrong"), abandon: () => end("abandon") } };
  }

  /** How many entries the tables hold (for tests and the curious). */
  get size(): { addresses: number; users: number; names?: number } {
    return { addresses: this.addresses.size, users: this.users.size, ...(this.names ? { names: this.names.size } : {}) };
  }
}

/** `Retry-After` in whole seconds (at least 1). */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/**
 * The address a limit counts by: the TCP peer (never a header the client writes), an IPv4-mapped IPv6 address as
 * IPv4, and an IPv6 address by its /64, since one host is commonly given a whole /64 to pick addresses from.
 */
export function clientAddress(remote: string | undefined): string {
  if (!remote) return "unknown";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remote);
  if (mapped) return mapped[1]!;
  if (net.isIPv6(remote)) {
    const [head = "", tail = ""] = remote.split("::");
    const left = head ? head.split(":") : [];
    const right = remote.includes("::") ? (tail ? tail.split(":") : []) : [];
    const groups = remote.includes("::") ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right] : left;
    return `${groups
      .slice(0, 4)
      .map((g) => (g.includes(".") ? g : parseInt(g, 16).toString(16)))
      .join(":")}::/64`;
  }
  return remote;
}
