// Issue 13's settings and health on the real all-in-one runtime (every role's flow): every role reports its health
// and the hub judges each device healthy; the Devices tab shows it to an admin. On the Cameras tab an operator changes
// the CameraPi's settings through the dashboard's socket: the hub stores and publishes them, the CameraPi's
// camera-config applies them and reports the version, and the tab goes from pending to applied. A viewer sees the
// settings read-only; their attempt to change them is refused by the socket (a notification), audited, and changes
// nothing.
import assert from "node:assert/strict";
import { Audit } from "../../nodes/lib/audit/audit";
import type { CameraSettingsView } from "../../nodes/camera-settings/camera-settings";
import type { DevicesView } from "../../nodes/device-admin/device-admin";
import type { HealthReport, HealthState, SettingsApplied } from "../../nodes/lib/camera/types";
import { ALL_IN_ONE } from "../../nodes/lib/runtime/flows";
import { DashboardSocket, type Update } from "../support/dashboard-socket";
import { TestClient } from "../support/mqtt";
import { MQTT_ADMIN, startRuntime, type TestRuntime } from "../support/runtime";
import { until } from "../support/until";

const view = (u: Update) => u.msg?.payload as CameraSettingsView | undefined;
const camera = (u: Update) => view(u)?.cameras?.find((c) => c.device === "camerapi");

describe("camera settings and device health (all-in-one)", function () {
  this.timeout(90_000);
  let fog: TestRuntime;
  let client: TestClient;
  const open: DashboardSocket[] = [];

  before(async () => {
    fog = await startRuntime({ role: "all" });
    client = await TestClient.connect(fog.info.mqtt, MQTT_ADMIN);
    await client.subscribe("pifog/+/health", "pifog/+/health/state", "pifog/+/camera/config", "pifog/+/camera/applied");
  });
  after(async () => {
    for (const s of open) s.close();
    await client?.end();
    await fog?.stop();
  });

  async function socket(role: "viewer" | "operator" | "admin"): Promise<DashboardSocket> {
    const s = await DashboardSocket.connect(fog.info.http, fog.cookies[role]);
    open.push(s);
    return s;
  }

  it("every role reports its health, the hub judges each device healthy, and an admin's Devices tab shows it", async () => {
    for (const role of ALL_IN_ONE) {
      const r = client.json<HealthReport>(await client.waitFor(`pifog/${role}/health`, () => true, 30_000));
      assert.equal(r.device, role);
      assert.equal(r.cpuTemperatureC, null, "simulated hardware");
      assert.equal(r.intervalSeconds, 60);
    }
    for (const role of ALL_IN_ONE) {
      const s = client.json<HealthState>(await client.waitFor(`pifog/${role}/health/state`, () => true, 30_000));
      assert.equal(s.state, "healthy", role);
    }
    const admin = await socket("admin");
    admin.emit("update-value", { id: "hub-devices-ui", msg: { topic: "list", payload: {} } });
    const u = await admin.update((x) => x.id === "hub-devices-ui" && ((x.msg?.payload as DevicesView)?.health ?? []).length >= ALL_IN_ONE.length, 15_000);
    const rows = (u.msg!.payload as DevicesView).health;
    for (const role of ALL_IN_ONE) {
      const row = rows.find((r) => r.device === role)!;
      assert.equal(row.state, "healthy", role);
      assert.ok(row.ageSeconds !== null && row.memoryPercent !== null && row.diskPercent !== null && row.load !== null);
    }
  });

  it("an operator's change reaches the CameraPi and comes back applied; a viewer is read-only and refused, audited", async () => {
    const operator = await socket("operator");
    const first = await operator.update((u) => u.id === "hub-camset-ui" && camera(u)?.status === "applied", 20_000);
    assert.equal(view(first)?.canEdit, true);
    const before = camera(first)!.settings.version;

    operator.emit("update-value", { id: "hub-camset-ui", msg: { topic: "save", payload: { device: "camerapi", settings: { sensitivity: 65, timelapseMinutes: 10 } } } });
    const saved = await operator.update((u) => u.id === "hub-camset-ui" && /settings v\d+ saved/.test(String(view(u)?.message)), 15_000);
    const version = camera(saved)!.settings.version;
    assert.equal(version, before + 1);
    const applied = client.json<SettingsApplied>(await client.waitFor("pifog/camerapi/camera/applied", (m) => client.json<SettingsApplied>(m).version === version, 15_000));
    assert.equal(applied.error, undefined);
    await operator.update((u) => u.id === "hub-camset-ui" && camera(u)?.status === "applied" && camera(u)?.settings.version === version, 15_000);

    const viewer = await socket("viewer");
    const seen = await viewer.update((u) => u.id === "hub-camset-ui" && camera(u)?.settings.version === version, 15_000);
    assert.equal(view(seen)?.canEdit, false, "read-only for a viewer");
    assert.equal(camera(seen)?.settings.sensitivity, 65);
    viewer.emit("update-value", { id: "hub-camset-ui", msg: { topic: "save", payload: { device: "camerapi", settings: { sensitivity: 1 } } } });
    assert.match(await viewer.toast(/^Refused:/), /operators only/);
    await until(() => new Audit(fog.dataDir).read().some((a) => a.event === "dashboard.event.refused" && a.user === "pat-viewer"), "the viewer's refusal audited");
    const configs = client.received.filter((m) => m.topic === "pifog/camerapi/camera/config").map((m) => client.json<{ version: number; sensitivity: number }>(m));
    assert.equal(configs.at(-1)!.version, version, "nothing new published");
    assert.equal(configs.at(-1)!.sensitivity, 65);
  });
});
