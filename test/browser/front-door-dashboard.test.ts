// The Front door tab as its users see it, and the admins' Users and Devices tabs: the real all-in-one runtime
// (simulated CameraPi, ButtonPi, forwarder and face writer) and a real Chromium (Debian's, driven by playwright-core),
// each browser signed in as one of the test people (their session cookie). Anyone sees the door camera's latest still
// with a box on each face and the faces stored; a viewer's buttons are off and they have no Users or Devices tab; an
// operator takes a picture and opens the door, named in the door's record; an admin adds a user on the Users tab,
// who can then log in.
// Set PIFOG_SCREENSHOTS=<dir> to keep screenshots; a failing test always leaves one in the tmp dir.
import assert from "node:assert/strict";
import { DoorAudit } from "../../nodes/lib/door-audit";
import { listUsers } from "../../nodes/lib/identity/admin";
import {
  fogWithBrowser,
  keepScreenshot,
  onePageStory,
  openPage,
  openTab,
  reportFailure,
  TITLE,
  UI_TIMEOUT,
  waitForText,
  waitUntilWhole,
  type BrowserPage,
} from "../support/browser";
import { TestClient } from "../support/mqtt";
import { until } from "../support/until";

const CAMERA = "camerapi";

describe("Front door tab in Chromium (role all, simulated camera and door opener)", function () {
  this.timeout(60_000);
  const fog = fogWithBrowser();
  const ui = onePageStory("front-door", { width: 1100, height: 1000 }, fog, "operator");

  /** The names of the tabs in the dashboard's menu. */
  const menuTabs = async (page: BrowserPage["page"]): Promise<string[]> => {
    await page.click("#nr-dashboard-toolbar button[aria-label='menu button']");
    await page.waitForSelector("md-sidenav button[aria-label='Doors']", { timeout: UI_TIMEOUT });
    const names = await page.$$eval("md-sidenav button[aria-label]", (els) => els.map((e) => e.getAttribute("aria-label") ?? ""));
    await page.keyboard.press("Escape");
    return names;
  };

  describe("a viewer", () => {
    let viewer: BrowserPage | undefined;
    afterEach(async function () {
      await reportFailure(this.currentTest, viewer?.page, "front-door-viewer", fog.runtime);
    });
    after(async () => {
      await viewer?.context.close().catch(() => undefined);
    });

    it("sees the Front door's buttons off, is told who may use them, and has no Users or Devices tab", async () => {
      viewer = await openPage(fog.browser, { width: 1100, height: 1000 }, { runtime: fog.runtime, role: "viewer" });
      const page = viewer.page;
      await page.goto(fog.runtime.info.dashboard);
      await waitForText(page, TITLE, "Doors");
      await openTab(page, "Front door");
      await waitForText(page, "#pf-ops-who", "Signed in as pat-viewer (viewer)");
      assert.equal(await page.isDisabled("#pf-take-picture"), true);
      assert.equal(await page.isDisabled("#pf-open-door"), true);
      await waitForText(page, "#pf-ops-note", /Only operators and admins may/);
      const tabs = await menuTabs(page);
      assert.ok(tabs.includes("Front door"), `the menu: ${tabs.join(", ")}`);
      assert.ok(!tabs.includes("Users") && !tabs.includes("Devices"), `no admin tab for a viewer: ${tabs.join(", ")}`);
      await keepScreenshot(page, "front-door-viewer");
      assert.deepEqual(viewer.pageErrors, []);
    });
  });

  describe("an operator", () => {
    it("Simulator tab: puts a visitor in front of the simulated door camera", async () => {
      await ui.page.goto(fog.runtime.info.dashboard);
      await waitForText(ui.page, TITLE, "Doors");
      await openTab(ui.page, "Simulator");
      await ui.page.click(`#pf-scene-${CAMERA}-empty`);
      await waitForText(ui.page, `#pf-scene-${CAMERA}`, /^camera sees: empty-/);
      await ui.page.click(`#pf-scene-${CAMERA}-visitor`);
      await waitForText(ui.page, `#pf-scene-${CAMERA}`, /^camera sees: visitor-/);
    });

    it("sees who is signed in and the buttons on, with no sign-in form", async () => {
      await openTab(ui.page, "Front door");
      await waitForText(ui.page, "#pf-ops-who", "Signed in as pat-operator (operator)");
      assert.equal(await ui.page.isDisabled("#pf-take-picture"), false);
      assert.equal(await ui.page.isDisabled("#pf-open-door"), false);
      assert.equal(await ui.page.$("input[type=password]"), null, "no password asked for");
    });

    it("take picture: the still shows with a box on the visitor's face, and the stored face appears", async () => {
      await ui.page.click("#pf-take-picture");
      await ui.page.waitForSelector("#pf-front-snapshot", { timeout: 30_000 });
      await ui.page.waitForSelector("rect.pf-face-box", { timeout: 30_000, state: "attached" });
      await waitForText(ui.page, "#pf-front-frame-meta", /camerapi · .* · 1 face\(s\) · \d+%/);
      const box = await ui.page.evaluate(() => {
        const img = document.querySelector<HTMLImageElement>("#pf-front-snapshot")!.getBoundingClientRect();
        const rect = document.querySelector<SVGRectElement>("rect.pf-face-box")!.getBoundingClientRect();
        return { img: { x: img.x, y: img.y, w: img.width, h: img.height }, rect: { x: rect.x, y: rect.y, w: rect.width, h: rect.height } };
      });
      assert.ok(box.rect.w > 10 && box.rect.h > 10, `the face box is drawn: ${JSON.stringify(box)}`);
      assert.ok(
        box.rect.x >= box.img.x && box.rect.y >= box.img.y && box.rect.x + box.rect.w <= box.img.x + box.img.w + 1 && box.rect.y + box.rect.h <= box.img.y + box.img.h + 1,
        `the box lies on the picture: ${JSON.stringify(box)}`,
      );
      await ui.page.waitForSelector("#pf-front-faces figure img", { timeout: 30_000 });
      await waitUntilWhole(ui.page, "#pf-front");
      await keepScreenshot(ui.page, "front-door-visitor");
      assert.deepEqual(ui.pageErrors, []);
    });

    it("open door: the door opens for 5 s, the tab says so, and the audit names the signed-in operator", async () => {
      await ui.page.click("#pf-open-door");
      await waitForText(ui.page, "#pf-front-door", /^Opened for 5 s by dashboard:pat-operator/, 20_000);
      const audit = new DoorAudit(fog.runtime.dataDir).read().filter((r) => r.result === "opened");
      assert.equal(audit.length, 1);
      // the door opener names the hub's MQTT client as the sender, and the operator as the hub's claim
      assert.equal(audit[0]!.claimedBy, "dashboard:pat-operator");
      assert.match(audit[0]!.by ?? "", /^mqtt:\S+$/);
      assert.deepEqual(ui.pageErrors, []);
    });
  });

  describe("an admin", () => {
    let admin: BrowserPage | undefined;
    afterEach(async function () {
      await reportFailure(this.currentTest, admin?.page, "front-door-admin", fog.runtime);
    });
    after(async () => {
      await admin?.context.close().catch(() => undefined);
    });

    it("adds a user on the Users tab, who can then log in with that password", async () => {
      admin = await openPage(fog.browser, { width: 1100, height: 1000 }, { runtime: fog.runtime, role: "admin" });
      const page = admin.page;
      await page.goto(fog.runtime.info.dashboard);
      await waitForText(page, TITLE, "Doors");
      await openTab(page, "Users");
      await page.waitForSelector("#pf-user-pat-viewer", { timeout: UI_TIMEOUT });
      await page.fill("#pf-user-add-name", "sam");
      await page.selectOption("#pf-user-add-role", "operator");
      await page.fill("#pf-user-add-password", "sam-door-password");
      await page.click("#pf-user-add-button");
      await waitForText(page, "#pf-users-message", "added sam (operator)");
      await page.waitForSelector("#pf-user-sam", { timeout: UI_TIMEOUT });
      assert.equal(listUsers(fog.runtime.dataDir).find((u) => u.name === "sam")?.role, "operator", "in the user store");
      // the runtime's identity store reloads the changed file and its broker then logs sam in with that password
      const canLogIn = async () => {
        try {
          await (await TestClient.connect(fog.runtime.info.mqtt, { username: "sam", password: "sam-door-password" })).end();
          return true;
        } catch {
          return false;
        }
      };
      await until(canLogIn, "sam logging in to the runtime's broker", 15_000);
      await keepScreenshot(page, "users-tab");

      await openTab(page, "Devices");
      await waitForText(page, "#pf-devices-admin", /Pairing is unavailable|Hub CA fingerprint/);
      assert.deepEqual(admin.pageErrors, []);
    });
  });
});
