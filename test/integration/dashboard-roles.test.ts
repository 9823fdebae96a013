// Every dashboard socket event of the shipped flows, by role, against the real all-in-one runtime (which loads every
// role's tabs): the table is built from the flow files, so a widget added to a flow is in it without anyone
// remembering to add it. A browser that is not signed in is refused at connect; a viewer may navigate (and use a
// widget marked `pifog-view`), an operator also acts (the door, the camera, the simulators, the alerts), an admin also
// manages users and devices (widgets marked `pifog-admin`); a widget that takes no input takes none from anyone.
// Every refusal is told to that browser, audited and dead-lettered; a session that ends cuts its socket at once.
import assert from "node:assert/strict";
import path from "node:path";
import { Audit } from "../../nodes/lib/audit/audit";
import { roleForClassName } from "../../nodes/lib/dashboard/socket-events";
import { DeadLetterFile } from "../../nodes/lib/dead-letter";
import type { UserRole } from "../../nodes/lib/identity/types";
import { composeFlow } from "../../nodes/lib/runtime/flows";
import { roleAtLeast } from "../../nodes/lib/security/api-tokens";
import { DashboardSocket } from "../support/dashboard-socket";
import { TEST_PEOPLE } from "../support/people";
import { startRuntime, type TestRuntime } from "../support/runtime";
import { until } from "../support/until";

const FLOWS = path.resolve(__dirname, "..", "..", "..", "flows");
const ROLES: readonly UserRole[] = ["viewer", "operator", "admin"];

interface Row {
  /** What the row is, for messages. */
  name: string;
  packet: unknown[];
  /** The least role allowed; "nobody": no browser may send it (a widget that takes no input). */
  needs: UserRole | "nobody";
}

/** The table: every navigation event, and an update-value for every widget of the shipped flows whose output is wired. */
function table(): Row[] {
  const rows: Row[] = [
    { name: "ui-change", packet: ["ui-change", 0], needs: "viewer" },
    { name: "ui-replay-state", packet: ["ui-replay-state"], needs: "viewer" },
    { name: "ui-collapse", packet: ["ui-collapse", { group: "Front door", state: true }], needs: "viewer" },
    { name: "ui-audio", packet: ["ui-audio", "complete"], needs: "viewer" },
    { name: "ui-params", packet: ["ui-params", { tab: "1" }], needs: "viewer" },
  ];
  for (const n of composeFlow("all", FLOWS)) {
    if (typeof n.type !== "string" || !n.type.startsWith("ui_")) continue;
    const wired = Array.isArray(n.wires) && (n.wires as unknown[][]).some((w) => Array.isArray(w) && w.length > 0);
    if (!wired) continue;
    const template = n.type === "ui_template";
    const takesInput = template ? (n.templateScope ?? "local") === "local" && n.storeOutMessages !== true : n.type !== "ui_ui_control";
    rows.push({
      name: `update-value ${n.id} (${n.type})`,
      packet: ["update-value", template ? { id: n.id, msg: { topic: "pifog-table-probe" } } : { id: n.id, value: 1 }],
      needs: takesInput ? roleForClassName(n.className) : "nobody",
    });
  }
  return rows;
}

describe("dashboard socket events by role (role all: every shipped widget)", function () {
  this.timeout(90_000);
  let fog: TestRuntime;
  const rows = table();
  const open: DashboardSocket[] = [];
  const letters = () => new DeadLetterFile(fog.dataDir).read().filter((l) => l.node === "dashboard-socket");

  before(async () => {
    fog = await startRuntime({ role: "all" });
  });
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });
  after(async () => {
    await fog?.stop();
  });

  it("builds its table from the flow files: every action widget is in it, with the role its class names", () => {
    const needs = new Map(rows.map((r) => [String((r.packet[1] as { id?: string } | undefined)?.id ?? r.name), r.needs]));
    assert.equal(needs.get("hub-front-ops-ui"), "operator", "the door and the camera");
    assert.equal(needs.get("hub-sim-ui"), "operator", "the simulators");
    assert.equal(needs.get("sensorhub-alerts-ui"), "operator", "acknowledging alerts");
    assert.equal(needs.get("hub-users-ui"), "admin");
    assert.equal(needs.get("hub-devices-ui"), "admin");
    assert.equal(needs.get("sensorhub-env-opened"), "nobody", "a ui_control takes no input");
  });

  it("refuses a browser that is not signed in before it can send anything", async () => {
    await assert.rejects(DashboardSocket.connect(fog.info.http), /sign in first/);
  });

  for (const role of ROLES) {
    it(`${role}: allowed exactly what ${role === "viewer" ? "a" : "an"} ${role} may send; every other event refused, told, audited and dead-lettered`, async () => {
      const person = TEST_PEOPLE[role].name;
      const socket = await DashboardSocket.connect(fog.info.http, fog.cookies[role]);
      open.push(socket);
      const lettersBefore = letters().length;
      for (const row of rows) socket.emit(...(row.packet as [string, ...unknown[]]));
      // events on one socket are checked in order: once the hub answers this refresh, it has checked every row
      const synced = socket.nextControls();
      socket.emit("ui-refresh", {});
      await synced;

      const refusedByRole = rows.filter((r) => r.needs !== "nobody" && !roleAtLeast(role, r.needs));
      const noInput = rows.filter((r) => r.needs === "nobody");
      const mine = letters().slice(lettersBefore);
      const roleLetters = mine.filter((l) => l.error.includes(`${role} ${person} may not do this`));
      const idOf = (payload: string | undefined) => /"id":"([^"]+)"/.exec(payload ?? "")?.[1];
      assert.deepEqual(
        roleLetters.map((l) => idOf(l.payload)).sort(),
        refusedByRole.map((r) => (r.packet[1] as { id: string }).id).sort(),
        `refused for the ${role} by role`,
      );
      assert.deepEqual(
        mine.filter((l) => !roleLetters.includes(l)).map((l) => idOf(l.payload)).sort(),
        noInput.map((r) => (r.packet[1] as { id: string }).id).sort(),
        "nothing else dropped but input to widgets that take none: every allowed row passed",
      );
      assert.equal(socket.toasts.filter((t) => t.startsWith("Refused:")).length, refusedByRole.length, "the browser is told each time");
      await until(
        () => new Audit(fog.dataDir).read().filter((a) => a.event === "dashboard.event.refused" && a.user === person).length === refusedByRole.length,
        `the ${role}'s refusals audited`,
      );
    });
  }

  it("a session that ends (an admin sets the viewer's password) cuts that browser at its next event, saying why", async () => {
    const viewer = await DashboardSocket.connect(fog.info.http, fog.cookies.viewer);
    const admin = await DashboardSocket.connect(fog.info.http, fog.cookies.admin);
    open.push(viewer, admin);
    admin.emit("update-value", { id: "hub-users-ui", msg: { topic: "set-password", payload: { name: TEST_PEOPLE.viewer.name, password: "a-new-viewer-password" } } });
    await admin.update((u) => u.id === "hub-users-ui" && /password of pat-viewer set; \d+ session\(s\) ended/.test(String((u.msg?.payload as { message?: string })?.message)), 15_000);
    viewer.emit("ui-change", 1);
    assert.match(await viewer.toast(/session has ended/), /sign in again/);
    assert.equal(await viewer.disconnected, "io server disconnect");
    await assert.rejects(DashboardSocket.connect(fog.info.http, fog.cookies.viewer), /sign in first/, "and cannot come back with that cookie");
    await until(() => new Audit(fog.dataDir).read().some((a) => a.event === "dashboard.session.ended"), "audited");
  });
});
