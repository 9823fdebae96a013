// The signed-in people's sessions: the cookie a browser gets, what a request with it is, and what ends it.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SESSION_COOKIE, WebSessions, sessionCookieValue } from "../../nodes/lib/security/web-sessions";
import type { UserRole } from "../../nodes/lib/identity/types";
import { FakeClock } from "../support/fake-clock";

describe("web sessions", () => {
  let dir: string;
  let clock: FakeClock;
  let users: Map<string, UserRole>;
  const make = () => WebSessions.forDataDir(dir, { clock, lifetimeMs: 60 * 60_000, roleOf: (name) => users.get(name) ?? null });
  const cookieOf = (setCookie: string) => setCookie.split(";")[0]!;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-sessions-"));
    clock = new FakeClock(1_000_000);
    users = new Map([["ada", "operator"]]);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("gives an HttpOnly, SameSite=Strict cookie with an expiry, which signs the person in until it expires", () => {
    const sessions = make();
    const { setCookie, session } = sessions.start({ name: "ada", role: "operator", via: "password" });
    assert.match(setCookie, new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600$`));
    assert.match(sessions.start({ name: "ada", role: "operator", via: "password" }, { secure: true }).setCookie, /; Secure$/);
    assert.equal(session.expiresAt, 1_000_000 + 3_600_000);
    const cookie = `theme=dark; ${cookieOf(setCookie)}`;
    assert.equal(sessions.fromCookie(cookie)?.name, "ada");
    clock.tick(3_600_000 - 1);
    assert.equal(sessions.fromCookie(cookie)?.role, "operator");
    clock.tick(1);
    assert.equal(sessions.fromCookie(cookie), null, "expired");
  });

  it("refuses a made-up, malformed or ended cookie; sign-out ends it for good", () => {
    const sessions = make();
    const { setCookie } = sessions.start({ name: "ada", role: "operator", via: "password" });
    assert.equal(sessions.fromCookie(`${SESSION_COOKIE}=${"A".repeat(43)}`), null);
    assert.equal(sessions.fromCookie(`${SESSION_COOKIE}=<script>`), null);
    assert.equal(sessionCookieValue(undefined), undefined);
    assert.match(sessions.end(cookieOf(setCookie)), /Max-Age=0/);
    assert.equal(sessions.fromCookie(cookieOf(setCookie)), null);
    assert.equal(make().fromCookie(cookieOf(setCookie)), null, "and after a restart");
  });

  it("follows the user store: a removed user is signed out, a demoted one has the smaller role at once", () => {
    const sessions = make();
    const password = cookieOf(sessions.start({ name: "ada", role: "operator", via: "password" }).setCookie);
    const oidc = cookieOf(sessions.start({ name: "grace@example.org", role: "viewer", via: "oidc" }).setCookie);
    users.set("ada", "viewer");
    assert.equal(sessions.fromCookie(password)?.role, "viewer");
    users.delete("ada");
    assert.equal(sessions.fromCookie(password), null);
    assert.equal(sessions.fromCookie(oidc)?.role, "viewer", "an OIDC person keeps the provider's role");
    users.set("grace@example.org", "admin");
    assert.equal(sessions.fromCookie(oidc)?.role, "admin", "unless the store names them");
    assert.equal(sessions.endFor("grace@example.org"), 1);
    assert.equal(sessions.fromCookie(oidc), null);
  });

  it("survives a restart, keeping only hashes of the cookies, in a private file", () => {
    const first = make();
    const { setCookie } = first.start({ name: "ada", role: "operator", via: "password" });
    const file = path.join(dir, "sessions.json");
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const value = sessionCookieValue(cookieOf(setCookie))!;
    assert.ok(!fs.readFileSync(file, "utf8").includes(value), "the cookie's value is not in the file");
    assert.equal(make().fromCookie(cookieOf(setCookie))?.name, "ada");
    fs.writeFileSync(file, "{damaged");
    assert.equal(make().fromCookie(cookieOf(setCookie)), null, "a damaged file signs everybody out");
  });
});
