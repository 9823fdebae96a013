// The Cameras tab's Clips, Time-lapse and Settings groups in a real Chromium, against the real all-in-one runtime:
// its simulated camera plays the `person` script (a person crosses at 8–14 s of every 30 s), so the camera Pi's own
// flow records a real clip and uploads it to the hub. A signed-in viewer sees it listed with its thumbnail, filters by
// camera and day, and plays it (frames drawn); the time-lapse group steps and plays a day's stills (put in the store
// through the device listener as the camera); the settings form is read-only for a viewer, and an operator's change
// shows "pending" and then "applied" once the all-in-one's camera runs it.
// Set PIFOG_SCREENSHOTS=<dir> to keep screenshots; a failing test always leaves one in the tmp dir.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Spool } from "../../nodes/lib/camera/spool";
import type { ClipRecord } from "../../nodes/lib/camera/types";
import { SpoolUploader } from "../../nodes/lib/camera/uploader";
import { topics } from "../../nodes/lib/contract";
import { deviceBundleDir, readBundle } from "../../nodes/lib/identity/paths";
import { jpegFrame, spoolItem } from "../support/clip-items";
import { FakeClock } from "../support/fake-clock";
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
import { until } from "../support/until";

const CAMERA = "camerapi";
type Listed = { cameras: string[]; clips: ClipRecord[] };

/** A sample of the image's pixels (null until it has drawn a picture): two samples differ when the picture moved. */
function sampleOf(page: BrowserPage["page"], selector: string) {
  return page.evaluate((sel) => {
    const img = document.querySelector<HTMLImageElement>(sel);
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
  }, selector);
}

/** Today in the local time of the hub (and of this browser: the same machine), as YYYY-MM-DD. */
function localDay(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

describe("Cameras tab: clips, time-lapse and settings in Chromium (role all)", function () {
  this.timeout(90_000);
  // the simulated camera's person crosses every 30 s from the start: the clip is recorded while the tests before it run
  const fog = fogWithBrowser(async ({ mqtt }) => {
    await mqtt.client.publishAsync(topics.simSet(CAMERA, "motion"), "person", { qos: 1 });
  });
  const ui = onePageStory("cameras-tab", { width: 1100, height: 1400 }, fog, "viewer");
  const list = async (query: string): Promise<Listed> => {
    const res = await fetch(`${fog.runtime.info.http}/api/clips?${query}`, { headers: { cookie: fog.runtime.cookies.viewer } });
    assert.equal(res.status, 200, `GET /api/clips?${query}`);
    return (await res.json()) as Listed;
  };

  it("Time-lapse: a camera's stills of today, stepped and played", async () => {
    // three stills of today from the camera, through the hub's device listener with the camera's certificate
    const bundle = readBundle(deviceBundleDir(fog.runtime.dataDir, CAMERA));
    assert.ok(bundle && fog.runtime.info.deviceHttps, "the all-in-one enrolled its camera and runs the device listener");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-cameras-tab-"));
    try {
      const spool = new Spool(path.join(dir, CAMERA));
      const now = Date.now();
      const stills = [0, 1, 2].map((i) =>
        spoolItem(spool, CAMERA, now - 60_000 * (3 - i), { kind: "still", media: jpegFrame(60 + 70 * i, 320, 240) }),
      );
      const uploaded: string[] = [];
      const uploader = new SpoolUploader({
        spool,
        clock: new FakeClock(),
        target: () => ({ url: fog.runtime.info.deviceHttps!, cert: bundle.cert, key: bundle.key, ca: bundle.ca }),
        events: { uploaded: (item) => uploaded.push(item.id) },
      });
      uploader.start();
      await until(() => uploaded.length === stills.length, "the stills uploaded", 20_000);
      await uploader.stop();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }

    const { page, pageErrors } = ui;
    await page.goto(fog.runtime.info.dashboard);
    await waitForText(page, TITLE, "Doors");
    await openTab(page, "Cameras");
    await page.waitForSelector(`#pf-lapse-camera option[value='${CAMERA}']`, { state: "attached", timeout: UI_TIMEOUT });
    // the fog's only camera is chosen by itself, with today's stills
    await page.waitForFunction((id) => document.querySelector<HTMLSelectElement>("#pf-lapse-camera")?.value === id, CAMERA, { timeout: UI_TIMEOUT });
    await waitForText(page, "#pf-lapse-at", /^1 \/ 3 · \d\d:\d\d$/);
    await page.waitForFunction(() => (document.querySelector<HTMLImageElement>("#pf-lapse-still")?.naturalWidth ?? 0) > 0, undefined, { timeout: UI_TIMEOUT });
    const first = await sampleOf(page, "#pf-lapse-still");
    assert.equal(first?.size, "320x240", "the still as stored");
    await page.click("#pf-lapse-next");
    await waitForText(page, "#pf-lapse-at", /^2 \/ 3 /);
    await until(async () => (await sampleOf(page, "#pf-lapse-still"))?.sum !== first!.sum, "the second still shown", UI_TIMEOUT);
    await page.click("#pf-lapse-prev");
    await waitForText(page, "#pf-lapse-at", /^1 \/ 3 /);
    await page.click("#pf-lapse-play");
    await waitForText(page, "#pf-lapse-play", "Pause");
    await waitForText(page, "#pf-lapse-at", /^3 \/ 3 /);
    await page.click("#pf-lapse-play");
    await waitForText(page, "#pf-lapse-play", "Play");
    await page.waitForFunction(() => (document.querySelector<HTMLImageElement>("#pf-lapse-still")?.naturalWidth ?? 0) > 0, undefined, { timeout: UI_TIMEOUT });
    // a day without stills shows none
    await page.fill("#pf-lapse-day", "2001-01-01");
    await waitForText(page, "#pf-lapse-none", "No time-lapse stills for this camera and day.");
    await page.fill("#pf-lapse-day", localDay(Date.now()));
    await waitForText(page, "#pf-lapse-at", /^1 \/ 3 /);
    await waitUntilWhole(page, "#pf-lapse");
    await keepScreenshot(page, "cameras-timelapse");
    assert.deepEqual(pageErrors, []);
  });

  it("Clips: the simulated camera's real clip is listed with its thumbnail, filtered by camera and day, and plays", async () => {
    // the camera Pi's flow records the person's crossing and uploads it
    let clip: ClipRecord | undefined;
    await until(async () => (clip = (await list("kind=clip")).clips[0]) !== undefined, "a clip recorded and stored", 70_000);
    assert.equal(clip!.device, CAMERA);

    const { page, pageErrors } = ui;
    // the clip's arrival refreshes the list on its own
    await page.waitForSelector("#pf-clips figure.pf-clip", { timeout: UI_TIMEOUT });
    const thumbnailShown = () =>
      page.waitForFunction(() => {
        const img = document.querySelector<HTMLImageElement>("#pf-clips figure.pf-clip img");
        return !!img && img.complete && img.naturalWidth > 0;
      }, undefined, { timeout: UI_TIMEOUT });
    await thumbnailShown();
    await waitForText(page, "#pf-clips figure.pf-clip figcaption", new RegExp(`^${CAMERA} · \\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d · \\d+ s · score \\d+$`));

    // the camera filter
    await page.selectOption("#pf-clips-camera", CAMERA);
    await page.waitForSelector("#pf-clips figure.pf-clip", { timeout: UI_TIMEOUT });
    await page.selectOption("#pf-clips-camera", "");
    await page.waitForSelector("#pf-clips figure.pf-clip", { timeout: UI_TIMEOUT });
    // the day filter: a day without clips shows none, the clip's day shows it
    await page.fill("#pf-clips-day", "2001-01-01");
    await waitForText(page, "#pf-clips-none", "No clips for this camera and day.");
    assert.equal(await page.$("#pf-clips figure.pf-clip"), null, "no clip on a day without any");
    await page.fill("#pf-clips-day", localDay(clip!.start));
    await page.waitForSelector("#pf-clips figure.pf-clip", { timeout: UI_TIMEOUT });
    await thumbnailShown();

    // click: the clip plays (its frames drawn, the picture moving)
    await page.click("#pf-clips figure.pf-clip");
    await page.waitForSelector("#pf-clips-video", { timeout: UI_TIMEOUT });
    let first: Awaited<ReturnType<typeof sampleOf>> = null;
    await until(async () => (first = await sampleOf(page, "#pf-clips-video")) !== null, "the clip's first frame drawn", UI_TIMEOUT);
    assert.equal(first!.size, "640x480", "the camera's frames");
    await until(async () => {
      const now = await sampleOf(page, "#pf-clips-video");
      return now !== null && now.sum !== first!.sum;
    }, "another frame of the clip drawn (it plays)", UI_TIMEOUT);
    await waitUntilWhole(page, "#pf-clips-video");
    await keepScreenshot(page, "cameras-clips");
    await page.click("#pf-clips-close");
    await page.waitForSelector("#pf-clips-video", { state: "detached", timeout: UI_TIMEOUT });
    assert.deepEqual(pageErrors, []);
  });

  it("Settings: a viewer sees the camera's settings read-only", async () => {
    const { page, pageErrors } = ui;
    await page.waitForSelector("#pf-camset-form", { timeout: UI_TIMEOUT });
    await waitForText(page, "#pf-camset-readonly", "Read-only: operators and admins change camera settings.");
    await waitForText(page, "#pf-camset-status", /^applied \(version \d+\)$/);
    assert.equal(await page.isDisabled("#pf-cs-sensitivity"), true);
    assert.equal(await page.$("#pf-camset-save"), null, "no Save for a viewer");
    assert.deepEqual(pageErrors, []);
  });

  describe("an operator", () => {
    let operator: BrowserPage | undefined;
    afterEach(async function () {
      await reportFailure(this.currentTest, operator?.page, "cameras-tab-operator", fog.runtime);
    });
    after(async () => {
      await operator?.context.close().catch(() => undefined);
    });

    it("changes the sensitivity: pending, then applied by the camera", async () => {
      operator = await openPage(fog.browser, { width: 1100, height: 1400 }, { runtime: fog.runtime, role: "operator" });
      const page = operator.page;
      await page.goto(fog.runtime.info.dashboard);
      await waitForText(page, TITLE, "Doors");
      await openTab(page, "Cameras");
      await page.waitForSelector("#pf-camset-save", { timeout: UI_TIMEOUT });
      assert.equal(await page.$("#pf-camset-readonly"), null);
      const before = await page.textContent("#pf-camset-status");
      const version = Number(/version (\d+)/.exec(before ?? "")?.[1]);
      assert.ok(Number.isInteger(version), `the status names the version: ${before}`);
      // every status the page shows from now on (the camera may apply within milliseconds)
      await page.evaluate(() => {
        const seen: string[] = [];
        (window as unknown as { pfStatuses: string[] }).pfStatuses = seen;
        const note = () => {
          const t = document.querySelector("#pf-camset-status")?.textContent?.trim() ?? "";
          if (t && seen[seen.length - 1] !== t) seen.push(t);
        };
        new MutationObserver(note).observe(document.querySelector("#pf-camset")!, { subtree: true, childList: true, characterData: true, attributes: true });
      });
      await page.fill("#pf-cs-sensitivity", "72");
      await page.click("#pf-camset-save");
      await waitForText(page, "#pf-camset-status", `applied (version ${version + 1})`, 20_000);
      const statuses = await page.evaluate(() => (window as unknown as { pfStatuses: string[] }).pfStatuses);
      assert.ok(
        statuses.some((s) => s.startsWith(`pending: version ${version + 1} not applied yet`)),
        `"pending" shown before "applied": ${JSON.stringify(statuses)}`,
      );
      assert.equal(await page.inputValue("#pf-cs-sensitivity"), "72");
      await waitForText(page, "#pf-camset-message", `${CAMERA}: settings v${version + 1} saved and sent to the camera (its state is shown beside its name)`);
      await waitUntilWhole(page, "#pf-camset");
      await keepScreenshot(page, "cameras-settings-operator");
      assert.deepEqual(operator.pageErrors, []);
      // the viewer's page follows
      await waitForText(ui.page, "#pf-camset-status", `applied (version ${version + 1})`);
      assert.equal(await ui.page.inputValue("#pf-cs-sensitivity"), "72");
    });
  });
});
