// The OpenID Connect routes in this process, against a real provider on loopback, with the runtime's clock a fake
// one: what depends on time (a sign-in left too long at the provider, an ID token expired by PiFog's clock) and on
// the provider being down, driven by plain HTTP requests that carry cookies as a browser would.
import assert from "node:assert/strict";
import express from "express";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { AuditEvent } from "../../nodes/lib/audit/audit";
import { OidcSignIn } from "../../nodes/lib/security/oidc";
import { parseOidcConfig } from "../../nodes/lib/security/oidc-config";
import { oidcRoutes } from "../../nodes/lib/security/oidc-routes";
import { WebSessions } from "../../nodes/lib/security/web-sessions";
import { FakeClock } from "../support/fake-clock";
import { startOidcProvider, type TestAccount, type TestProvider } from "../support/oidc-provider";
import { freePort } from "../support/ports";

const SECRET = "in-process-client-secret-0123456789";
const ACCOUNTS: TestAccount[] = [
  { id: "alice", email: "alice@example.com", email_verified: true, pifog_role: "operator" },
  { id: "odd", email: "<b>odd</b>@example.com", email_verified: true },
];

/** A browser's cookies, by name (one host each is all these tests need). */
class Jar {
  private readonly cookies = new Map<string, string>();
  take(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const eq = pair!.indexOf("=");
      this.cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
  get(name: string): string | undefined {
    return this.cookies.get(name);
  }
}

interface App {
  url: string;
  clock: FakeClock;
  audit: AuditEvent[];
  sessions: WebSessions;
  close(): Promise<void>;
}

async function startApp(env: Record<string, string>, clock: FakeClock, port = 0): Promise<App> {
  const config = parseOidcConfig({ PIFOG_OIDC_CLIENT_ID: "pifog", PIFOG_OIDC_CLIENT_SECRET: SECRET, PIFOG_OIDC_ROLE_CLAIM: "pifog_role", ...env }, "/nonexistent");
  const audit: AuditEvent[] = [];
  const sessions = new WebSessions({ file: null, clock, roleOf: () => null });
  const app = express();
  app.use(oidcRoutes({ signIn: config ? new OidcSignIn(config, clock) : null, sessions, audit: { record: (e) => audit.push(e) } }));
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    clock,
    audit,
    sessions,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

const get = (url: string, jar: Jar) => fetch(url, { redirect: "manual", headers: { cookie: jar.header() } });

/** From PiFog's /signin/oidc through the provider's login page as `login`, up to the redirect back (not taken). */
async function toCallback(app: App, login: string, pifog: Jar, atProvider = new Jar()): Promise<string> {
  const start = await get(`${app.url}/signin/oidc?next=/ui/`, pifog);
  assert.equal(start.status, 303, `GET /signin/oidc: ${start.status} ${await start.text()}`);
  pifog.take(start);
  let res = await get(start.headers.get("location")!, atProvider);
  atProvider.take(res);
  const interaction = new URL(res.headers.get("location")!, start.headers.get("location")!);
  res = await fetch(`${interaction.href}/login`, {
    method: "POST",
    redirect: "manual",
    headers: { cookie: atProvider.header(), "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ login }),
  });
  atProvider.take(res);
  let next = new URL(res.headers.get("location")!, interaction);
  // the provider resumes the authorization and sends the browser back to PiFog
  while (!next.href.startsWith(app.url)) {
    res = await get(next.href, atProvider);
    atProvider.take(res);
    assert.ok(res.status >= 300 && res.status < 400, `the provider answered ${res.status}: ${await res.text()}`);
    next = new URL(res.headers.get("location")!, next);
  }
  return next.href;
}

describe("OpenID Connect sign-in with the runtime's clock and a provider that may be down", function () {
  this.timeout(20_000);
  let provider: TestProvider;
  let app: App;
  let port: number;

  beforeEach(async function () {
    port = await freePort();
  });

  afterEach(async function () {
    await app?.close();
    await provider?.close();
  });

  async function withProvider(clock: FakeClock): Promise<void> {
    provider = await startOidcProvider({
      clients: [{ client_id: "pifog", client_secret: SECRET, redirect_uris: [`http://127.0.0.1:${port}/signin/oidc/callback`] }],
      accounts: ACCOUNTS,
    });
    app = await startApp({ PIFOG_OIDC_ISSUER: provider.issuer }, clock, port);
  }

  it("signs a person in and the session cookie it sets is one the sessions accept", async function () {
    await withProvider(new FakeClock(Date.now()));
    const jar = new Jar();
    const res = await get(await toCallback(app, "alice", jar), jar);
    assert.equal(res.status, 303);
    assert.equal(res.headers.get("location"), "/ui/");
    const setCookie = res.headers.getSetCookie().find((c) => c.startsWith("pifog_session="))!;
    assert.match(setCookie, /HttpOnly; SameSite=Strict/);
    const session = app.sessions.fromCookie(setCookie.split(";")[0]);
    assert.deepEqual([session?.name, session?.role, session?.via], ["alice@example.com", "operator", "oidc"]);
  });

  it("a sign-in left at the provider longer than ten minutes is refused as expired, and audited", async function () {
    await withProvider(new FakeClock(Date.now()));
    const jar = new Jar();
    const callback = await toCallback(app, "alice", jar);
    app.clock.tick(10 * 60_000 + 1);
    const res = await get(callback, jar);
    assert.equal(res.status, 400);
    assert.match(await res.text(), /took longer than 10 minutes/);
    assert.equal(res.headers.getSetCookie().some((c) => c.startsWith("pifog_session=")), false);
    assert.ok(app.audit.some((e) => e.event === "oidc.refused" && e.kind === "state" && /10 minutes/.test(e.reason)));
  });

  it("an ID token that has expired by this PiFog's clock is refused", async function () {
    // PiFog's clock two hours ahead of the provider's: its one-hour ID tokens are past their expiry here
    await withProvider(new FakeClock(Date.now() + 2 * 60 * 60_000));
    const jar = new Jar();
    const res = await get(await toCallback(app, "alice", jar), jar);
    assert.equal(res.status, 401);
    assert.match(await res.text(), /expiration is past current timestamp/);
    assert.equal(provider.tokensIssued, 1, "the provider did issue a token: PiFog refused it");
  });

  it("a provider that cannot be reached gets a clear page, and the next sign-in tries it again", async function () {
    const issuerPort = await freePort();
    app = await startApp({ PIFOG_OIDC_ISSUER: `http://127.0.0.1:${issuerPort}` }, new FakeClock(Date.now()), port);
    const down = await get(`${app.url}/signin/oidc`, new Jar());
    assert.equal(down.status, 503);
    const page = await down.text();
    assert.match(page, /The sign-in provider cannot be reached/);
    assert.match(page, new RegExp(`http://127\\.0\\.0\\.1:${issuerPort}/ cannot be reached`));
    assert.ok(app.audit.some((e) => e.event === "oidc.refused" && e.kind === "provider-down"));
    provider = await startOidcProvider({
      clients: [{ client_id: "pifog", client_secret: SECRET, redirect_uris: [`${app.url}/signin/oidc/callback`] }],
      accounts: ACCOUNTS,
      port: issuerPort,
    });
    const up = await get(`${app.url}/signin/oidc`, new Jar());
    assert.equal(up.status, 303);
    assert.ok(up.headers.get("location")!.startsWith(`${provider.issuer}/auth?`), "sent to the provider");
  });

  it("the refusal page shows what the provider sent as text, never as markup", async function () {
    await withProvider(new FakeClock(Date.now()));
    const jar = new Jar();
    const res = await get(await toCallback(app, "odd", jar), jar);
    assert.equal(res.status, 403);
    const page = await res.text();
    assert.ok(page.includes("&lt;b&gt;odd&lt;/b&gt;@example.com"), "escaped");
    assert.ok(!page.includes("<b>odd"), "never raw");
  });

  it("without PIFOG_OIDC_ISSUER the routes say OpenID Connect is not set up", async function () {
    app = await startApp({}, new FakeClock(Date.now()));
    const res = await get(`${app.url}/signin/oidc`, new Jar());
    assert.equal(res.status, 404);
    assert.match(await res.text(), /OpenID Connect sign-in is not set up/);
    const callback = await get(`${app.url}/signin/oidc/callback?code=x&state=y`, new Jar());
    assert.equal(callback.status, 404);
  });

  it("asking who you are without a session is answered 401", async function () {
    app = await startApp({}, new FakeClock(Date.now()));
    const res = await get(`${app.url}/signin/oidc/whoami`, new Jar());
    assert.equal(res.status, 401);
  });
});
