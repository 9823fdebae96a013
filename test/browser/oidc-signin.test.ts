// OpenID Connect sign-in as a person does it: a real PiFog runtime set up with a real provider (oidc-provider on a
// loopback port), and Debian's Chromium going to /signin/oidc, signing in at the provider's page and coming back.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { launchChromium } from "../support/browser";
import { startOidcProvider, type TestProvider } from "../support/oidc-provider";
import { freePort } from "../support/ports";
import { startRuntime, type TestRuntime } from "../support/runtime";

const SECRET = "pifog-test-client-secret-0123456789";
const ACCOUNTS = [
  { id: "alice", email: "Alice@Example.com", email_verified: true, pifog_role: "operator" },
  { id: "erin", email: "erin@example.com", email_verified: true, pifog_role: ["staff", "viewer", "admin"] },
  { id: "carol", email: "carol@example.com", email_verified: true },
  { id: "dave", email: "dave@example.com", email_verified: false },
  { id: "mallory", email: "mallory@example.com", email_verified: true, pifog_role: "superuser" },
];

interface AuditLine {
  event: string;
  who?: string;
  reason: string;
  status?: number;
}

describe("OpenID Connect sign-in in Chromium (a real provider, a real runtime)", function () {
  this.timeout(60_000);
  let provider: TestProvider;
  let runtime: TestRuntime;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let http: string;

  before(async function () {
    const port = await freePort();
    http = `http://127.0.0.1:${port}`;
    provider = await startOidcProvider({
      clients: [{ client_id: "pifog", client_secret: SECRET, redirect_uris: [`${http}/signin/oidc/callback`] }],
      accounts: ACCOUNTS,
    });
    runtime = await startRuntime({
      env: {
        PIFOG_HTTP_PORT: String(port),
        PIFOG_OIDC_ISSUER: provider.issuer,
        PIFOG_OIDC_CLIENT_ID: "pifog",
        PIFOG_OIDC_CLIENT_SECRET: SECRET,
        PIFOG_OIDC_ROLE_CLAIM: "pifog_role",
        PIFOG_OIDC_ALLOW: "carol@example.com=viewer,dave@example.com=admin",
      },
    });
    assert.equal(runtime.info.http, http, "the runtime listens where the provider sends people back");
    browser = await launchChromium();
  });

  after(async function () {
    await browser?.close();
    await runtime?.stop();
    await provider?.close();
  });

  beforeEach(async function () {
    provider.idTokenTtlSeconds = 3600;
    provider.rewriteIdToken = null;
    provider.holdRedirectBack = false;
    // a browser of its own each time: no session at the provider or here
    context = await browser.newContext();
    page = await context.newPage();
  });

  afterEach(async function () {
    await context?.close();
  });

  /** Goes to /signin/oidc, signs in at the provider as `login`; resolves with PiFog's answer to the callback. */
  async function signInAs(login: string, next = "/ui/") {
    await page.goto(`${http}/signin/oidc?next=${encodeURIComponent(next)}`);
    await page.waitForSelector("input[name=login]");
    assert.ok(page.url().startsWith(provider.issuer), `the browser is at the provider's sign-in page, not ${page.url()}`);
    await page.fill("input[name=login]", login);
    const callback = page.waitForResponse((r) => r.url().startsWith(`${http}/signin/oidc/callback`));
    await page.click("button[type=submit]");
    return callback;
  }

  /** Signs in at the provider as `login` with the provider holding its redirect back: the callback URL. */
  async function callbackUrlFor(login: string): Promise<string> {
    provider.holdRedirectBack = true;
    await page.goto(`${http}/signin/oidc?next=/ui/`);
    await page.fill("input[name=login]", login);
    await page.click("button[type=submit]");
    await page.waitForSelector("#back");
    return (await page.getAttribute("#back", "href"))!;
  }

  async function sessionCookie(): Promise<string | undefined> {
    return (await context.cookies(http)).find((c) => c.name === "pifog_session")?.value;
  }

  async function whoami(cookie: string | undefined): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${http}/signin/oidc/whoami`, { headers: cookie ? { cookie: `pifog_session=${cookie}` } : {} });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  function audit(): AuditLine[] {
    const file = path.join(runtime.dataDir, "audit.jsonl");
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as AuditLine) : [];
  }

  async function refusalPage(): Promise<{ title: string; why: string }> {
    await page.waitForSelector("#title");
    return { title: (await page.textContent("#title")) ?? "", why: (await page.textContent("#why")) ?? "" };
  }

  it("a person whose role claim says operator lands on the dashboard signed in as an operator", async function () {
    const callback = await signInAs("alice", "/ui/#!/0");
    assert.equal(callback.status(), 303);
    await page.waitForURL((u) => u.pathname.startsWith("/ui/"));
    const cookies = await context.cookies(http);
    const session = cookies.find((c) => c.name === "pifog_session");
    assert.ok(session, "the session cookie is set");
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, "Strict");
    const me = await whoami(session.value);
    assert.equal(me.status, 200);
    assert.deepEqual([me.body.name, me.body.role, me.body.via], ["alice@example.com", "operator", "oidc"]);
    const browserCookie = (await context.cookies(`${http}/signin/oidc/callback`)).find((c) => c.name === "pifog_oidc");
    assert.equal(browserCookie?.sameSite, "Lax", "the sign-in's own cookie rides on the provider's redirect back");
    assert.equal(browserCookie?.path, "/signin/oidc");
  });

  it("a role claim listing several roles among other groups gives the highest", async function () {
    assert.equal((await signInAs("erin")).status(), 303);
    const me = await whoami(await sessionCookie());
    assert.deepEqual([me.body.name, me.body.role], ["erin@example.com", "admin"]);
  });

  it("a person on the allow list gets the role the list gives", async function () {
    assert.equal((await signInAs("carol")).status(), 303);
    const me = await whoami(await sessionCookie());
    assert.deepEqual([me.body.name, me.body.role], ["carol@example.com", "viewer"]);
  });

  it("a person the provider knows but this PiFog does not allow sees a refusal page, and it is audited", async function () {
    const callback = await signInAs("mallory");
    assert.equal(callback.status(), 403);
    const shown = await refusalPage();
    assert.equal(shown.title, "You are not allowed to use this PiFog");
    assert.match(shown.why, /mallory@example\.com .*not on the allow list.*pifog_role names no PiFog role/);
    assert.equal(await sessionCookie(), undefined, "nobody is signed in");
    const line = audit().find((l) => l.event === "oidc.refused" && l.who?.startsWith("mallory@example.com"));
    assert.ok(line, "the refusal is in the audit with the e-mail");
    assert.equal(line.status, 403);
  });

  it("an e-mail on the allow list that the provider has not verified is refused", async function () {
    assert.equal((await signInAs("dave")).status(), 403);
    assert.match((await refusalPage()).why, /dave@example\.com is on the allow list but the provider has not verified it/);
    assert.equal(await sessionCookie(), undefined);
  });

  it("an ID token issued for another client (wrong audience) is refused", async function () {
    provider.rewriteIdToken = (claims) => ({ ...claims, aud: "another-app" });
    const callback = await signInAs("alice");
    assert.equal(callback.status(), 401);
    const shown = await refusalPage();
    assert.equal(shown.title, "The sign-in provider's answer was not accepted");
    assert.match(shown.why, /"aud" \(audience\)/);
    assert.equal(await sessionCookie(), undefined);
    assert.ok(audit().some((l) => l.event === "oidc.refused" && /audience/.test(l.reason)), "audited");
  });

  it("an expired ID token is refused", async function () {
    // what a provider whose clock is a few minutes behind sends: expired by PiFog's clock, beyond its tolerance
    provider.idTokenTtlSeconds = -120;
    const callback = await signInAs("alice");
    assert.equal(callback.status(), 401);
    assert.match((await refusalPage()).why, /"exp" \(expiration time\).*expiration is past/);
    assert.equal(await sessionCookie(), undefined);
  });

  it("a callback with an altered state is refused, and the real one still works once", async function () {
    // the provider's redirect back is held, so the person can try an altered copy of it first
    const real = await callbackUrlFor("alice");
    assert.match(real, /[?&]state=/);
    const url = new URL(real);
    const state = url.searchParams.get("state")!;
    url.searchParams.set("state", `${state.slice(0, -1)}${state.endsWith("A") ? "B" : "A"}`);
    const tampered = await page.goto(url.href);
    assert.equal(tampered?.status(), 400);
    const shown = await refusalPage();
    assert.equal(shown.title, "This sign-in link is not valid");
    assert.match(shown.why, /state is unknown/);
    assert.ok(audit().some((l) => l.event === "oidc.refused" && l.status === 400 && /state is unknown/.test(l.reason)), "audited");
    assert.equal(await sessionCookie(), undefined);

    const genuine = page.waitForResponse((r) => r.url() === real);
    await page.goto(real);
    assert.equal((await genuine).status(), 303);
    assert.equal((await whoami(await sessionCookie())).body.role, "operator");
  });

  it("a callback used once is refused the second time", async function () {
    const first = await signInAs("alice");
    assert.equal(first.status(), 303);
    const session = await sessionCookie();
    const again = await page.goto(first.url());
    assert.equal(again?.status(), 400);
    assert.match((await refusalPage()).why, /already used/);
    assert.equal(await sessionCookie(), session, "no second session");
  });

  it("a callback opened in another browser than the one that started the sign-in is refused", async function () {
    const real = await callbackUrlFor("alice");
    const other = await browser.newContext();
    try {
      const otherPage = await other.newPage();
      const res = await otherPage.goto(real);
      assert.equal(res?.status(), 400);
      assert.match((await otherPage.textContent("#why")) ?? "", /started in another browser/);
      assert.equal((await other.cookies(http)).find((c) => c.name === "pifog_session"), undefined);
    } finally {
      await other.close();
    }
  });

  it("a `next` pointing at another site is ignored: the person lands on this PiFog's dashboard", async function () {
    const callback = await signInAs("alice", "//evil.example/steal");
    assert.equal(callback.status(), 303);
    assert.equal(callback.headers()["location"], "/ui/");
  });
});
