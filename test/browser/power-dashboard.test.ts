// The Power tab as its users see it: the real runtime (role all: the simulated power Pi and the power hub) and a
// real Chromium (Debian's /usr/bin/chromium, driven by playwright-core; never downloaded). The owner unlocks
// "Owner setup" with the editor's password, makes an account and attaches the power Pi; the account's user logs
// in and changes where the e-mails go; the mains go off and the card says so.
// Set PIFOG_SCREENSHOTS=<dir> to keep screenshots; a failing test always leaves one in the tmp dir.
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { jwtSecret, signToken } from "../../nodes/lib/accounts/jwt";
import { AccountStore } from "../../nodes/lib/accounts/store";
import { powerTopics, topics, type PowerState } from "../../nodes/lib/contract";
import { fogWithBrowser, keepScreenshot, onePageStory, openTab, TITLE, UI_TIMEOUT, waitForText, waitUntilWhole } from "../support/browser";

const POWERPI = "powerpi";
const ADMIN_PASSWORD = "test-admin-password";
const USER = "sam@example.com";
const USER_PASSWORD = "correct horse";

async function waitForGone(page: Page, selector: string): Promise<void> {
  await page.waitForSelector(selector, { state: "detached", timeout: UI_TIMEOUT });
}

/** Chooses the option whose text starts with `prefix` (Angular's option values are its own). */
async function choose(page: Page, selector: string, prefix: string): Promise<void> {
  await page.waitForFunction(
    ([sel, p]) => Array.from(document.querySelectorAll<HTMLOptionElement>(`${sel} option`)).some((o) => o.text.trim().startsWith(p)),
    [selector, prefix] as const,
    { timeout: UI_TIMEOUT },
  );
  const value = await page.evaluate(
    ([sel, p]) => Array.from(document.querySelectorAll<HTMLOptionElement>(`${sel} option`)).find((o) => o.text.trim().startsWith(p))!.value,
    [selector, prefix] as const,
  );
  await page.selectOption(selector, value);
}

describe("Power tab in Chromium (role all, simulated power Pi)", function () {
  this.timeout(60_000);
  const fog = fogWithBrowser(async ({ mqtt }) => {
    await mqtt.subscribe(powerTopics.state(POWERPI));
    const first = mqtt.json<PowerState>(await mqtt.waitFor(powerTopics.state(POWERPI)));
    assert.equal(first.mains, "on", "the simulated mains start on");
  });
  // one page for the whole story: the logins live in its memory
  const ui = onePageStory("power", { width: 1000, height: 900 }, fog);

  function inStore<T>(fn: (store: AccountStore) => T): T {
    const store = new AccountStore(fog.runtime.dataDir);
    let result: T;
    try {
      result = fn(store);
    } catch (err) {
      store.close();
      throw err;
    }
    // password checks and hashing are asynchronous: the store stays open until they are done
    if (result instanceof Promise) return result.finally(() => store.close()) as T;
    store.close();
    return result;
  }

  async function screenshot(name: string): Promise<void> {
    await keepScreenshot(ui.page, `power-${name}`);
  }

  it("shows the simulated power Pi's card, and logins instead of anyone's e-mails", async () => {
    await ui.page.goto(fog.runtime.info.dashboard);
    await waitForText(ui.page, TITLE, "Doors");
    await openTab(ui.page, "Power");
    await waitForText(ui.page, `#pf-power-state-${POWERPI}`, "On");
    await waitForText(ui.page, `#pf-power-${POWERPI} h4`, POWERPI);
    // nothing about any account is shown before a login
    assert.ok(await ui.page.isVisible("#pf-login-username"));
    assert.ok(await ui.page.isVisible("#pf-owner-password"));
    assert.equal(await ui.page.isVisible("#pf-emails"), false);
    await screenshot("locked");
    assert.deepEqual(ui.pageErrors, []);
  });

  it("owner setup: a wrong editor password is refused; the right one makes an account and attaches the power Pi", async () => {
    await ui.page.fill("#pf-owner-password", "not the password");
    await ui.page.click("#pf-owner-unlock");
    await waitForText(ui.page, "#pf-owner-error", /^Wrong password/);
    assert.equal(await ui.page.isVisible("#pf-owner-panel"), false);

    await ui.page.fill("#pf-owner-password", ADMIN_PASSWORD);
    await ui.page.click("#pf-owner-unlock");
    await waitForText(ui.page, "#pf-owner-accounts", /No account yet/);

    await ui.page.fill("#pf-new-username", USER);
    await ui.page.fill("#pf-new-password", USER_PASSWORD);
    await ui.page.fill("#pf-new-emails", "sam@example.com");
    await ui.page.click("#pf-new-submit");
    await waitForText(ui.page, "#pf-new-done", `Made account ${USER}.`);
    await waitForText(ui.page, "#pf-owner-account-0", `${USER} sam@example.com none`);

    // the same username again: refused, and said so
    await ui.page.fill("#pf-new-username", USER);
    await ui.page.fill("#pf-new-password", "another password");
    await ui.page.click("#pf-new-submit");
    await waitForText(ui.page, "#pf-new-error", /^Not made: username sam@example\.com is taken/);
    await ui.page.fill("#pf-new-username", "");
    await ui.page.fill("#pf-new-password", "");

    await choose(ui.page, "#pf-attach-device", POWERPI);
    await choose(ui.page, "#pf-attach-account", USER);
    await ui.page.fill("#pf-attach-name", "Cellar freezer");
    await ui.page.click("#pf-attach-submit");
    await waitForText(ui.page, "#pf-attach-done", `Attached ${POWERPI} to ${USER}.`);
    await waitForText(ui.page, "#pf-owner-account-0", `${USER} sam@example.com Cellar freezer (${POWERPI})`);
    // the store has it, and the card takes the device's new name at once (no 5-minute wait)
    assert.deepEqual(inStore((s) => s.devicesOf(s.accountByUsername(USER)!.id).map((d) => [d.id, d.name])), [[POWERPI, "Cellar freezer"]]);
    assert.deepEqual(inStore((s) => s.recipients(POWERPI)), ["sam@example.com"]);
    await waitForText(ui.page, `#pf-power-${POWERPI} h4`, `Cellar freezer ${POWERPI}`);
    await waitUntilWhole(ui.page, "#pf-owner");
    await screenshot("owner");
    assert.deepEqual(ui.pageErrors, []);
  });

  it("an account made elsewhere (the CLI) shows when the Power tab is opened again, still unlocked", async () => {
    await inStore((s) => s.createAccount("kim@example.com", "kims password", ["kim@example.com"]));
    await openTab(ui.page, "Doors");
    await openTab(ui.page, "Power");
    await waitForText(ui.page, "#pf-owner-account-0", /^kim@example\.com kim@example\.com none$/);
    await waitForText(ui.page, "#pf-owner-account-1", /^sam@example\.com /);
  });

  it("the account's user: a wrong password is refused; logged in, changes the e-mails and the store has them", async () => {
    await ui.page.fill("#pf-login-username", USER);
    await ui.page.fill("#pf-login-password", "wrong horse");
    await ui.page.click("#pf-login-submit");
    await waitForText(ui.page, "#pf-login-error", "Wrong username or password.");
    assert.equal(await ui.page.isVisible("#pf-emails"), false);

    await ui.page.fill("#pf-login-password", USER_PASSWORD);
    await ui.page.click("#pf-login-submit");
    await waitForText(ui.page, "#pf-account-name", USER);
    await waitForText(ui.page, `#pf-account-device-${POWERPI}`, `Cellar freezer · ${POWERPI} On`);
    assert.equal(await ui.page.inputValue("#pf-emails"), "sam@example.com");

    await ui.page.fill("#pf-emails", "sam@example.com\nalex@example.org");
    await ui.page.click("#pf-emails-save");
    await waitForText(ui.page, "#pf-emails-saved", "Saved");
    assert.deepEqual(inStore((s) => s.accountByUsername(USER)!.emails), ["sam@example.com", "alex@example.org"]);
    assert.deepEqual(inStore((s) => s.recipients(POWERPI)), ["sam@example.com", "alex@example.org"]);

    // not an address: said so, nothing sent
    await ui.page.fill("#pf-emails", "sam@example.com\nnot-an-address");
    await ui.page.click("#pf-emails-save");
    await waitForText(ui.page, "#pf-emails-error", "Not an e-mail address: not-an-address");
    assert.deepEqual(inStore((s) => s.accountByUsername(USER)!.emails), ["sam@example.com", "alex@example.org"]);
    await ui.page.fill("#pf-emails", "sam@example.com\nalex@example.org");
    await waitUntilWhole(ui.page, "#pf-mail");
    await screenshot("emails");
    assert.deepEqual(ui.pageErrors, []);
  });

  it("an expired login asks to log in again, and the edit is saved after it", async () => {
    // the hub's own secret, a token that ran out an hour ago: as if the page had been left open
    const accountId = inStore((s) => s.accountByUsername(USER)!.id);
    const expired = signToken(accountId, jwtSecret(fog.runtime.dataDir), Date.now() - 3 * 3_600_000);
    await ui.page.evaluate((token) => {
      (window as unknown as { pifogPowerLogins: { account: { token: string } } }).pifogPowerLogins.account.token = token;
    }, expired);
    await ui.page.fill("#pf-emails", "sam@example.com\nsam@example.net");
    await ui.page.click("#pf-emails-save");
    await waitForText(ui.page, "#pf-login-error", "Your login has expired: please log in again.");
    assert.equal(await ui.page.inputValue("#pf-login-username"), USER);
    assert.deepEqual(inStore((s) => s.accountByUsername(USER)!.emails), ["sam@example.com", "alex@example.org"]);
    await screenshot("expired");

    await ui.page.fill("#pf-login-password", USER_PASSWORD);
    await ui.page.click("#pf-login-submit");
    await waitForText(ui.page, "#pf-account-name", USER);
    assert.equal(await ui.page.inputValue("#pf-emails"), "sam@example.com\nsam@example.net", "the edit was kept");
    await ui.page.click("#pf-emails-save");
    await waitForText(ui.page, "#pf-emails-saved", "Saved");
    assert.deepEqual(inStore((s) => s.accountByUsername(USER)!.emails), ["sam@example.com", "sam@example.net"]);
  });

  it("the mains go off (simulated, over MQTT): the card turns to Off", async () => {
    const off = fog.mqtt.waitFor(powerTopics.state(POWERPI), (m) => fog.mqtt.json<PowerState>(m).mains === "off", 10_000, false);
    await fog.mqtt.publish(topics.simSet(POWERPI, "mains"), "off");
    await off;
    await waitForText(ui.page, `#pf-power-state-${POWERPI}`, "Off");
    await waitForText(ui.page, `#pf-power-lost-${POWERPI}`, /^Lost power /);
    // the class changes on the next animation frame, after the text
    await ui.page.waitForFunction((sel) => getComputedStyle(document.querySelector(sel)!).backgroundColor === "rgb(198, 40, 40)", `#pf-power-${POWERPI}`, { timeout: UI_TIMEOUT });
    // and the logged-in user's device list says so too
    await waitForText(ui.page, `#pf-account-device-${POWERPI}`, `Cellar freezer · ${POWERPI} Off`);
    await screenshot("off");

    // locking ends the editor token on the hub as well
    const token = await ui.page.evaluate(() => (window as unknown as { pifogPowerLogins: { owner: { token: string } } }).pifogPowerLogins.owner.token);
    await ui.page.click("#pf-owner-lock");
    await waitForText(ui.page, "#pf-owner-login", /Unlock with the Node-RED editor's admin password/);
    await ui.page.waitForFunction(
      async ([url, t]) => (await fetch(url, { headers: { authorization: `Bearer ${t}` } })).status === 401,
      [`/admin/pifog/accounts`, token] as const,
      { timeout: UI_TIMEOUT },
    );
    await ui.page.click("#pf-logout");
    await waitForGone(ui.page, "#pf-emails");
    assert.deepEqual(ui.pageErrors, [], "no script errors on the ui.page");
  });

  it("a device the hub knows before its first power report gets a card that says so, and the others keep theirs", async () => {
    const device = `garage-${process.pid}`;
    await fog.mqtt.publish(powerTopics.connection(device), JSON.stringify({ device, status: "connected", updated: new Date().toISOString() }), { retain: true });
    await waitForText(ui.page, `#pf-power-state-${device}`, "Not heard from yet");
    await waitForText(ui.page, `#pf-power-${device} .pf-pdesc`, /has not reported its power yet/);
    assert.equal(await ui.page.isVisible(`#pf-power-battery-${device}`), false);
    await waitForText(ui.page, `#pf-power-state-${POWERPI}`, "Off");
    await screenshot("unreported");
    // the retained connection cleared: the hub knows nothing of it any more, and its card goes
    await fog.mqtt.publish(powerTopics.connection(device), "", { retain: true });
    await waitForGone(ui.page, `#pf-power-${device}`);
    assert.deepEqual(ui.pageErrors, [], "no script errors on the ui.page");
  });
});
