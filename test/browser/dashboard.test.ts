// The dashboard as a user sees it: the real runtime (role all: hub + doorpi + statuspi on simulated
// hardware) and a real Chromium (Debian's /usr/bin/chromium, driven by playwright-core; never downloaded).
// Set PIFOG_SCREENSHOTS=<dir> to keep a screenshot of each tab; a failing test always leaves one in the tmp dir.
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { powerTopics, topics, type DoorState, type DoorsState, type PowerState } from "../../nodes/lib/contract";
import { glyphs, type Frame } from "../../nodes/lib/matrix-glyphs";
import { fogWithBrowser, keepScreenshot, openTab, pagePerTest, TITLE, UI_TIMEOUT, waitForText } from "../support/browser";
import { MQTT_ADMIN } from "../support/runtime";
import { TestClient } from "../support/mqtt";

const DOORPI = "doorpi";
const STATUSPI = "statuspi";
const OPEN_COLOUR = "rgb(46, 125, 50)";
const CLOSED_COLOUR = "rgb(198, 40, 40)";

function backgroundOf(page: Page, selector: string): Promise<string | null> {
  return page.evaluate((sel) => {
    const el = document.querySelector(sel);
    return el ? getComputedStyle(el).backgroundColor : null;
  }, selector);
}

/** The simulated matrix as the page paints it: 64 CSS colours, row by row. */
function matrixOf(page: Page, device: string): Promise<string[]> {
  return page.evaluate((sel) => {
    return Array.from(document.querySelectorAll(`${sel} .pf-px`), (px) => getComputedStyle(px).backgroundColor);
  }, `#pf-matrix-${device}`);
}

function css(frame: Frame): string[] {
  return frame.map(([r, g, b]) => `rgb(${r}, ${g}, ${b})`);
}

async function waitForMatrix(page: Page, device: string, frame: Frame, what: string): Promise<void> {
  const want = css(frame);
  try {
    await page.waitForFunction(
      ([sel, expected]) => {
        const shown = Array.from(document.querySelectorAll(`${sel} .pf-px`), (px) => getComputedStyle(px).backgroundColor);
        return shown.length === expected.length && shown.every((c, i) => c === expected[i]);
      },
      [`#pf-matrix-${device}`, want] as const,
      { timeout: UI_TIMEOUT },
    );
  } catch {
    const shown = await matrixOf(page, device);
    assert.fail(`the ${device} matrix should show ${what}; it shows ${shown.length} pixels: ${[...new Set(shown)].join(" / ")}`);
  }
}

describe("dashboard in Chromium (role all, simulated hardware)", function () {
  this.timeout(60_000);
  const fog = fogWithBrowser(async ({ mqtt }) => {
    await mqtt.subscribe(topics.doors(DOORPI), topics.anyStatus());
    // both simulated doors start closed and the DoorPi says so (retained)
    const initial = await mqtt.waitFor(topics.doors(DOORPI));
    const doors = mqtt.json<DoorsState>(initial).doors;
    assert.deepEqual([doors.door1?.state, doors.door2?.state], ["closed", "closed"], "the simulated doors start closed");
  });
  const ui = pagePerTest("dashboard", { width: 1000, height: 800 }, () => fog.browser, () => fog.runtime);

  /** The last doors state the DoorPi published. */
  function latestDoors(): DoorsState | undefined {
    const m = [...fog.mqtt.received].reverse().find((r) => r.topic === topics.doors(DOORPI));
    return m ? fog.mqtt.json<DoorsState>(m) : undefined;
  }

  /** Sets a simulated door over MQTT, as anything on the fog may, and waits for the DoorPi to report it. */
  async function setDoor(door: string, state: DoorState): Promise<DoorsState> {
    const current = latestDoors();
    if (current?.doors[door]?.state === state) return current;
    const reported = fog.mqtt.waitFor(topics.doors(DOORPI), (m) => fog.mqtt.json<DoorsState>(m).doors[door]?.state === state, 10_000, false);
    await fog.mqtt.publish(topics.simSet(DOORPI, door), state);
    return fog.mqtt.json<DoorsState>(await reported);
  }

  it("Doors tab: occupancy, the F and M doors and the Pis as the doors open", async () => {
    await ui.page.goto(fog.runtime.info.dashboard);
    await waitForText(ui.page, TITLE, "Doors");

    // both doors closed (the simulator's default)
    await waitForText(ui.page, `#pf-occupancy-${DOORPI}`, "I think not");
    await waitForText(ui.page, `#pf-door-${DOORPI}-door1`, "F closed");
    await waitForText(ui.page, `#pf-door-${DOORPI}-door2`, "M closed");
    assert.equal(await backgroundOf(ui.page, `#pf-door-${DOORPI}-door1`), CLOSED_COLOUR);
    assert.equal(await backgroundOf(ui.page, `#pf-door-${DOORPI}-door2`), CLOSED_COLOUR);
    for (const pi of [DOORPI, STATUSPI, "hub"]) await waitForText(ui.page, `#pf-dev-${pi}`, `${pi} online`);
    const big = await ui.page.locator(`#pf-occupancy-${DOORPI}`).boundingBox();
    assert.ok(big && big.width >= 150 && big.height >= 150, `the occupancy circle is big: ${JSON.stringify(big)}`);
    await keepScreenshot(ui.page, "doors");

    // one door open
    await setDoor("door1", "open");
    await waitForText(ui.page, `#pf-occupancy-${DOORPI}`, "MAYBE");
    await waitForText(ui.page, `#pf-door-${DOORPI}-door1`, "F open");
    await waitForText(ui.page, `#pf-door-${DOORPI}-door2`, "M closed");
    assert.equal(await backgroundOf(ui.page, `#pf-door-${DOORPI}-door1`), OPEN_COLOUR);
    assert.equal(await backgroundOf(ui.page, `#pf-door-${DOORPI}-door2`), CLOSED_COLOUR);

    // both open
    await setDoor("door2", "open");
    await waitForText(ui.page, `#pf-occupancy-${DOORPI}`, "GOGOGO");
    await waitForText(ui.page, `#pf-door-${DOORPI}-door1`, "F open");
    await waitForText(ui.page, `#pf-door-${DOORPI}-door2`, "M open");
    assert.equal(await backgroundOf(ui.page, `#pf-door-${DOORPI}-door2`), OPEN_COLOUR);

    assert.deepEqual(ui.pageErrors, [], "no script errors on the page");
  });

  it("Simulator tab: the door1 button flips the simulated door and the StatusPi matrix follows", async () => {
    await setDoor("door1", "closed");
    await setDoor("door2", "closed");

    await ui.page.goto(fog.runtime.info.dashboard);
    await waitForText(ui.page, TITLE, "Doors");
    // to the Simulator tab through the menu, as a user goes; the menu slides away
    await openTab(ui.page, "Simulator");

    const toggle = `#pf-toggle-${DOORPI}-door1`;
    await waitForText(ui.page, toggle, "door1: closed");
    await waitForText(ui.page, `#pf-toggle-${DOORPI}-door2`, "door2: closed");
    await waitForMatrix(ui.page, STATUSPI, glyphs.stop(), "the red cross (both doors closed)");
    await keepScreenshot(ui.page, "sim");

    const reported = fog.mqtt.waitFor(
      topics.doors(DOORPI),
      (m) => fog.mqtt.json<DoorsState>(m).doors.door1?.state === "open",
      10_000,
      false,
    );
    await ui.page.click(toggle);
    const doors = fog.mqtt.json<DoorsState>(await reported).doors;
    assert.equal(doors.door1?.state, "open", "the DoorPi reports door1 open");
    assert.equal(doors.door2?.state, "closed", "door2 is untouched");

    await waitForText(ui.page, toggle, "door1: open");
    await waitForMatrix(ui.page, STATUSPI, glyphs.maybe(), "the yellow diamond (one door open)");
    // the centre of the matrix turned from red to PiFog's yellow
    assert.equal((await matrixOf(ui.page, STATUSPI))[27], "rgb(255, 150, 0)");

    assert.deepEqual(ui.pageErrors, [], "no script errors on the page");
  });

  it("Simulator tab: the power Pi's mains switch and a Sense HAT reading held at a value", async () => {
    await fog.mqtt.subscribe(powerTopics.state("powerpi"), topics.simState(STATUSPI, "temperature"));
    await ui.page.goto(fog.runtime.info.dashboard);
    await waitForText(ui.page, TITLE, "Doors");
    await openTab(ui.page, "Simulator");

    const mains = "#pf-switch-powerpi-mains";
    await waitForText(ui.page, mains, "mains: on");
    const off = fog.mqtt.waitFor(powerTopics.state("powerpi"), (m) => fog.mqtt.json<PowerState>(m).mains === "off", 10_000, false);
    await ui.page.click(mains);
    await off;
    await waitForText(ui.page, mains, "mains: off");
    const on = fog.mqtt.waitFor(powerTopics.state("powerpi"), (m) => fog.mqtt.json<PowerState>(m).mains === "on", 10_000, false);
    await ui.page.click(mains);
    await on;
    await waitForText(ui.page, "#pf-value-now-powerpi-battery", /^\d+(\.\d+)? % \(\d\.\d+ V/);

    const held = fog.mqtt.waitFor(topics.simState(STATUSPI, "temperature"), (m) => m.payload.toString() === "31.5", 10_000, false);
    await ui.page.fill(`#pf-value-input-${STATUSPI}-temperature`, "31.5");
    await ui.page.click(`#pf-value-set-${STATUSPI}-temperature`);
    await held;
    await waitForText(ui.page, `#pf-value-now-${STATUSPI}-temperature`, "31.5 °C");
  });

  it("the dashboard's socket passes on only simulator controls (doors, mains, readings, camera scene), never retained", async () => {
    // the dashboard has no login: anything a page's script can send, anyone on the network can
    await fog.mqtt.subscribe(topics.command(DOORPI), topics.simSet(DOORPI, "+"), topics.simSet("camerapi", "scene"), topics.simSet(STATUSPI, "+"));
    await setDoor("door1", "closed");
    await setDoor("door2", "closed");
    await ui.page.goto(fog.runtime.info.dashboard);
    await waitForText(ui.page, TITLE, "Doors");

    const before = fog.mqtt.received.length;
    const opened = fog.mqtt.waitFor(topics.doors(DOORPI), (m) => fog.mqtt.json<DoorsState>(m).doors.door2?.state === "open", 10_000, false);
    await ui.page.evaluate(
      ([messages]) =>
        new Promise<void>((resolve, reject) => {
          // as the Simulator template's send() does, on a socket of its own
          const io = (window as unknown as { io: (o: object) => { on(e: string, f: (err?: Error) => void): void; emit(e: string, d: object): void } }).io;
          const socket = io({ path: `${location.pathname}socket.io` });
          socket.on("connect_error", (err) => reject(err));
          socket.on("connect", () => {
            for (const msg of messages) socket.emit("update-value", { id: "hub-sim-ui", msg });
            resolve();
          });
        }),
      [
        [
          { topic: topics.command(DOORPI), payload: JSON.stringify({ command: "ping", id: "from-a-browser" }) },
          { topic: topics.simSet(DOORPI, "door1"), payload: "1" },
          { topic: `${topics.simSet(DOORPI, "door1")}/extra`, payload: "open" },
          { topic: topics.simSet(DOORPI, "door2"), payload: "open", retain: true, qos: 2 },
          { topic: topics.simSet("camerapi", "scene"), payload: "open" },
          { topic: topics.simSet(DOORPI, "scene"), payload: "../../etc/passwd" },
          { topic: topics.simSet(DOORPI, "door1"), payload: "on" },
          { topic: topics.simSet(STATUSPI, "temperature"), payload: "1e9" },
          { topic: topics.simSet(STATUSPI, "humidity"), payload: "open" },
        ],
      ] as const,
    );
    await opened;

    const sent = fog.mqtt.received
      .slice(before)
      .filter((m) => m.topic === topics.command(DOORPI) || (/^pifog\/(doorpi|camerapi|statuspi)\/sim\//.test(m.topic) && m.topic.endsWith("/set")));
    assert.deepEqual(
      sent.map((m) => `${m.topic} ${m.payload.toString()}`),
      [`${topics.simSet(DOORPI, "door2")} open`],
      "only the door2 input got through",
    );
    // and it was not kept on the broker: a new subscriber gets nothing retained before a marker sent after subscribing
    const late = await TestClient.connect(fog.runtime.info.mqtt, MQTT_ADMIN);
    try {
      const marker = `pifog/test-marker/${process.pid}`;
      await late.subscribe(topics.simSet(DOORPI, "+"), marker);
      await late.publish(marker, "after");
      await late.waitFor(marker);
      assert.deepEqual(late.received.filter((m) => m.topic !== marker).map((m) => m.topic), [], "no retained simulator input");
    } finally {
      await late.end();
    }
    assert.equal(latestDoors()?.doors.door1?.state, "closed", "door1 did not move");
  });
});
