// The telemetry tabs as a user sees them: the real runtime (role all: the sensor hub's history, stats and alerts,
// the simulated ESPEasy sensors and the simulated StatusPi) and a real Chromium (Debian's /usr/bin/chromium, driven
// by playwright-core; never downloaded). Set PIFOG_SCREENSHOTS=<dir> to keep a screenshot of each tab; a failing
// test always leaves one in the tmp dir.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { iotitanTopics, topics, type ActiveAlert, type ActiveAlerts, type AlertAck, type AlertEvent } from "../../nodes/lib/contract";
import { fogWithBrowser, keepScreenshot, openTab, pagePerTest, textOf, TITLE, UI_TIMEOUT, waitForText } from "../support/browser";
import { MQTT_ADMIN } from "../support/runtime";
import { TestClient } from "../support/mqtt";

/** The readings table is refreshed from the history every 10 s: one period, then as long as anything else may take. */
const REFRESH_TIMEOUT = 10_000 + UI_TIMEOUT;

/** The sensor hub's device id in the all-in-one fog: its alert node listens on pifog/sensorhub/alerts/ack. */
const HUB = "sensorhub";
const STATUSPI = "statuspi";
/** Simulated ESPEasy sensors (flows/sensors.json) publish these every 15 s, the first about 1 s after the start. */
const BED1_TEMPERATURE = "iotitan/home/up_bed1/dht11/temperature";
const STATUSPI_TEMPERATURE = topics.environmentValue(STATUSPI, "temperature");
/** A sensor no simulator publishes, with a value no simulator produces; inside every shipped alert rule's range, so
 * the real alert node starts nothing that would replace the alert list this test publishes. */
const TEST_ROOM = "iotitan/home/test_room/dht22/temperature";
const TEST_VALUE = "23.47";

const READINGS = "#pf-readings tr.pf-reading";
const TEMPERATURE_CHART = "sensorhub-env-chart-temp";
const HUMIDITY_CHART = "sensorhub-env-chart-hum";

/** The readings table as shown: [sensor topic, value text] row by row. */
function readingsOf(page: Page): Promise<Array<[string, string]>> {
  return page.evaluate((rows) => {
    return Array.from(document.querySelectorAll<HTMLElement>(rows), (tr): [string, string] => [
      tr.querySelector<HTMLElement>(".pf-reading-topic")?.innerText.trim() ?? "",
      tr.querySelector<HTMLElement>(".pf-reading-value")?.innerText.trim() ?? "",
    ]);
  }, READINGS);
}

/** Waits until the readings table shows `topic` with the value `expected`, or with any number if `expected` is null. */
async function waitForReading(page: Page, topic: string, expected: string | null, timeout = UI_TIMEOUT): Promise<void> {
  try {
    await page.waitForFunction(
      ([rows, wanted, want]) => {
        const row = Array.from(document.querySelectorAll<HTMLElement>(rows)).find(
          (tr) => tr.offsetParent !== null && tr.querySelector<HTMLElement>(".pf-reading-topic")?.innerText.trim() === wanted,
        );
        const text = row?.querySelector<HTMLElement>(".pf-reading-value")?.innerText.trim();
        return text !== undefined && (want === null ? /^-?\d+(\.\d+)?$/.test(text) : text === want);
      },
      [READINGS, topic, expected] as const,
      { timeout },
    );
  } catch {
    const shown = (await readingsOf(page)).map(([t, v]) => `${t} ${v}`);
    assert.fail(`the readings should show ${topic} = ${expected ?? "a number"} within ${timeout} ms; they show:\n  ${shown.join("\n  ") || "(no rows)"}`);
  }
}

interface SeriesView {
  label: string;
  values: number[];
  /** Points drawn inside the plot area: a coloured (not grey, not white) pixel on the canvas where the point is. */
  drawn: number;
}

/** What a dashboard chart shows, from its Chart.js instance (what the legend lists) and from its canvas's pixels. */
function chartOf(page: Page, nodeId: string): Promise<SeriesView[] | null> {
  return page.evaluate((id) => {
    interface Element {
      _view?: { x: number; y: number; radius: number; skip: boolean };
    }
    interface ChartInstance {
      chart: { canvas: HTMLCanvasElement; ctx: CanvasRenderingContext2D };
      chartArea: { left: number; right: number; top: number; bottom: number };
      data: { datasets: Array<{ label: string; data: Array<{ y: number }> }> };
      isDatasetVisible(index: number): boolean;
      getDatasetMeta(index: number): { data: Element[] };
    }
    const card = document.querySelector<HTMLElement>(`md-card[node-id="${id}"]`);
    const Chart = (window as unknown as { Chart?: { instances: Record<string, ChartInstance> } }).Chart;
    if (!card || card.offsetParent === null || !Chart) return null;
    const instance = Object.values(Chart.instances).find((c) => card.contains(c.chart.canvas));
    if (!instance || instance.chart.canvas.offsetParent === null || instance.chart.canvas.clientWidth === 0) return null;
    const { canvas, ctx } = instance.chart;
    const scale = canvas.width / canvas.clientWidth;
    const area = instance.chartArea;
    const inArea = (x: number, y: number) => x >= area.left - 1 && x <= area.right + 1 && y >= area.top - 1 && y <= area.bottom + 1;
    /** A pixel within 2 px of (x, y) in some colour: the grid, the axes and the points' white rims are grey. */
    const colouredNear = (x: number, y: number) => {
      const px = ctx.getImageData(Math.round(x * scale) - 2, Math.round(y * scale) - 2, 5, 5).data;
      for (let i = 0; i < px.length; i += 4) {
        const [r = 0, g = 0, b = 0, a = 0] = [px[i], px[i + 1], px[i + 2], px[i + 3]];
        if (a > 100 && Math.max(r, g, b) - Math.min(r, g, b) > 40) return true;
      }
      return false;
    };
    return instance.data.datasets.map((d, i) => ({
      label: d.label,
      values: d.data.map((pt) => pt.y),
      drawn: instance.isDatasetVisible(i)
        ? instance.getDatasetMeta(i).data.filter((el) => {
            const v = el._view;
            return !!v && !v.skip && v.radius > 0 && inArea(v.x, v.y) && colouredNear(v.x, v.y);
          }).length
        : 0,
    }));
  }, nodeId);
}

/** Waits until the chart shows every series in `labels` drawn in its plot area, each passing `test`; fails saying what it shows. */
async function waitForSeries(
  page: Page,
  nodeId: string,
  labels: string[],
  test: (s: SeriesView) => boolean = () => true,
  timeout = UI_TIMEOUT,
): Promise<SeriesView[]> {
  const deadline = Date.now() + timeout;
  let shown: SeriesView[] | null = null;
  for (;;) {
    shown = await chartOf(page, nodeId);
    const ok = labels.every((label) => {
      const s = shown?.find((x) => x.label === label);
      return !!s && s.values.length > 0 && s.values.every((v) => Number.isFinite(v)) && s.drawn > 0 && test(s);
    });
    if (ok) return shown!;
    if (Date.now() > deadline) {
      assert.fail(`the ${nodeId} chart should draw ${labels.join(", ")} within ${timeout} ms; it shows ${JSON.stringify(shown)}`);
    }
    // the chart eases its points in after each update; look again on the next frames
    await page.waitForTimeout(100);
  }
}

/** The hub's active alerts, as its alert node publishes them (retained). */
function activeAlerts(alerts: ActiveAlert[]): string {
  return JSON.stringify({ device: HUB, alerts, timestamp: new Date().toISOString() } satisfies ActiveAlerts);
}

/** One of the hub's alert events, as its alert node publishes them. */
function alertEvent(kind: AlertEvent["kind"], alert: ActiveAlert, extra: Partial<AlertEvent> = {}): string {
  return JSON.stringify({ ...alert, kind, device: HUB, timestamp: new Date().toISOString(), repeats: 0, ...extra } satisfies AlertEvent);
}

describe("telemetry dashboard in Chromium (role all, simulated sensors)", function () {
  this.timeout(60_000);
  const fog = fogWithBrowser(async ({ runtime, mqtt }) => {
    await mqtt.subscribe("iotitan/#", `${topics.environment(STATUSPI)}/+`, topics.anyAlerts());
    // the simulators have spoken (the ESPEasy ones every 15 s); the broker passed each message on only after the
    // history had stored it
    try {
      await mqtt.waitFor(BED1_TEMPERATURE, () => true, 20_000);
      await mqtt.waitFor(STATUSPI_TEMPERATURE, () => true, 20_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nruntime output:\n${runtime.output().slice(-3000)}`);
    }
  });
  const ui = pagePerTest("telemetry", { width: 1000, height: 1100 }, () => fog.browser, () => fog.runtime);

  /** The runtime's dead-letter record: one entry per message a node could not handle. */
  function deadLetters(): Array<Record<string, unknown>> {
    const file = path.join(fog.runtime.dataDir, "dead-letter.jsonl");
    if (!fs.existsSync(file)) return [];
    return fs
      .readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  it("Environment tab: every sensor's latest reading, a new sensor within a refresh, the temperature chart", async () => {
    await ui.page.goto(fog.runtime.info.dashboard);
    await waitForText(ui.page, TITLE, "Doors");
    await openTab(ui.page, "Environment");

    // the simulated ESPEasy sensors and the simulated StatusPi, each with a number
    await waitForReading(ui.page, BED1_TEMPERATURE, null);
    await waitForReading(ui.page, "iotitan/home/downstairs/dht22/humidity", null);
    await waitForReading(ui.page, STATUSPI_TEMPERATURE, null);

    // the temperature chart draws the history of both kinds of sensor, each in its own colour
    await waitForSeries(ui.page, TEMPERATURE_CHART, [STATUSPI_TEMPERATURE, BED1_TEMPERATURE]);
    const humidity = await waitForSeries(ui.page, HUMIDITY_CHART, [topics.environmentValue(STATUSPI, "humidity")]);
    assert.ok(humidity.every((s) => /humidity$/.test(s.label)), `only humidities on the humidity chart: ${humidity.map((s) => s.label).join(", ")}`);

    // a sensor nobody simulates, after what the stats and alert nodes publish about sensors (numbers, but not readings)
    const earlier = new Date(Date.now() - 3_600_000).toISOString();
    const old: ActiveAlert = {
      id: "0c1d2e3f4a5b",
      rule: "cold-room",
      label: "room too cold",
      topic: TEST_ROOM,
      condition: "below",
      threshold: 15,
      value: 14.2,
      lastValue: 16.1,
      raisedAt: earlier,
      lastValueAt: earlier,
      acknowledged: false,
    };
    await fog.mqtt.publish(topics.alertEvents(HUB), alertEvent("cleared", old, { clearedAt: earlier, reason: "value" }));
    await fog.mqtt.publish(iotitanTopics.average(TEST_ROOM), "23.4");
    await fog.mqtt.publish(iotitanTopics.alert(TEST_ROOM), "14.2");
    await fog.mqtt.publish(TEST_ROOM, TEST_VALUE);
    // within one refresh of the table; all four were stored in order, so the same refresh had the other three
    await waitForReading(ui.page, TEST_ROOM, TEST_VALUE, REFRESH_TIMEOUT);
    const rows = await readingsOf(ui.page);
    const notSensors = rows.filter(([topic]) => !/^iotitan\/home\/[^/]+\/[^/]+\/[^/]+$/.test(topic) && !/^pifog\/[^/]+\/environment\/[^/]+$/.test(topic));
    assert.deepEqual(notSensors, [], "only sensor readings in the table (no averages, alert values, alert events, simulator states)");
    assert.equal(new Set(rows.map(([t]) => t)).size, rows.length, "one row per sensor");
    await keepScreenshot(ui.page, "env");

    // the chart is re-read from the history whenever someone opens the tab: away and back, and the new sensor is on it
    await openTab(ui.page, "Doors");
    await openTab(ui.page, "Environment");
    const series = await waitForSeries(ui.page, TEMPERATURE_CHART, [TEST_ROOM, STATUSPI_TEMPERATURE], (s) => s.label !== TEST_ROOM || s.values.includes(Number(TEST_VALUE)));
    assert.ok(
      series.every((s) => /temperature$/.test(s.label)),
      `only temperatures on the temperature chart: ${series.map((s) => s.label).join(", ")}`,
    );

    assert.deepEqual(ui.pageErrors, [], "no script errors on the page");
  });

  it("Alerts tab: an active alert with Acknowledge, its events in Recent; the button acknowledges over MQTT", async () => {
    const now = new Date();
    const raisedAt = new Date(now.getTime() - 90_000).toISOString();
    const alert: ActiveAlert = {
      id: "3f9a2c71be04",
      rule: "hot-room",
      label: "room too warm",
      topic: TEST_ROOM,
      condition: "above",
      threshold: 26,
      value: 27.3,
      lastValue: 28.1,
      raisedAt,
      lastValueAt: now.toISOString(),
      acknowledged: false,
    };
    // as the sensor hub's alert node would announce a raise: the retained list, then the event
    await fog.mqtt.publish(topics.alertsActive(HUB), activeAlerts([alert]), { retain: true });
    await fog.mqtt.publish(topics.alertEvents(HUB), alertEvent("raised", { ...alert, lastValue: alert.value }, { timestamp: raisedAt }));

    await ui.page.goto(fog.runtime.info.dashboard);
    await waitForText(ui.page, TITLE, "Doors");
    await openTab(ui.page, "Alerts");

    const card = `.pf-alert[data-alert-id="${alert.id}"]`;
    await waitForText(ui.page, `${card} .pf-alert-label`, "room too warm");
    await waitForText(ui.page, `${card} .pf-alert-rule`, "above 26");
    await waitForText(ui.page, `${card} .pf-topic`, TEST_ROOM);
    await waitForText(ui.page, `${card} .pf-alert-value`, "now 28.1 · raised at 27.3");
    assert.match((await textOf(ui.page, `${card} .pf-alert-meta`)) ?? "", new RegExp(`^since \\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d · ${HUB}$`));
    assert.equal(await ui.page.locator(".pf-alert").count(), 1, "one active alert");
    assert.equal(await ui.page.locator("#pf-alerts-none").count(), 0, "not 'No active alerts'");
    const recent = `.pf-event[data-alert-id="${alert.id}"]`;
    await waitForText(ui.page, `${recent} .pf-event-kind`, "RAISED");
    assert.match((await textOf(ui.page, recent)) ?? "", new RegExp(`^\\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d RAISED room too warm 27\\.3 ${TEST_ROOM} · ${HUB}$`));
    await keepScreenshot(ui.page, "alerts");

    // the button sends the acknowledgement through the flow's guard to the hub's alert node
    const button = ui.page.locator(`${card} button.pf-ack`);
    assert.equal((await button.innerText()).trim().toLowerCase(), "acknowledge");
    const acked = fog.mqtt.waitFor(topics.alertAck(HUB), () => true, 10_000, false);
    await button.click();
    const ack = await acked;
    assert.deepEqual(fog.mqtt.json<AlertAck>(ack), { id: alert.id, by: "dashboard" });
    assert.equal(ack.payload.toString(), `{"id":"${alert.id}","by":"dashboard"}`, "exactly the acknowledgement, as JSON");

    // the hub's real alert node has no such alert (this one never went through it): it lets the id go, nothing breaks
    const pong = fog.mqtt.waitFor(topics.event(HUB), (m) => m.payload.toString().includes("after-ack"), 10_000, false);
    await fog.mqtt.subscribe(topics.event(HUB));
    await fog.mqtt.publish(topics.command(HUB), JSON.stringify({ command: "ping", id: "after-ack" }));
    await pong;
    assert.equal(fog.runtime.child.exitCode, null, "the runtime is still running");
    assert.deepEqual(deadLetters(), [], "nothing dead-lettered: an acknowledgement of an unknown alert is not an error");

    // what the alert node announces after an acknowledgement: the list and the event; the page follows
    const acknowledged: ActiveAlert = { ...alert, acknowledged: true, acknowledgedAt: new Date().toISOString(), acknowledgedBy: "dashboard" };
    await fog.mqtt.publish(topics.alertsActive(HUB), activeAlerts([acknowledged]), { retain: true });
    await fog.mqtt.publish(topics.alertEvents(HUB), alertEvent("acknowledged", acknowledged));
    await waitForText(ui.page, `${card} .pf-alert-meta`, new RegExp(`^since \\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d · ${HUB} · acknowledged by dashboard$`));
    // the button leaves with Angular's leave animation, a moment after the text changed
    await ui.page.locator(`${card} button.pf-ack`).waitFor({ state: "detached", timeout: UI_TIMEOUT });
    assert.equal(await ui.page.locator(`${card} button.pf-ack`).count(), 0, "no Acknowledge button once acknowledged");
    assert.match((await ui.page.locator(card).getAttribute("class")) ?? "", /\bpf-acked\b/);
    // the first of the alert's events in Recent is the newest
    await waitForText(ui.page, `${recent} .pf-event-kind`, "ACKNOWLEDGED");
    await keepScreenshot(ui.page, "alerts-acknowledged");

    // and when it clears: no active alerts, the clear on top of Recent
    await fog.mqtt.publish(topics.alertsActive(HUB), activeAlerts([]), { retain: true });
    await fog.mqtt.publish(topics.alertEvents(HUB), alertEvent("cleared", { ...acknowledged, lastValue: 25.2 }, { clearedAt: new Date().toISOString(), reason: "value" }));
    await waitForText(ui.page, "#pf-alerts-none", "No active alerts.");
    assert.equal(await ui.page.locator(".pf-alert").count(), 0);
    await waitForText(ui.page, `${recent} .pf-event-kind`, "CLEARED");
    const kinds = await ui.page.locator(`.pf-event[data-alert-id="${alert.id}"] .pf-event-kind`).allInnerTexts();
    assert.deepEqual(kinds.map((k) => k.trim()), ["CLEARED", "ACKNOWLEDGED", "RAISED"], "Recent lists the newest first");

    assert.deepEqual(ui.pageErrors, [], "no script errors on the page");
  });

  it("the Alerts tab's socket passes on only acknowledgements, as the dashboard's, never retained", async () => {
    // the dashboard has no login: anything a page's script can send, anyone on the network can
    await fog.mqtt.subscribe(topics.command("doorpi"));
    await ui.page.goto(fog.runtime.info.dashboard);
    await waitForText(ui.page, TITLE, "Doors");

    const before = fog.mqtt.received.length;
    const marker = "guard-check-last";
    const last = fog.mqtt.waitFor(topics.alertAck(HUB), (m) => m.payload.toString().includes(marker), 10_000, false);
    await ui.page.evaluate(
      ([messages]) =>
        new Promise<void>((resolve, reject) => {
          // as the Alerts template's send() does, on a socket of its own
          const io = (window as unknown as { io: (o: object) => { on(e: string, f: (err?: Error) => void): void; emit(e: string, d: object): void } }).io;
          const socket = io({ path: `${location.pathname}socket.io` });
          socket.on("connect_error", (err) => reject(err));
          socket.on("connect", () => {
            for (const msg of messages) socket.emit("update-value", { id: "sensorhub-alerts-ui", msg });
            resolve();
          });
        }),
      [
        [
          { topic: topics.command("doorpi"), payload: { command: "ping", id: "from-a-browser" } },
          { topic: topics.alertAck(HUB), payload: "a-bare-id" },
          { topic: `${topics.alertAck(HUB)}/extra`, payload: { id: "guard-check-extra" } },
          { topic: topics.alertAck(HUB), payload: { id: 42 } },
          { topic: topics.alertAck(HUB), payload: { id: marker, by: "mallory", extra: "x" }, retain: true, qos: 2 },
        ],
      ] as const,
    );
    await last;

    const sent = fog.mqtt.received
      .slice(before)
      .filter((m) => m.topic === topics.command("doorpi") || m.topic.startsWith(topics.alertAck(HUB)))
      .map((m) => `${m.topic} ${m.payload.toString()}`);
    assert.deepEqual(sent, [`${topics.alertAck(HUB)} {"id":"${marker}","by":"dashboard"}`], "only the acknowledgement got through, as the dashboard's");
    // and it was not kept on the broker: a new subscriber gets nothing retained before a marker sent after subscribing
    const late = await TestClient.connect(fog.runtime.info.mqtt, MQTT_ADMIN);
    try {
      const probe = `pifog/test-marker/${process.pid}`;
      await late.subscribe(topics.alertAck(HUB), probe);
      await late.publish(probe, "after");
      await late.waitFor(probe);
      assert.deepEqual(late.received.filter((m) => m.topic !== probe).map((m) => m.topic), [], "no retained acknowledgement");
    } finally {
      await late.end();
    }
    assert.deepEqual(ui.pageErrors, [], "no script errors on the page");
  });
});
