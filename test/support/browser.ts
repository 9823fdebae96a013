// What the browser tests share: Debian's Chromium (driven by playwright-core; never downloaded), the page helpers
// that wait for what a user would see, and a fresh page per test that leaves a screenshot when the test fails.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { TestClient } from "./mqtt";
import type { UserRole } from "../../nodes/lib/identity/types";
import { SESSION_COOKIE } from "../../nodes/lib/security/web-sessions";
import { MQTT_ADMIN, startRuntime, type TestRuntime } from "./runtime";

export const CHROMIUM = "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** How long the page may take to show something: the dashboard loads, connects (socket.io polling first), renders. */
export const UI_TIMEOUT = 15_000;
/** The title of the dashboard tab on show. */
export const TITLE = "#nr-dashboard-toolbar h1[node-id]:not(.ng-hide)";

/** Starts Debian's Chromium, or fails saying what is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM}. The dashboard tests need Debian's chromium package ` +
        `(apt-get install chromium); playwright-core is only the driver and no browser is downloaded.`,
    );
  }
  try {
    return await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  } catch (err) {
    throw new Error(`could not start ${CHROMIUM}: ${(err as Error).message}`);
  }
}

/** The text of the first element matching `selector`, whitespace collapsed, or null if there is none. */
export function textOf(page: Page, selector: string): Promise<string | null> {
  return page.evaluate((sel) => {
    const el = document.querySelector<HTMLElement>(sel);
    return el ? el.innerText.replace(/\s+/g, " ").trim() : null;
  }, selector);
}

/** Waits until the element is shown and its visible text (whitespace collapsed) is `expected`, or matches it if it
 * is a RegExp; fails saying what it was. */
export async function waitForText(page: Page, selector: string, expected: string | RegExp, timeout = UI_TIMEOUT): Promise<void> {
  const [source, flags] = typeof expected === "string" ? [null, ""] : [expected.source, expected.flags];
  try {
    await page.waitForFunction(
      ([sel, want, src, fl]) => {
        const el = document.querySelector<HTMLElement>(sel);
        if (!el || el.offsetParent === null) return false;
        const text = el.innerText.replace(/\s+/g, " ").trim();
        return src === null ? text === want : new RegExp(src, fl).test(text);
      },
      [selector, typeof expected === "string" ? expected : "", source, flags] as const,
      { timeout },
    );
  } catch {
    const wanted = typeof expected === "string" ? `show "${expected}"` : `match ${expected}`;
    assert.fail(`${selector} should ${wanted} within ${timeout} ms, but shows ${JSON.stringify(await textOf(page, selector))}`);
  }
}

/** To a tab through the menu, as a user goes, and waits for the menu to slide away. */
export async function openTab(page: Page, name: string): Promise<void> {
  await page.click("#nr-dashboard-toolbar button[aria-label='menu button']");
  await page.click(`md-sidenav button[aria-label='${name}']`);
  await waitForText(page, TITLE, name);
  await page.waitForFunction(
    () => Array.from(document.querySelectorAll("md-sidenav")).every((nav) => nav.getBoundingClientRect().right <= 0 || getComputedStyle(nav).visibility === "hidden"),
    undefined,
    { timeout: UI_TIMEOUT },
  );
}

/** Keeps a screenshot as <PIFOG_SCREENSHOTS>/pifog-<name>.png when that variable is set; else does nothing. */
export async function keepScreenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.PIFOG_SCREENSHOTS;
  if (dir) await page.screenshot({ path: path.join(dir, `pifog-${name}.png`), fullPage: true });
}

/** A browser context with one page, and the script errors that page has thrown so far. */
export interface BrowserPage {
  context: BrowserContext;
  page: Page;
  pageErrors: string[];
}

/** A page of a fresh browser context; with `signedIn`, the context carries that runtime's session cookie of a test
 * person (as if they had signed in): the dashboard refuses a browser without one. */
export async function openPage(browser: Browser, viewport: { width: number; height: number }, signedIn?: { runtime: TestRuntime; role: UserRole }): Promise<BrowserPage> {
  const context = await browser.newContext({ viewport });
  if (signedIn) await signIn(context, signedIn.runtime, signedIn.role);
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on("pageerror", (err) => pageErrors.push(err.message));
  return { context, page, pageErrors };
}

/** Gives a browser context the session cookie of the runtime's test person of `role`. */
export async function signIn(context: BrowserContext, runtime: TestRuntime, role: UserRole): Promise<void> {
  const value = runtime.cookies[role].slice(SESSION_COOKIE.length + 1);
  await context.clearCookies();
  await context.addCookies([{ name: SESSION_COOKIE, value, url: runtime.info.http, httpOnly: true, sameSite: "Strict" }]);
}

/** If `test` failed, leaves a screenshot of `page` in the tmp dir and prints the runtime's latest output. */
export async function reportFailure(test: Mocha.Test | undefined, page: Page | undefined, name: string, runtime: TestRuntime | undefined): Promise<void> {
  if (test?.state !== "failed" || !page) return;
  const file = path.join(os.tmpdir(), `pifog-${name}-failed-${test.title.replace(/\W+/g, "-").slice(0, 60)}.png`);
  await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
  console.log(`    screenshot: ${file}\n    runtime output (last 2000 characters):\n${runtime?.output().slice(-2000)}`);
}

/** The page (and its script errors) of whatever `current` holds, read inside tests only. */
function pageOf(current: () => BrowserPage | undefined): StoryPage {
  const now = () => {
    const c = current();
    if (!c) throw new Error("no page outside a test");
    return c;
  };
  return {
    get page() {
      return now().page;
    },
    get pageErrors() {
      return now().pageErrors;
    },
    get context() {
      return now().context;
    },
  };
}

/**
 * A fresh context and page for each test of the calling describe block (hooks registered here), closed after it,
 * with a screenshot and the runtime's output when the test failed; signed in as the test person of `role` (an
 * operator: the dashboard tests drive the simulators). Read `page` and `pageErrors` inside tests only.
 */
export function pagePerTest(
  name: string,
  viewport: { width: number; height: number },
  browser: () => Browser | undefined,
  runtime: () => TestRuntime | undefined,
  role: UserRole = "operator",
): StoryPage {
  let current: BrowserPage | undefined;
  beforeEach(async () => {
    current = await openPage(browser()!, viewport, { runtime: runtime()!, role });
  });
  afterEach(async function () {
    await reportFailure(this.currentTest, current?.page, name, runtime());
    await current?.context.close().catch(() => undefined);
    current = undefined;
  });
  return pageOf(() => current);
}

/** Waits until the group holding `selector` shows all of it: the dashboard sizes a template once, so a group
 * whose content grows must be laid out again, or its bottom is cut off behind a scroll bar. */
export async function waitUntilWhole(page: Page, selector: string): Promise<void> {
  try {
    await page.waitForFunction(
      (sel) => {
        const el = document.querySelector<HTMLElement>(sel);
        const card = el?.closest<HTMLElement>("md-card");
        const group = el?.closest<HTMLElement>("ui-card-panel");
        if (!el || !card || !group) return false;
        const inner = el.getBoundingClientRect(), box = group.getBoundingClientRect();
        return card.scrollHeight <= card.clientHeight + 1 && inner.bottom <= box.bottom + 1;
      },
      selector,
      { timeout: UI_TIMEOUT },
    );
  } catch {
    const sizes = await page.evaluate((sel) => {
      const el = document.querySelector<HTMLElement>(sel);
      const card = el?.closest<HTMLElement>("md-card");
      return { content: el?.getBoundingClientRect().height, card: card?.clientHeight, scroll: card?.scrollHeight };
    }, selector);
    assert.fail(`${selector} should be shown whole in its group: ${JSON.stringify(sizes)}`);
  }
}

/** What a describe block's browser tests share: the all-in-one runtime, an MQTT client on its broker, Chromium. */
export interface FogWithBrowser {
  readonly runtime: TestRuntime;
  readonly mqtt: TestClient;
  readonly browser: Browser;
}

/**
 * Starts the all-in-one fog, an MQTT client and Chromium before the calling describe block's tests (`prepare` runs
 * once the client is connected, before Chromium starts) and stops them after. Read the fields inside tests only.
 */
export function fogWithBrowser(prepare?: (fog: { runtime: TestRuntime; mqtt: TestClient }) => Promise<void>): FogWithBrowser {
  let runtime: TestRuntime | undefined;
  let mqtt: TestClient | undefined;
  let browser: Browser | undefined;
  before(async function () {
    this.timeout(60_000);
    runtime = await startRuntime({ role: "all" });
    mqtt = await TestClient.connect(runtime.info.mqtt, MQTT_ADMIN);
    await prepare?.({ runtime, mqtt });
    browser = await launchChromium();
  });
  after(async function () {
    this.timeout(30_000);
    await browser?.close().catch(() => undefined);
    await mqtt?.end().catch(() => undefined);
    await runtime?.stop();
  });
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`no ${what} outside a test`);
    return v;
  };
  return {
    get runtime() {
      return need(runtime, "runtime");
    },
    get mqtt() {
      return need(mqtt, "MQTT client");
    },
    get browser() {
      return need(browser, "browser");
    },
  };
}

/** The page of a story, its script errors and its browser context (its cookies: who is signed in). */
export interface StoryPage {
  readonly page: Page;
  readonly pageErrors: string[];
  readonly context: BrowserContext;
}

/**
 * One page for the calling describe block's whole story (what a user signs in to stays in its memory), opened after
 * `fogWithBrowser` started, with a screenshot and the runtime's output when a test fails. Read the fields inside tests.
 */
export function onePageStory(
  name: string,
  viewport: { width: number; height: number },
  fog: FogWithBrowser,
  role: UserRole = "operator",
): StoryPage {
  let current: BrowserPage | undefined;
  before(async () => {
    current = await openPage(fog.browser, viewport, { runtime: fog.runtime, role });
  });
  afterEach(async function () {
    await reportFailure(this.currentTest, current?.page, name, fog.runtime);
  });
  after(async () => {
    await current?.context.close().catch(() => undefined);
  });
  return pageOf(() => current);
}
