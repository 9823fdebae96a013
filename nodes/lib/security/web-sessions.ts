// The signed-in people of a runtime (issue 12): one session per sign-in, by password or OpenID Connect, carried by
// one cookie (`pifog_session`: HttpOnly, SameSite=Strict, with an expiry) and checked on every HTTP request and on
// the dashboard's socket. The cookie holds only a random value; the runtime keeps the SHA-256 of it with who signed
// in (`<data dir>/sessions.json`, 0600), so a copy of the file signs nobody in, sign-out ends a session for good, and
// sessions survive a restart. Whose role counts is asked again on every check: a user removed from the store, or
// given a smaller role, loses it at once.
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Clock } from "../clock";
import { writeFileAtomic } from "../identity/files";
import type { UserRole } from "../identity/types";
import { USER_ROLES } from "../identity/types";

export const SESSION_COOKIE = "pifog_session";
export const DEFAULT_SESSION_MS = 12 * 60 * 60_000;
/** Sessions kept at most (the oldest go first). */
const MAX_SESSIONS = 10_000;

/** Who signed in. */
export interface Person {
  name: string;
  role: UserRole;
  /** How: the user store's password, or an OpenID Connect provider (then the name is the e-mail or subject). */
  via: "password" | "oidc";
}

export interface WebSession extends Person {
  /** ms since the epoch */
  createdAt: number;
  expiresAt: number;
}

/** How a person's role is now: the user store's answer (null: no such user). */
export type RoleLookup = (name: string) => UserRole | null;

export interface WebSessionsOptions {
  /** Where the sessions are kept; null: in memory only (a test, or a runtime without a data dir). */
  file: string | null;
  clock: Pick<Clock, "now">;
  /** How long a session lasts from its sign-in. */
  lifetimeMs?: number;
  /** The user store: a password session's user must still be there, with the role it has now. An OIDC session's
   * person is not in the store: its role is the one the provider gave, unless the store names them too. */
  roleOf: RoleLookup;
}

interface StoredSession extends WebSession {
  /** SHA-256 of the cookie's value, hex */
  hash: string;
}

const hashOf = (value: string) => createHash("sha256").update(value).digest("hex");

/** The cookie's value in a Cookie header, or undefined. */
export function sessionCookieValue(cookieHeader: string | undefined): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === SESSION_COOKIE) {
      const value = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{20,100}$/.test(value) ? value : undefined;
    }
  }
  return undefined;
}

export class WebSessions {
  private readonly sessions = new Map<string, StoredSession>();
  private readonly lifetimeMs: number;
  private roleOf: RoleLookup;

  constructor(private readonly options: WebSessionsOptions) {
    this.lifetimeMs = options.lifetimeMs ?? DEFAULT_SESSION_MS;
    this.roleOf = options.roleOf;
    if (options.file) this.load(options.file);
  }

  /** The sessions of a data dir. */
  static forDataDir(dataDir: string, o: Omit<WebSessionsOptions, "file">): WebSessions {
    return new WebSessions({ ...o, file: path.join(dataDir, "sessions.json") });
  }

  /** Starts a session; `setCookie` is the Set-Cookie header's value (Secure when the request came over HTTPS). */
  start(person: Person, o: { secure?: boolean } = {}): { session: WebSession; setCookie: string } {
    const value = randomBytes(32).toString("base64url");
    const now = this.options.clock.now();
    const stored: StoredSession = { name: person.name, role: person.role, via: person.via, createdAt: now, expiresAt: now + this.lifetimeMs, hash: hashOf(value) };
    this.sweep(now);
    while (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    this.sessions.set(stored.hash, stored);
    this.save();
    const maxAge = Math.floor(this.lifetimeMs / 1000);
    return { session: publicSession(stored), setCookie: `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${o.secure ? "; Secure" : ""}` };
  }

  /** The live session a Cookie header carries, with the role its person has now; null: none, expired, ended, or
   * the person is no longer a user. */
  fromCookie(cookieHeader: string | undefined): WebSession | null {
    const value = sessionCookieValue(cookieHeader);
    if (!value) return null;
    const stored = this.sessions.get(hashOf(value));
    if (!stored) return null;
    if (stored.expiresAt <= this.options.clock.now()) {
      this.sessions.delete(stored.hash);
      this.save();
      return null;
    }
    const now = this.roleOf(stored.name);
    if (stored.via === "password") {
      if (now === null) return null;
      return { ...publicSession(stored), role: now };
    }
    return { ...publicSession(stored), role: now ?? stored.role };
  }

  /** Roles from another user store from now on (the launcher's, once it has opened it). */
  useRoles(roleOf: RoleLookup): void {
    this.roleOf = roleOf;
  }

  /** Ends the session a Cookie header carries (if any); returns the Set-Cookie value that clears the cookie. */
  end(cookieHeader: string | undefined): string {
    const value = sessionCookieValue(cookieHeader);
    if (value && this.sessions.delete(hashOf(value))) this.save();
    return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
  }

  /** Ends every session of a person (removed, or their password changed). */
  endFor(name: string): number {
    let ended = 0;
    for (const [hash, s] of this.sessions) {
      if (s.name === name) {
        this.sessions.delete(hash);
        ended++;
      }
    }
    if (ended) this.save();
    return ended;
  }

  /** Live sessions, for the Users tab (no cookie values: those are never kept). */
  list(): WebSession[] {
    const now = this.options.clock.now();
    return [...this.sessions.values()].filter((s) => s.expiresAt > now).map(publicSession);
  }

  private sweep(now: number): void {
    for (const [hash, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(hash);
  }

  private load(file: string): void {
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      return;
    }
    try {
      const list = JSON.parse(text) as unknown;
      if (!Array.isArray(list)) throw new Error("not a list");
      for (const s of list as StoredSession[]) {
        const ok =
          s && typeof s.hash === "string" && /^[0-9a-f]{64}$/.test(s.hash) && typeof s.name === "string" &&
          (USER_ROLES as readonly string[]).includes(s.role) && (s.via === "password" || s.via === "oidc") &&
          Number.isFinite(s.createdAt) && Number.isFinite(s.expiresAt);
        if (ok) this.sessions.set(s.hash, { name: s.name, role: s.role, via: s.via, createdAt: s.createdAt, expiresAt: s.expiresAt, hash: s.hash });
      }
    } catch (err) {
      // a damaged file signs everybody out, and says so; it is written anew on the next sign-in
      console.warn(`PiFog: ${file} could not be read (${(err as Error).message}); everybody signs in again`);
    }
  }

  private save(): void {
    if (!this.options.file) return;
    try {
      writeFileAtomic(this.options.file, JSON.stringify([...this.sessions.values()]));
    } catch (err) {
      console.warn(`PiFog: sessions not kept in ${this.options.file}: ${(err as Error).message}`);
    }
  }
}

function publicSession(s: StoredSession): WebSession {
  return { name: s.name, role: s.role, via: s.via, createdAt: s.createdAt, expiresAt: s.expiresAt };
}
