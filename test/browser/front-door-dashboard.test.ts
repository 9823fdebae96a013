// The Front door tab as its users see it: the real all-in-one runtime (simulated CameraPi, ButtonPi, forwarder and
// face writer) and a real Chromium (Debian's, driven by playwright-core). Anyone sees the door camera's latest
// still with a box on each face and the faces stored; only the operator (its own password, not the editor's) can take a picture or
// open the door, and the door's answer shows.
// Set PIFOG_SCREENSHOTS=<dir> to keep screenshots; a failing test always leaves one in the tmp dir.
import assert from "node:assert/strict";
import { DoorAudit } from "../../nodes/lib/door-audit";
import { fogWithBrowser, keepScreenshot, onePageStory, openTab, TITLE, UI_TIMEOUT, waitForText, waitUntilWhole } from "../support/browser";

const CAMERA = "camerapi";
const ADMIN_PASSWORD = "test-admin-password";
const OPERATOR_PASSWORD = "test-operator-password";

describe("Front door tab in Chromium (role all, simulated camera and door opener)", function () {
  this.timeout(60_000);
  const fog = fogWithBrowser();
  const ui = onePageStory("front-door", { width: 1100, height: 1000 }, fog);

  it("Simulator tab: anyone can put a visitor in front of the simulated door camera", async () => {
    await ui.page.goto(fog.runtime.info.dashboard);
    await waitForText(ui.page, TITLE, "Doors");
    await openTab(ui.page, "Simulator");
    await ui.page.click(`#pf-scene-${CAMERA}-empty`);
    await waitForText(ui.page, `#pf-scene-${CAMERA}`, /^camera sees: empty-/);
    await ui.page.click(`#pf-scene-${CAMERA}-visitor`);
    await waitForText(ui.page, `#pf-scene-${CAMERA}`, /^camera sees: visitor-/);
  });

  it("before signing in, the buttons are off and say who may use them", async () => {
    await openTab(ui.page, "Front door");
    await ui.page.waitForSelector("#pf-take-picture", { timeout: UI_TIMEOUT });
    assert.equal(await ui.page.isDisabled("#pf-take-picture"), true);
    assert.equal(await ui.page.isDisabled("#pf-open-door"), true);
    await waitForText(ui.page, ".pf-ops .pf-who", /Only the operator may/);
  });

  it("the editor's admin login is refused; the operator signs in with its own password", async () => {
    // the editor's password is never asked for on a page any browser can load, so here it is just a wrong password
    await ui.page.fill("#pf-ops-user", "admin");
    await ui.page.fill("#pf-ops-pass", ADMIN_PASSWORD);
    await ui.page.click("#pf-ops-sign-in-button");
    await waitForText(ui.page, "#pf-ops-error", /wrong user name or password/);
    assert.equal(await ui.page.isDisabled("#pf-open-door"), true);

    await ui.page.fill("#pf-ops-user", "operator");
    await ui.page.fill("#pf-ops-pass", OPERATOR_PASSWORD);
    await ui.page.click("#pf-ops-sign-in-button");
    await waitForText(ui.page, "#pf-ops-who", "Operator: operator");
    assert.equal(await ui.page.isDisabled("#pf-open-door"), false);
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

  it("open door: the door opens for 5 s, the tab says so, and the audit names the operator", async () => {
    await ui.page.click("#pf-open-door");
    await waitForText(ui.page, "#pf-front-door", /^Opened for 5 s by dashboard:operator/, 20_000);
    const audit = new DoorAudit(fog.runtime.dataDir).read().filter((r) => r.result === "opened");
    assert.equal(audit.length, 1);
    // the door opener names the hub's MQTT client as the sender, and the operator as the hub's claim
    assert.equal(audit[0]!.claimedBy, "dashboard:operator");
    assert.match(audit[0]!.by ?? "", /^mqtt:\S+$/);
  });

  it("signed out, the buttons are off again", async () => {
    await ui.page.click("#pf-ops-sign-out");
    await ui.page.waitForSelector("#pf-ops-user", { timeout: UI_TIMEOUT });
    assert.equal(await ui.page.isDisabled("#pf-open-door"), true);
    assert.deepEqual(ui.pageErrors, []);
  });
});
