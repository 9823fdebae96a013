// Camera settings managed from the hub (issue 13), against a real in-process broker: the hub's camera-settings node
// and a camera Pi's camera-config node. An operator's change is checked, stored, given a new version and published
// retained; the Pi applies it (a settings message for the camera nodes, kept on disk) and reports the version, and
// the hub goes from pending to applied. Bad settings are refused with the reason on both sides (the Pi keeps the old
// ones, dead-letters the config and reports why); a viewer or a browser without a session is refused and audited;
// both sides keep their settings across a restart, the Pi even without the broker.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { NodeAPI, NodeDef } from "node-red";
import cameraConfig from "../../nodes/camera-config/camera-config";
import cameraSettings, { type CameraSettingsView } from "../../nodes/camera-settings/camera-settings";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import { Audit } from "../../nodes/lib/audit/audit";
import type { CameraSettings, SettingsApplied, SettingsMessage } from "../../nodes/lib/camera/types";
import { BROWSERS, signedInBrowsers } from "../support/dashboard-people";
import { translated } from "../support/messages";
import { deviceNode, helper, loadUntilOnline, startHarness, type Harness } from "../support/node-harness";
import { until } from "../support/until";

/** What each test-recorder node received, from its construction on (a message sent as the flows start included). */
const recorded = new Map<string, unknown[]>();
function recorder(RED: NodeAPI): void {
  function Recorder(this: { on(e: string, f: (m: unknown) => void): void }, config: NodeDef) {
    RED.nodes.createNode(this as never, config);
    const list: unknown[] = [];
    recorded.set(config.id, list);
    this.on("input", (m) => list.push(m));
  }
  RED.nodes.registerType("test-recorder", Recorder as never);
}

type ViewMsg = { topic: string; socketid?: string; payload: CameraSettingsView };
const views = () => (recorded.get("views") ?? []) as ViewMsg[];
const settingsOut = () => (recorded.get("camera") ?? []) as SettingsMessage[];

describe("camera settings: hub (camera-settings) → Pi (camera-config) → applied", function () {
  this.timeout(30_000);
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness();
    await signedInBrowsers(h.services);
  });
  afterEach(async () => {
    await h.close();
  });

  const hubFlow = () => [
    deviceNode("hub", h.url),
    { id: "settings", type: "camera-settings", z: "tab", device: "cfg-hub", wires: [["views"]] },
    { id: "views", type: "test-recorder", z: "tab" },
  ];
  const camFlow = (broker = h.url) => [
    deviceNode("cam1", broker),
    { id: "config", type: "camera-config", z: "tab", device: "cfg-cam1", wires: [["camera"]] },
    { id: "camera", type: "test-recorder", z: "tab" },
  ];
  const nodes = translated([pifogDevice, cameraSettings, cameraConfig, recorder]);
  const both = () => [{ id: "tab", type: "tab" }, ...hubFlow(), ...camFlow()];

  /** Asks the settings node as the browser `socketid`; resolves with its answer to that browser. */
  async function ask(topic: string, payload: unknown, socketid: string): Promise<CameraSettingsView> {
    const before = views().length;
    helper.getNode("settings")!.receive({ topic, payload, socketid } as never);
    await until(() => views().slice(before).some((v) => v.socketid === socketid), `the answer to ${socketid}`);
    return views().slice(before).find((v) => v.socketid === socketid)!.payload;
  }
  const cam1 = (v: CameraSettingsView) => v.cameras.find((c) => c.device === "cam1");
  const configs = () => h.client.received.filter((m) => m.topic === "pifog/cam1/camera/config");

  it("an operator's change reaches the Pi, which applies it at once and reports its version: pending → applied", async () => {
    await loadUntilOnline(h, nodes, both());
    // the Pi starts with the defaults, sends them to the camera nodes and reports version 0: the hub lists it
    await until(() => settingsOut().length === 1, "the Pi's settings at start");
    assert.equal(settingsOut()[0]!.topic, "camera/settings");
    assert.equal(settingsOut()[0]!.settings.version, 0);
    await until(() => views().some((v) => cam1(v.payload)?.status === "applied"), "the hub hears of cam1");

    const changes = { sensitivity: 70, recordingWindow: { from: "22:00", to: "06:00" }, mask: [{ x: 0, y: 0, w: 0.25, h: 0.5 }], rotation: 180, fps: 15 };
    const answer = await ask("save", { device: "cam1", settings: changes }, BROWSERS.operator.socketid);
    assert.equal(answer.message, "cam1: settings v1 saved and sent to the camera (its state is shown beside its name)");
    assert.equal(answer.canEdit, true);
    assert.equal(cam1(answer)?.status, "pending");
    assert.equal(cam1(answer)?.settings.version, 1);

    await until(() => settingsOut().length === 2, "the camera nodes get the new settings");
    const applied = settingsOut()[1]!.settings;
    assert.deepEqual({ ...applied }, { ...applied, version: 1, ...changes });
    const report = h.client.json<SettingsApplied>(await h.client.waitFor("pifog/cam1/camera/applied", (m) => m.payload.includes('"version":1')));
    assert.equal(report.error, undefined);
    await until(() => views().some((v) => !v.socketid && cam1(v.payload)?.status === "applied" && cam1(v.payload)?.settings.version === 1), "every browser sees it applied");

    const config = configs().at(-1)!;
    assert.equal(h.client.json<CameraSettings>(config).version, 1);
    const stored = JSON.parse(fs.readFileSync(path.join(h.dataDir, "camera-settings.json"), "utf8")) as { cameras: Record<string, CameraSettings> };
    assert.equal(stored.cameras.cam1!.sensitivity, 70);
    const kept = JSON.parse(fs.readFileSync(path.join(h.dataDir, "camera-settings-applied-cam1.json"), "utf8")) as CameraSettings;
    assert.equal(kept.version, 1);
    assert.ok(new Audit(h.dataDir).read().some((r) => r.event === "camera.settings.changed" && r.user === "pat-operator" && r.device === "cam1"));

    // a second change: version 2
    const second = await ask("save", { device: "cam1", settings: { notifications: false } }, BROWSERS.admin.socketid);
    assert.equal(cam1(second)?.settings.version, 2);
    assert.equal(cam1(second)?.settings.sensitivity, 70, "the other fields stay");
    await until(() => settingsOut().length === 3 && settingsOut()[2]!.settings.notifications === false, "applied");
  });

  it("refuses invalid settings on the hub with every reason: nothing stored or sent, audited", async () => {
    await loadUntilOnline(h, nodes, both());
    await until(() => views().some((v) => cam1(v.payload)), "the hub hears of cam1");
    const answer = await ask("save", { device: "cam1", settings: { sensitivity: 500, rotation: 45, recordingWindow: { from: "25:00", to: "06:00" } } }, BROWSERS.operator.socketid);
    assert.match(answer.error!, /sensitivity 500 is not within 1\.\.100/);
    assert.match(answer.error!, /rotation must be 0, 90, 180 or 270, not 45/);
    assert.match(answer.error!, /recordingWindow must be null \(always\) or \{from, to\} as "HH:MM"/);
    assert.equal(cam1(answer)?.settings.version, 0);
    assert.equal(configs().length, 0, "nothing published");
    assert.equal(fs.existsSync(path.join(h.dataDir, "camera-settings.json")), false);
    assert.ok(new Audit(h.dataDir).read().some((r) => r.event === "camera.settings.refused" && /sensitivity 500/.test(r.reason)));
    const unknown = await ask("save", { device: "cam9", settings: {} }, BROWSERS.operator.socketid);
    assert.match(unknown.error!, /no camera cam9/);
  });

  it("the Pi refuses a bad config: keeps its settings, dead-letters it, and reports why; the hub shows the reason", async () => {
    await loadUntilOnline(h, nodes, both());
    await until(() => settingsOut().length === 1, "started");
    await h.client.publish("pifog/cam1/camera/config", JSON.stringify({ ...settingsOut()[0]!.settings, version: 7, width: 4000 }), { retain: true });
    const report = h.client.json<SettingsApplied>(await h.client.waitFor("pifog/cam1/camera/applied", (m) => m.payload.includes("refusedVersion")));
    assert.equal(report.version, 0, "the settings in use");
    assert.equal(report.refusedVersion, 7);
    assert.match(report.error!, /width 4000 is not within 160\.\.1920/);
    assert.equal(settingsOut().length, 1, "nothing new for the camera nodes");
    const letter = h.services.deadLetters.read().find((l) => l.type === "camera-config");
    assert.match(letter!.error, /refused the camera settings, kept v0: invalid camera settings: width 4000/);
    await until(() => views().some((v) => /width 4000/.test(cam1(v.payload)?.applied?.error ?? "")), "the hub shows the Pi's reason");
    await h.client.publish("pifog/cam1/camera/config", "not json", { retain: true });
    await h.client.waitFor("pifog/cam1/camera/applied", (m) => m.payload.includes("the config is not JSON"));
  });

  it("refuses a viewer (and a browser without a session): read-only, answered, audited, nothing changed", async () => {
    await loadUntilOnline(h, nodes, both());
    await until(() => views().some((v) => cam1(v.payload)), "the hub hears of cam1");
    const seen = await ask("list", {}, BROWSERS.viewer.socketid);
    assert.equal(seen.canEdit, false, "a viewer sees the settings, read-only");
    assert.equal(cam1(seen)?.settings.sensitivity, 50);
    const refused = await ask("save", { device: "cam1", settings: { sensitivity: 90 } }, BROWSERS.viewer.socketid);
    assert.equal(refused.error, "operators only: pat-viewer is a viewer");
    const nobody = await ask("save", { device: "cam1", settings: { sensitivity: 90 } }, "sock-nobody");
    assert.equal(nobody.error, "sign in first: no live session on this browser");
    assert.equal(configs().length, 0);
    assert.equal(fs.existsSync(path.join(h.dataDir, "camera-settings.json")), false);
    const audit = new Audit(h.dataDir).read().filter((r) => r.event === "dashboard.action.refused");
    assert.deepEqual(audit.map((r) => [r.user ?? null, r.action]), [
      ["pat-viewer", "camera-settings:save cam1"],
      [null, "camera-settings:save cam1"],
    ]);
  });

  it("keeps the settings across restarts: the hub's store, and the Pi's last applied ones even without the broker", async () => {
    await loadUntilOnline(h, nodes, both());
    await until(() => views().some((v) => cam1(v.payload)), "the hub hears of cam1");
    await ask("save", { device: "cam1", settings: { fps: 5, width: 320, height: 240 } }, BROWSERS.operator.socketid);
    await h.client.waitFor("pifog/cam1/camera/applied", (m) => m.payload.includes('"version":1'));
    await helper.unload();

    // the Pi alone, its broker gone
    await helper.load(nodes, [{ id: "tab", type: "tab" }, ...camFlow("mqtt://127.0.0.1:1")]);
    await until(() => settingsOut().length === 1, "the settings at start");
    assert.deepEqual([settingsOut()[0]!.settings.version, settingsOut()[0]!.settings.fps, settingsOut()[0]!.settings.width], [1, 5, 320]);
    await helper.unload();

    // the hub again: its store, published again
    const before = configs().length;
    await loadUntilOnline(h, nodes, [{ id: "tab", type: "tab" }, ...hubFlow()]);
    const list = await ask("list", {}, BROWSERS.admin.socketid);
    assert.deepEqual([cam1(list)?.settings.version, cam1(list)?.settings.fps, cam1(list)?.stored], [1, 5, true]);
    await until(() => configs().length > before, "published again at start");
  });
});
