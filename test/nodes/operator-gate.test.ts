// The operator gate in front of the dashboard's door buttons: only an operator's or an admin's browser gets an action
// through, named by the session on the socket it came from (never the message); a viewer, or a browser whose session
// ended, is answered "operators only", audited, and a refused open-door is in the door audit. When a browser
// connects, it is told who is signed in and whether its buttons work.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Audit } from "../../nodes/lib/audit/audit";
import { DoorAudit } from "../../nodes/lib/door-audit";
import type { PifogServices } from "../../nodes/lib/services";
import operatorGate, { normaliseOperatorGate } from "../../nodes/operator-gate/operator-gate";
import { BROWSERS, signedInBrowsers } from "../support/dashboard-people";
import { FakeClock } from "../support/fake-clock";
import { helper } from "../support/node-harness";
import { TEST_PEOPLE } from "../support/people";
import { testServices } from "../support/services";

interface Answer {
  topic: string;
  socketid?: string;
  payload: { operator: string | null; role: string | null; canAct: boolean; error?: string; refused?: string };
}

const flow = [
  { id: "tab", type: "tab" },
  { id: "gate", type: "operator-gate", z: "tab", door: "frontdoor", wires: [["allowed"], ["answers"]] },
  { id: "allowed", type: "helper", z: "tab" },
  { id: "answers", type: "helper", z: "tab" },
];

function next<T>(id: string): Promise<T> {
  return new Promise((resolve) => (helper.getNode(id) as unknown as NodeJS.EventEmitter).once("input", resolve));
}

describe("operator-gate node", function () {
  this.timeout(20_000);
  let dataDir: string;
  let services: PifogServices;
  const through: unknown[] = [];

  beforeEach(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-gate-"));
    services = testServices({ dataDir, clock: new FakeClock(Date.UTC(2026, 11, 7, 9, 0, 0)) });
    await signedInBrowsers(services);
    helper.settings({ pifogServices: services });
    await helper.load([operatorGate], flow);
    through.length = 0;
    (helper.getNode("allowed") as unknown as NodeJS.EventEmitter).on("input", (m: unknown) => through.push(m));
  });
  afterEach(async () => {
    await helper.unload();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const gate = () => helper.getNode("gate")!;
  async function act(topic: string, socketid: string, extra: Record<string, unknown> = {}): Promise<Answer> {
    const answer = next<Answer>("answers");
    gate().receive({ topic, payload: {}, socketid, ...extra } as never);
    return answer;
  }

  it("normalises its settings", () => {
    assert.deepEqual(normaliseOperatorGate({}), { door: "buttonpi" });
    assert.deepEqual(normaliseOperatorGate({ door: "${FRONT_DOOR_OPENER}" }), { door: "buttonpi" });
  });

  it("lets an operator's and an admin's action through, named by their session, whatever the message says", async () => {
    for (const role of ["operator", "admin"] as const) {
      const allowed = next<{ topic: string; operator: string; payload: unknown; token?: unknown }>("allowed");
      gate().receive({ topic: "open-door", payload: { id: "x1" }, operator: "mallory", token: "t", socketid: BROWSERS[role].socketid } as never);
      const m = await allowed;
      assert.deepEqual([m.topic, m.operator, m.payload, m.token], ["open-door", TEST_PEOPLE[role].name, { id: "x1" }, undefined]);
    }
  });

  it("refuses a viewer's open-door: answered to that browser, audited with who, in the door audit, nothing through", async () => {
    const a = await act("open-door", BROWSERS.viewer.socketid);
    assert.equal(a.socketid, BROWSERS.viewer.socketid);
    assert.deepEqual([a.payload.refused, a.payload.canAct, a.payload.operator, a.payload.role], ["open-door", false, TEST_PEOPLE.viewer.name, "viewer"]);
    assert.match(a.payload.error!, /operators only: pat-viewer is a viewer|refused\.not-operator/);
    const door = new DoorAudit(dataDir).read();
    assert.equal(door.length, 1);
    assert.deepEqual([door[0]!.device, door[0]!.result, door[0]!.reason, door[0]!.via, door[0]!.by], ["frontdoor", "refused", "not-allowed", "dashboard", "pat-viewer"]);
    const refused = new Audit(dataDir).read().filter((r) => r.event === "dashboard.action.refused");
    assert.deepEqual(refused.map((r) => [r.who, r.action, r.role]), [["pat-viewer@192.0.2.10", "open-door", "viewer"]]);
    assert.equal(through.length, 0);
  });

  it("refuses a browser with no session, and one whose session has ended, at the next action", async () => {
    const stranger = await act("take-picture", "sock-unknown");
    assert.deepEqual([stranger.payload.refused, stranger.payload.operator], ["take-picture", null]);
    assert.match(stranger.payload.error!, /sign in first|refused\.no-session/);
    services.webSessions.endFor(TEST_PEOPLE.operator.name);
    const ended = await act("open-door", BROWSERS.operator.socketid);
    assert.equal(ended.payload.refused, "open-door", "signed out: refused at once");
    assert.equal(through.length, 0);
    assert.equal(new DoorAudit(dataDir).read().length, 1, "the refused open-door is in the door audit");
  });

  it("tells a browser that connects or changes tab who is signed in and whether its buttons work", async () => {
    const viewer = await act("", BROWSERS.viewer.socketid, { topic: undefined, payload: "connect" });
    assert.deepEqual([viewer.topic, viewer.socketid, viewer.payload], ["operator", BROWSERS.viewer.socketid, { operator: "pat-viewer", role: "viewer", canAct: false }]);
    const operator = await act("", BROWSERS.operator.socketid, { topic: undefined, payload: "change" });
    assert.deepEqual(operator.payload, { operator: "pat-operator", role: "operator", canAct: true });
    // a browser going away is no action: nothing answered, nothing audited
    gate().receive({ payload: "lost", socketid: BROWSERS.viewer.socketid } as never);
    const after = await act("", BROWSERS.admin.socketid, { topic: undefined, payload: "connect" });
    assert.equal(after.socketid, BROWSERS.admin.socketid, "the next answer is the admin's: none for the lost browser");
    assert.equal(new Audit(dataDir).read().filter((r) => r.event === "dashboard.action.refused").length, 0);
  });
});
