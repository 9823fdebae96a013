// Device health (issue 13) against a real in-process broker, on the fake clock: every role's health node publishes
// its report retained (temperature null off a Pi, the data dir's disk, the newest dead letter as the last error) and
// follows a camera's health interval; the hub's health-monitor marks a silent device unhealthy after two missed
// reports and the grace, healthy when its reports return, with Pi In The Sky's notification texts; a restarted hub
// raises no alarm for devices that kept reporting or were already unhealthy (and does for one that died meanwhile);
// and the Devices tab shows each device's health.
import assert from "node:assert/strict";
import health from "../../nodes/health/health";
import healthMonitor, { normaliseHealthMonitor } from "../../nodes/health-monitor/health-monitor";
import deviceAdmin, { type DevicesView } from "../../nodes/device-admin/device-admin";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import { Audit } from "../../nodes/lib/audit/audit";
import type { HealthReport, HealthState, SettingsMessage } from "../../nodes/lib/camera/types";
import { defaultCameraSettings } from "../../nodes/lib/camera/settings";
import { pifogVersion } from "../../nodes/lib/device-info";
import { advance, advanceUntil } from "../support/clock-pump";
import { BROWSERS, signedInBrowsers } from "../support/dashboard-people";
import { FakeClock } from "../support/fake-clock";
import { translated } from "../support/messages";
import { TestClient } from "../support/mqtt";
import { deviceNode, helper, loadUntilOnline, startHarness, type Harness } from "../support/node-harness";

const T0 = Date.UTC(2026, 5, 1, 12, 0, 0);

interface Out {
  topic?: string;
  payload: unknown;
  subject?: string;
  to?: string;
  health?: HealthState;
}

/** Every message the helper node `id` receives, in order. */
function collect(id: string): Out[] {
  const got: Out[] = [];
  (helper.getNode(id) as unknown as NodeJS.EventEmitter).on("input", (m: Out) => got.push(m));
  return got;
}

function report(device: string, at: number, intervalSeconds = 60): HealthReport {
  return {
    device,
    at,
    version: "1.0.0",
    uptimeSeconds: 1000,
    load: [0.5, 0.4, 0.3],
    cpuTemperatureC: 51.5,
    memory: { totalBytes: 512 * 2 ** 20, availableBytes: 128 * 2 ** 20 },
    disk: { totalBytes: 16e9, availableBytes: 4e9 },
    lastError: null,
    intervalSeconds,
  };
}

describe("health node (every role)", function () {
  this.timeout(30_000);
  let h: Harness;
  let clock: FakeClock;

  beforeEach(async () => {
    h = await startHarness();
    clock = new FakeClock(T0);
    h.useServices({ clock });
  });
  afterEach(async () => {
    await h.close();
  });

  const flow = (extra: Record<string, unknown> = {}) => [
    { id: "tab", type: "tab" },
    deviceNode("d1", h.url),
    { id: "reporter", type: "health", z: "tab", device: "cfg-d1", interval: "", wires: [["out"]], ...extra },
    { id: "out", type: "helper", z: "tab" },
  ];
  const reportsOf = () => h.client.received.filter((m) => m.topic === "pifog/d1/health").map((m) => h.client.json<HealthReport>(m));

  it("publishes a report at start, retained with QoS 1: null temperature off a Pi, load, memory, the data dir's disk, uptime, version", async () => {
    await helper.load(translated([pifogDevice, health]), flow());
    const r = h.client.json<HealthReport>(await h.client.waitFor("pifog/d1/health"));
    assert.equal(r.device, "d1");
    assert.equal(r.at, T0);
    assert.equal(r.version, pifogVersion());
    assert.equal(r.cpuTemperatureC, null, "simulated hardware: no temperature");
    assert.equal(r.intervalSeconds, 60, "every 60 s by default");
    assert.equal(r.load.length, 3);
    assert.ok(r.memory.totalBytes > 0 && r.memory.availableBytes > 0 && r.memory.availableBytes <= r.memory.totalBytes);
    assert.ok(r.disk.totalBytes > 0 && r.disk.availableBytes <= r.disk.totalBytes);
    assert.ok(r.uptimeSeconds > 0);
    assert.equal(r.lastError, null, "no dead letter yet");
    const late = await TestClient.connect(h.url, h.auth);
    await late.subscribe("pifog/d1/health");
    assert.equal((await late.waitFor("pifog/d1/health")).retain, true, "retained");
    await late.end();
  });

  it("reports every interval on the clock, the newest dead letter as its last error, and takes a camera's health interval", async () => {
    await helper.load(translated([pifogDevice, health]), flow({ interval: "30" }));
    await h.client.waitFor("pifog/d1/health");
    h.services.deadLetters.append({ node: "n1", type: "motion-detect", error: "frame 12 is not a JPEG" }, new Date(T0 + 5_000));
    await advanceUntil(clock, () => reportsOf().length >= 2, "the second report", { stepMs: 1000 });
    const second = reportsOf()[1]!;
    assert.equal(second.at, T0 + 30_000);
    assert.deepEqual(second.lastError, { at: T0 + 5_000, message: "motion-detect: frame 12 is not a JPEG" });

    const settings: SettingsMessage = { topic: "camera/settings", settings: { ...defaultCameraSettings(), healthSeconds: 120 } };
    helper.getNode("reporter")!.receive(settings as never);
    await h.client.waitFor("pifog/d1/health", (m) => h.client.json<HealthReport>(m).intervalSeconds === 120);
    const n = reportsOf().length;
    await advance(clock, 119_000, { stepMs: 1000 });
    assert.equal(reportsOf().length, n, "nothing before 120 s");
    await advanceUntil(clock, () => reportsOf().length > n, "the report 120 s later", { stepMs: 1000 });
  });
});

describe("health-monitor node (the hub)", function () {
  this.timeout(60_000);
  let h: Harness;
  let clock: FakeClock;

  beforeEach(async () => {
    h = await startHarness();
    clock = new FakeClock(T0);
    h.useServices({ clock });
  });
  afterEach(async () => {
    await h.close();
  });

  const flow = [
    { id: "tab", type: "tab" },
    deviceNode("hub", "" /* the runtime's broker */),
    { id: "monitor", type: "health-monitor", z: "tab", device: "cfg-hub", grace: "30", settle: "5", to: "ops@example.com", wires: [["notes"]] },
    { id: "notes", type: "helper", z: "tab" },
    { id: "devices", type: "device-admin", z: "tab", tab: "Devices", wires: [["answers"], []] },
    { id: "answers", type: "helper", z: "tab" },
  ];
  const nodes = translated([pifogDevice, healthMonitor, deviceAdmin]);
  const pump = { stepMs: 1000 };
  const stateOf = (device: string) => {
    const m = [...h.client.received].reverse().find((r) => r.topic === `pifog/${device}/health/state`);
    return m ? h.client.json<HealthState>(m) : null;
  };
  const publishReport = (r: HealthReport) => h.client.publish(`pifog/${r.device}/health`, JSON.stringify(r), { retain: true });

  it("normalises its settings", () => {
    assert.deepEqual(normaliseHealthMonitor({}), { graceMs: 30_000, settleMs: 5_000, to: [] });
    assert.throws(() => normaliseHealthMonitor({ to: "ops@example.com, not an address" }), /not an e-mail address: not an address/);
  });

  it("marks a silent device unhealthy after 2 × its interval + the grace, healthy when reports return, and says so", async () => {
    await loadUntilOnline(h, nodes, flow);
    const notes = collect("notes");
    await publishReport(report("cam1", T0));
    await advanceUntil(clock, () => stateOf("cam1")?.state === "healthy", "cam1 judged healthy", pump);
    assert.equal(notes.length, 0, "a device's first judgement is no news");
    const state = h.client.received.find((m) => m.topic === "pifog/cam1/health/state")!;
    assert.equal(state.retain, false, "(a live delivery; it is published retained:)");
    const late = await TestClient.connect(h.url, h.auth);
    await late.subscribe("pifog/cam1/health/state");
    assert.equal((await late.waitFor("pifog/cam1/health/state")).retain, true);
    await late.end();

    // 2 × 60 s + 30 s after its last report (its arrival, on the hub's clock): healthy up to then, unhealthy after
    const seenAt = stateOf("cam1")!.lastReportAt!;
    assert.ok(seenAt >= T0 && seenAt < T0 + 10_000);
    await advance(clock, seenAt + 150_000 - clock.now(), pump);
    assert.equal(stateOf("cam1")?.state, "healthy");
    await advanceUntil(clock, () => notes.length === 1, "the unhealthy notification", pump);
    assert.ok(clock.now() > seenAt + 150_000 && clock.now() <= seenAt + 152_000);
    assert.equal(notes[0]!.payload, "cam1 is now UNHEALTHY");
    assert.equal(notes[0]!.subject, "cam1 is now UNHEALTHY");
    assert.equal(notes[0]!.to, "ops@example.com");
    const unhealthy = h.client.json<HealthState>(await h.client.waitFor("pifog/cam1/health/state", (m) => m.payload.includes('"unhealthy"')));
    assert.equal(unhealthy.lastReportAt, seenAt);
    assert.equal(unhealthy.since, seenAt + 150_000, "since the report was overdue");

    await advance(clock, 600_000, pump);
    assert.equal(notes.length, 1, "said once");
    await publishReport(report("cam1", clock.now()));
    await advanceUntil(clock, () => notes.length === 2, "the healthy notification", pump);
    assert.equal(notes[1]!.payload, "cam1 is now HEALTHY");
    await h.client.waitFor("pifog/cam1/health/state", (m) => m.payload.includes('"healthy"') && h.client.json<HealthState>(m).since > seenAt + 150_000);
  });

  it("after a restart: no alarm for a device that kept reporting or was unhealthy already; an alarm for one that died meanwhile", async () => {
    // "dead" stopped an hour before the hub's first start: its retained report says when it was made
    await publishReport(report("dead", T0 - 3_600_000));
    await loadUntilOnline(h, nodes, flow);
    let notes = collect("notes");
    await publishReport(report("alive", T0));
    await publishReport(report("dies", T0));
    await advanceUntil(clock, () => stateOf("alive")?.state === "healthy" && stateOf("dies")?.state === "healthy" && stateOf("dead")?.state === "unhealthy", "first judgements", pump);
    assert.equal(notes.length, 0);
    await helper.unload();

    // the hub is down for 100 s: "alive" goes on reporting (retained), "dies" stops
    clock.tick(50_000);
    await publishReport(report("alive", clock.now()));
    clock.tick(50_000);
    const restartedAt = clock.now();
    await loadUntilOnline(h, nodes, flow);
    notes = collect("notes");
    await advance(clock, 10_000, pump);
    assert.deepEqual(notes.map((n) => n.payload), [], "nothing within the settle time and right after");
    assert.equal(stateOf("alive")?.state, "healthy");
    await advanceUntil(clock, () => notes.length >= 1, "the alarm for the device that stopped", pump);
    assert.deepEqual(notes.map((n) => n.payload), ["dies is now UNHEALTHY"]);
    assert.ok(clock.now() >= restartedAt + 5_000 && clock.now() <= T0 + 152_000, "judged by when its last report was made");
    await advance(clock, 30_000, pump);
    assert.deepEqual(notes.map((n) => n.payload), ["dies is now UNHEALTHY"], "no news of the others");
  });

  it("shows each device's health on the Devices tab (admins): state, last report's age, temperature, load, memory, disk", async () => {
    const services = h.services;
    await signedInBrowsers(services);
    await loadUntilOnline(h, nodes, flow);
    await publishReport({ ...report("cam1", T0), lastError: { at: T0 - 1000, message: "camera-stream: rpicam-vid exited" } });
    await advanceUntil(clock, () => stateOf("cam1")?.state === "healthy", "cam1 judged", pump);
    await advance(clock, 42_000, pump);
    const answer = new Promise<{ payload: DevicesView }>((resolve) => (helper.getNode("answers") as unknown as NodeJS.EventEmitter).once("input", resolve));
    helper.getNode("devices")!.receive({ topic: "list", socketid: BROWSERS.admin.socketid } as never);
    const rows = (await answer).payload.health;
    const cam = rows.find((r) => r.device === "cam1")!;
    assert.ok(cam, "cam1 is listed");
    assert.equal(cam.state, "healthy");
    assert.equal(cam.ageSeconds, Math.round((clock.now() - cam.lastReportAt!) / 1000), "the last report's age on the clock");
    assert.ok(cam.ageSeconds! >= 42);
    assert.equal(cam.cpuTemperatureC, 51.5);
    assert.equal(cam.load, 0.5);
    assert.equal(cam.memoryPercent, 75);
    assert.equal(cam.diskPercent, 75);
    assert.equal(cam.lastError, "camera-stream: rpicam-vid exited");

    const refused = new Promise<{ payload: DevicesView }>((resolve) => (helper.getNode("answers") as unknown as NodeJS.EventEmitter).once("input", resolve));
    helper.getNode("devices")!.receive({ topic: "list", socketid: BROWSERS.viewer.socketid } as never);
    assert.deepEqual((await refused).payload.health, [], "a viewer sees no device's health here");
    assert.ok(new Audit(h.dataDir).read().some((r) => r.event === "dashboard.action.refused"));
  });

  it("refuses a report that is not one (or names another device), with a dead letter, and goes on", async () => {
    await loadUntilOnline(h, nodes, flow);
    await h.client.publish("pifog/cam9/health", "not json");
    await h.client.publish("pifog/cam9/health", JSON.stringify(report("cam1", T0)));
    await publishReport(report("cam2", T0));
    await advanceUntil(clock, () => stateOf("cam2")?.state === "healthy", "cam2 judged", pump);
    const letters = h.services.deadLetters.read().filter((l) => l.type === "health-monitor");
    assert.equal(letters.length, 2);
    assert.match(letters[0]!.error, /not a health report for the device its topic names \(pifog\/cam9\/health\)/);
    assert.equal(stateOf("cam9"), null);
  });
});
