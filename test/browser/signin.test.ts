// Signing in to the dashboard in a real Chromium (Debian's /usr/bin/chromium via playwright-core) against the real
// runtime: sent to the sign-in page, a wrong password told so, the right one lands on the dashboard, sign-out and
// the dashboard wants a sign-in again, an expired session sends the browser back, and a lockout says how long to wait.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { WebSessions } from "../../nodes/lib/security/web-sessions";
import { launchChromium, openPage, reportFailure, TITLE, UI_TIMEOUT, waitForText, type BrowserPage } from "../support/browser";
import { ensureTestPeople, TEST_PEOPLE } from "../support/people";
import { startRuntime, type TestRuntime } from "../support/runtime";

const DAY_MS = 24 * 60 * 60_000;

describe("signing in to the dashboard in Chromium", function () {
  this.timeout(60_000);
  let fog: TestRuntime;
  let browser: Browser;
  let dataDir: string;
  let expiredCookie: string;
  let current: BrowserPage | undefined;

  before(async function () {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-signin-browser-"));
    // a session signed in two days ago that lasted a minute: the runtime reads it on start
    await ensureTestPeople(dataDir);
    const past = WebSessions.forDataDir(dataDir, { clock: { now: () => Date.now() - 2 * DAY_MS }, lifetimeMs: 60_000, roleOf: () => "viewer" });
    expiredCookie = past.start({ name: TEST_PEOPLE.viewer.name, role: "viewer", via: "password" }).setCookie.split(";")[0]!;
    fog = await startRuntime({ role: "hub", dataDir, env: { PIFOG_SIGNIN_ATTEMPTS: "3", PIFOG_SIGNIN_LOCK_SECONDS: "30" } });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close().catch(() => undefined);
    await fog?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    current = await openPage(browser, { width: 1000, height: 800 });
  });
  afterEach(async function () {
    await reportFailure(this.currentTest, current?.page, "signin", fog);
    await current?.context.close().catch(() => undefined);
  });

  const page = (): Page => current!.page;
  const pathOf = (p: Page) => {
    const u = new URL(p.url());
    return `${u.pathname}${u.search}`;
  };

  async function signIn(p: Page, name: string, password: string): Promise<void> {
    await p.fill("#username", name);
    await p.fill("#password", password);
    await Promise.all([p.waitForNavigation({ timeout: UI_TIMEOUT }), p.click("#signin-submit")]);
  }

  async function waitForDashboard(p: Page): Promise<void> {
    await p.waitForSelector(TITLE, { timeout: UI_TIMEOUT });
    assert.equal(new URL(p.url()).pathname, "/ui/");
  }

  it("sends a browser to the sign-in page, says a wrong password is wrong, and lands on the dashboard with the right one; sign-out locks it again", async () => {
    const p = page();
    await p.goto(fog.info.dashboard);
    assert.equal(pathOf(p), "/signin?next=%2Fui%2F");
    await waitForText(p, "h1", "Sign in to PiFog");

    await signIn(p, TEST_PEOPLE.viewer.name, "not my password");
    await waitForText(p, "#signin-error", "Wrong user name or password.");
    assert.equal(await p.inputValue("#username"), TEST_PEOPLE.viewer.name, "the name stays typed");

    await signIn(p, TEST_PEOPLE.viewer.name, TEST_PEOPLE.viewer.password);
    await waitForDashboard(p);
    const [cookie] = await current!.context.cookies();
    assert.equal(cookie?.name, "pifog_session");
    assert.equal(cookie?.httpOnly, true);
    assert.equal(cookie?.sameSite, "Strict");
    assert.ok(cookie!.expires > Date.now() / 1000, "it expires");

    await p.goto(`${fog.info.http}/signout`);
    await waitForText(p, "p.note", `You are signed in as ${TEST_PEOPLE.viewer.name} (viewer).`);
    await Promise.all([p.waitForNavigation({ timeout: UI_TIMEOUT }), p.click("#signout-submit")]);
    assert.equal(pathOf(p), "/signin");
    assert.deepEqual(await current!.context.cookies(), [], "the cookie is gone");
    await p.goto(fog.info.dashboard);
    assert.equal(pathOf(p), "/signin?next=%2Fui%2F", "the dashboard wants a sign-in again");
  });

  it("sends a browser whose session expired back to the sign-in page", async () => {
    const [name, value] = expiredCookie.split("=") as [string, string];
    await current!.context.addCookies([{ name, value, url: fog.info.http, httpOnly: true, sameSite: "Strict" }]);
    const p = page();
    await p.goto(fog.info.dashboard);
    assert.equal(pathOf(p), "/signin?next=%2Fui%2F");
    await signIn(p, TEST_PEOPLE.viewer.name, TEST_PEOPLE.viewer.password);
    await waitForDashboard(p);
  });

  it("locks the name after 3 wrong passwords and says how long to wait, the right password too", async () => {
    const p = page();
    await p.goto(`${fog.info.http}/signin`);
    const who = TEST_PEOPLE.operator;
    for (let i = 0; i < 3; i++) {
      await signIn(p, who.name, `wrong ${i}`);
      await waitForText(p, "#signin-error", "Wrong user name or password.");
    }
    await signIn(p, who.name, who.password);
    await waitForText(p, "#signin-error", /^Too many wrong passwords for this user name from this address: try again in (29|30) s\.$/);
    assert.equal(new URL(p.url()).pathname, "/signin");
    assert.deepEqual(await current!.context.cookies(), [], "not signed in");
  });
});
