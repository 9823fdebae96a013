// PiFog's own web client against the runtime, in a real Chromium (issue 12: "The PiFog web client with a viewer
// user"): its status page (test/fixtures/pifog-webclient/status.html, a reconstruction of the original: plain HTML
// and JavaScript, mqtt.js's browser bundle, MQTT 3.1 over WebSocket offering `mqttv3.1`) served from a loopback site
// of its own, as a person uses it: the viewer's name and password typed into its fields, the big circle following
// the simulated DoorPi's doors; a wrong password refused on the page and audited; the same page from a site that is
// not in PIFOG_MQTT_WS_ORIGINS cannot open the broker's WebSocket at all.
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { Audit, type AuditRecord } from "../../nodes/lib/audit/audit";
import { compatTopics, topics, type CompatConnected, type CompatDisconnected } from "../../nodes/lib/contract";
import { launchChromium, openPage, reportFailure, textOf, UI_TIMEOUT, waitForText, type BrowserPage } from "../support/browser";
import { TestClient } from "../support/mqtt";
import { TEST_PEOPLE } from "../support/people";
import { MQTT_ADMIN, ROOT, startRuntime, type TestRuntime } from "../support/runtime";
import { until } from "../support/until";

const PAGE = path.join(ROOT, "test", "fixtures", "pifog-webclient", "status.html");
const MQTT_BUNDLE = path.join(ROOT, "node_modules", "mqtt", "dist", "mqtt.min.js");
const PY_TIMESTAMP = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/;

/** A site on a loopback port serving the web client's page and mqtt.js's browser bundle beside it, as PiFog's
 * web server did; its origin is `http://127.0.0.1:<port>`. */
async function webClientSite(): Promise<{ origin: string; close(): Promise<void> }> {
  const files: Record<string, [string, string]> = {
    "/status.html": [PAGE, "text/html; charset=utf-8"],
    "/mqtt.min.js": [MQTT_BUNDLE, "application/javascript; charset=utf-8"],
  };
  const server = http.createServer((req, res) => {
    const file = files[new URL(req.url ?? "/", "http://site").pathname];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": file[1] }).end(fs.readFileSync(file[0]));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The page's colours, as getComputedStyle writes them. */
const COLOUR = { green: "rgb(0, 128, 0)", yellow: "rgb(255, 255, 0)", red: "rgb(255, 0, 0)", black: "rgb(0, 0, 0)" } as const;

describe("PiFog's web client (its status page, mqtt.js over WebSocket) in Chromium against the runtime", function () {
  this.timeout(60_000);
  let site: Awaited<ReturnType<typeof webClientSite>>;
  let foreign: Awaited<ReturnType<typeof webClientSite>>;
  let fog: TestRuntime;
  let admin: TestClient;
  let browser: Browser;
  let current: BrowserPage | undefined;
  let wsPort: string;

  before(async () => {
    site = await webClientSite();
    foreign = await webClientSite();
    fog = await startRuntime({ role: "all", env: { PIFOG_MQTT_WS_ORIGINS: site.origin } });
    assert.ok(fog.info.mqttWebSocket, "the runtime has MQTT over WebSocket");
    wsPort = new URL(fog.info.mqttWebSocket).port;
    admin = await TestClient.connect(fog.info.mqtt, MQTT_ADMIN);
    await admin.subscribe(compatTopics.connection("DoorPi"), compatTopics.event("DoorPi"));
    await admin.waitFor(compatTopics.connection("DoorPi"), (m) => "connected" in admin.json<CompatConnected>(m), 20_000);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close().catch(() => undefined);
    await admin?.end().catch(() => undefined);
    await fog?.stop();
    await site?.close();
    await foreign?.close();
  });
  beforeEach(async () => {
    current = await openPage(browser, { width: 900, height: 700 });
  });
  afterEach(async function () {
    await reportFailure(this.currentTest, current?.page, "pifog-web-client", fog);
    await current?.context.close().catch(() => undefined);
  });

  const page = (): Page => current!.page;
  const auditRecords = (): AuditRecord[] => new Audit(fog.dataDir).read();

  /** Opens the status page from `from` with the two topics it follows, built by the contract. */
  async function openStatusPage(from: { origin: string }): Promise<Page> {
    const p = page();
    const query = new URLSearchParams({ event: compatTopics.event("DoorPi"), connection: compatTopics.connection("DoorPi") });
    await p.goto(`${from.origin}/status.html?${query}`);
    await waitForText(p, "#big", "unknown");
    await waitForText(p, "#comment", "not connected");
    return p;
  }

  /** As a person: the broker's host and port, a user name and a password into the page's fields, then Connect. */
  async function typeAndConnect(p: Page, username: string, password: string): Promise<void> {
    await p.fill("#host", "127.0.0.1");
    await p.fill("#port", wsPort);
    await p.fill("#username", username);
    await p.fill("#password", password);
    await p.click("#connect");
  }

  /** Waits until the big circle says `text` on `colour`, and the small F and M circles show the doors. */
  async function waitForCircles(p: Page, text: string, colour: keyof typeof COLOUR, doors: [keyof typeof COLOUR, keyof typeof COLOUR]): Promise<void> {
    const want = { text, big: COLOUR[colour], door1: COLOUR[doors[0]], door2: COLOUR[doors[1]] };
    const seen = () =>
      p.evaluate(() => {
        const bg = (id: string) => getComputedStyle(document.getElementById(id)!).backgroundColor;
        return { text: document.getElementById("big")!.innerText.trim(), big: bg("big"), door1: bg("door1"), door2: bg("door2") };
      });
    try {
      await p.waitForFunction(
        (w) => {
          const bg = (id: string) => getComputedStyle(document.getElementById(id)!).backgroundColor;
          return document.getElementById("big")!.innerText.trim() === w.text && bg("big") === w.big && bg("door1") === w.door1 && bg("door2") === w.door2;
        },
        want,
        { timeout: UI_TIMEOUT },
      );
    } catch {
      assert.fail(`the circles should show ${JSON.stringify(want)}, but show ${JSON.stringify(await seen())}`);
    }
  }

  /** Flips a simulated DoorPi door, as README's `mosquitto_pub` lines do. */
  const flip = (door: "door1" | "door2", state: "open" | "closed") => admin.publish(topics.simSet("doorpi", door), state);

  it("as a viewer typed into its fields, the big circle follows the doors: GOGOGO, MAYBE, I think not; unknown when DoorPi is gone", async () => {
    await flip("door1", "closed");
    await flip("door2", "closed");
    // what the page's WebSocket offers and gets, and the CONNECT it sends (MQTT 3.1: MQIsdp, level 3)
    const sockets: Array<{ url: string; connect: Buffer | null }> = [];
    page().on("websocket", (ws) => {
      const seen = { url: ws.url(), connect: null as Buffer | null };
      sockets.push(seen);
      ws.on("framesent", (frame) => {
        if (seen.connect === null) seen.connect = Buffer.isBuffer(frame.payload) ? frame.payload : Buffer.from(frame.payload);
      });
    });
    await page().addInitScript(() => {
      const Native = window.WebSocket;
      const record: Array<{ offered: string[]; protocol: string | null }> = [];
      (window as unknown as { pifogSockets: typeof record }).pifogSockets = record;
      window.WebSocket = class extends Native {
        constructor(url: string | URL, protocols?: string | string[]) {
          super(url, protocols);
          const entry = { offered: protocols === undefined ? [] : ([] as string[]).concat(protocols), protocol: null as string | null };
          record.push(entry);
          this.addEventListener("open", () => (entry.protocol = this.protocol));
        }
      };
    });
    const p = await openStatusPage(site);
    await typeAndConnect(p, TEST_PEOPLE.viewer.name, TEST_PEOPLE.viewer.password);
    await waitForText(p, "#connection", "connected");
    await waitForCircles(p, "I think not", "red", ["red", "red"]);
    assert.match((await textOf(p, "#last-report")) ?? "", PY_TIMESTAMP, "the last report's time, as PiFog wrote it");
    assert.equal(await textOf(p, "#comment"), "");

    const offered = await p.evaluate(() => (window as unknown as { pifogSockets: Array<{ offered: string[]; protocol: string | null }> }).pifogSockets);
    assert.deepEqual(offered, [{ offered: ["mqttv3.1"], protocol: "mqttv3.1" }], "the page offers `mqttv3.1` and the broker takes it");
    assert.equal(sockets.length, 1);
    assert.equal(sockets[0]!.url, `ws://127.0.0.1:${wsPort}/mqtt`);
    const connect = sockets[0]!.connect;
    assert.ok(connect, "the page sent a CONNECT");
    assert.equal(connect[0], 0x10, "the first frame is a CONNECT");
    const header = connect.subarray(2, 11); // fixed header's remaining length fits in one byte here
    assert.deepEqual([...header], [0x00, 0x06, ...Buffer.from("MQIsdp"), 0x03], "protocol name MQIsdp, version 3");

    await flip("door1", "open");
    await waitForCircles(p, "MAYBE", "yellow", ["green", "red"]);
    assert.equal(await p.evaluate(() => getComputedStyle(document.getElementById("big")!).color), COLOUR.black, "MAYBE in black text");
    await flip("door2", "open");
    await waitForCircles(p, "GOGOGO", "green", ["green", "green"]);
    await flip("door1", "closed");
    await waitForCircles(p, "MAYBE", "yellow", ["red", "green"]);
    await flip("door2", "closed");
    await waitForCircles(p, "I think not", "red", ["red", "red"]);

    // DoorPi gone: its last will, retained on its Connection topic, as the broker publishes it for a lost DoorPi
    const will: CompatDisconnected = { disconnected: { device: "doorpi" } };
    await admin.publish(compatTopics.connection("DoorPi"), JSON.stringify(will), { retain: true });
    await waitForCircles(p, "unknown", "black", ["black", "black"]);
    await waitForText(p, "#comment", "DoorPi is not connected");
    assert.deepEqual(current!.pageErrors, [], "no script errors on the page");
  });

  it("a wrong password: the page says the connection was refused, nothing of DoorPi is shown, and the refusal is audited", async () => {
    const p = await openStatusPage(site);
    await typeAndConnect(p, TEST_PEOPLE.viewer.name, "not the viewer's password");
    await waitForText(p, "#connection", "Connection refused: Bad username or password");
    await waitForCircles(p, "unknown", "black", ["black", "black"]);
    assert.equal(await textOf(p, "#comment"), "not connected");
    await until(
      () => auditRecords().some((r) => r.event === "mqtt.auth.refused" && r.via === "mqtt-ws" && r.returnCode === 4 && String(r.reason).includes(TEST_PEOPLE.viewer.name)),
      "the wrong password over WebSocket in the runtime's audit record",
      10_000,
      () => auditRecords().slice(-5),
    );
    assert.deepEqual(current!.pageErrors, []);
  });

  it("served from a site not in PIFOG_MQTT_WS_ORIGINS, the page cannot open the broker's WebSocket (refused at the upgrade, audited)", async () => {
    const p = await openStatusPage(foreign);
    await typeAndConnect(p, TEST_PEOPLE.viewer.name, TEST_PEOPLE.viewer.password);
    await waitForText(p, "#connection", `could not connect to ws://127.0.0.1:${wsPort}/mqtt`);
    await waitForCircles(p, "unknown", "black", ["black", "black"]);
    await until(
      () => auditRecords().some((r) => r.event === "mqtt.ws.origin-refused" && r.origin === foreign.origin),
      "the foreign page's origin in the runtime's audit record",
      10_000,
      () => auditRecords().slice(-5),
    );
    assert.equal(
      auditRecords().some((r) => r.event === "mqtt.ws.origin-refused" && r.origin === site.origin),
      false,
      "the listed site was never refused",
    );
  });
});
