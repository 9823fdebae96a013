// The Cameras tab's live view in a real Chromium, against the real all-in-one runtime: a signed-in viewer picks the
// camera, opens its live view and sees MOVING frames (two samples of the picture differ): the all-in-one's own
// simulated camera (its live-push node, as the device camerapi) streams once the hub asks, with its noise script on so
// that every frame differs; leaving the tab closes the view and the hub tells the camera to stop. A browser without a sign-in is refused (401) and the refusal audited.
// Set PIFOG_SCREENSHOTS=<dir> to keep screenshots; a failing test always leaves one in the tmp dir.
import assert from "node:assert/strict";
import { Audit } from "../../nodes/lib/audit/audit";
import { livePath } from "../../nodes/lib/camera/live-http";
import type { LiveControl } from "../../nodes/lib/camera/types";
import { skycamTopics, topics } from "../../nodes/lib/contract";
import { deviceBundleDir, readBundle } from "../../nodes/lib/identity/paths";
import { fogWithBrowser, keepScreenshot, onePageStory, openTab, TITLE, UI_TIMEOUT, waitForText, waitUntilWhole } from "../support/browser";
import { TestClient } from "../support/mqtt";
import { until } from "../support/until";

const CAMERA = "camerapi";

describe("Cameras tab: live video in Chromium (role all)", function () {
  this.timeout(90_000);
  const fog = fogWithBrowser();
  const ui = onePageStory("camera-live", { width: 1100, height: 1000 }, fog, "viewer");
  let camera: TestClient | undefined;
  const controls: LiveControl[] = [];

  before(async () => {
    // a second link of the camera Pi, as itself (the runtime's own has the plain client id; this one has a label):
    // it hears what the hub asks of the camera, and sets the simulated camera's script
    const bundle = readBundle(deviceBundleDir(fog.runtime.dataDir, CAMERA));
    assert.ok(bundle, "the all-in-one runtime enrolled its camera");
    camera = await TestClient.connect(fog.runtime.info.mqtts!, { clientId: `${CAMERA}:live-test`, cert: bundle.cert, key: bundle.key, ca: bundle.ca, rejectUnauthorized: true });
    camera.client.on("message", (topic, payload) => {
      if (topic === skycamTopics.liveControl(CAMERA) && payload.length) controls.push(JSON.parse(payload.toString()) as LiveControl);
    });
    await camera.subscribe(skycamTopics.liveControl(CAMERA));
    await camera.client.publishAsync(topics.simSet(CAMERA, "motion"), "noise", { qos: 1 });
  });
  after(async () => {
    await camera?.end();
  });

  it("refuses a browser that has not signed in (401), and audits it", async () => {
    const res = await fetch(`${fog.runtime.info.http}${livePath(CAMERA)}`);
    assert.equal(res.status, 401);
    await until(
      () => new Audit(fog.runtime.dataDir).read().some((r) => r.event === "api.refused" && r.status === 401 && String(r.path).startsWith(livePath(CAMERA))),
      "the refusal in the audit record",
      10_000,
    );
  });

  it("a viewer opens the camera's live view and sees moving frames", async () => {
    const { page, pageErrors } = ui;
    await page.goto(fog.runtime.info.dashboard);
    await waitForText(page, TITLE, "Doors");
    await openTab(page, "Cameras");
    await page.waitForSelector("#pf-live-camera", { timeout: UI_TIMEOUT });
    assert.equal(controls.filter((c) => c.stream).length, 0, "nobody watches yet: the camera is not asked");
    // the only camera is chosen by itself
    await page.waitForFunction((id) => document.querySelector<HTMLSelectElement>("#pf-live-camera")?.selectedOptions[0]?.label === id, CAMERA, { timeout: UI_TIMEOUT });
    await page.click("#pf-live-open");
    await waitForText(page, "#pf-live-title", `Live: ${CAMERA}`);

    // the hub asks the camera, whose live-push sends the simulated camera's frames
    await camera!.waitFor(skycamTopics.liveControl(CAMERA), (m) => (JSON.parse(m.payload.toString()) as LiveControl).stream === true, 15_000);

    const sample = () =>
      page.evaluate(() => {
        const img = document.querySelector<HTMLImageElement>("#pf-live-image");
        if (!img || img.naturalWidth === 0) return null;
        const canvas = document.createElement("canvas");
        canvas.width = img.naturalWidth;
        canvas.height = img.naturalHeight;
        const ctx = canvas.getContext("2d")!;
        ctx.drawImage(img, 0, 0);
        const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        let sum = 0;
        for (let i = 0; i < data.length; i += 4) sum = (sum * 31 + data[i]! * (i + 1)) % 1_000_000_007;
        return { size: `${img.naturalWidth}x${img.naturalHeight}`, sum };
      });
    let first: Awaited<ReturnType<typeof sample>> = null;
    await until(async () => (first = await sample()) !== null, "the first live frame shown", UI_TIMEOUT);
    assert.equal(first!.size, "640x480", "the camera stream's size");
    let second: Awaited<ReturnType<typeof sample>> = null;
    await until(async () => (second = await sample()) !== null && second.sum !== first!.sum, "a different frame shown (the picture moves)", UI_TIMEOUT);
    await waitUntilWhole(page, "#pf-live-image");
    await keepScreenshot(page, "camera-live");
    assert.deepEqual(pageErrors, []);
  });

  it("Close closes the view; opened again it shows the stream at once; leaving the tab closes it and the hub tells the camera to stop", async () => {
    const { page } = ui;
    await page.click("#pf-live-close");
    await page.waitForSelector("#pf-live-image", { state: "detached", timeout: UI_TIMEOUT });
    await page.waitForSelector("#pf-live-open", { timeout: UI_TIMEOUT });
    // within the hub's 10 s grace the stream is still running: the picture is back without asking the camera again
    await page.click("#pf-live-open");
    await page.waitForFunction(() => (document.querySelector<HTMLImageElement>("#pf-live-image")?.naturalWidth ?? 0) > 0, undefined, { timeout: UI_TIMEOUT });
    const asked = controls.length;
    await openTab(page, "Doors");
    assert.equal(await page.$("#pf-live-image"), null, "no live picture once the tab is left");
    // the hub waits 10 s after the last viewer leaves
    await until(() => controls.slice(asked).some((c) => c.stream === false), "{stream: false} to the camera", 20_000, () => controls.slice(-3));
  });
});
