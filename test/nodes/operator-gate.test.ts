// The operator gate in front of the dashboard's door buttons: only a signed-in operator gets an action through;
// everyone else is answered "operators only", and a refused open-door is in the door audit.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import bcrypt from "bcryptjs";
import { Audit } from "../../nodes/lib/audit/audit";
import { DoorAudit } from "../../nodes/lib/door-audit";
import type { SocketAddresses } from "../../nodes/lib/security/dashboard-sockets";
import operatorGate, { normaliseOperatorGate } from "../../nodes/operator-gate/operator-gate";
import { FakeClock } from "../support/fake-clock";
import { helper } from "../support/node-harness";
import { testServices } from "../support/services";

interface Answer {
  topic: string;
  socketid?: string;
  payload: { operator: string | null; token?: string; error?: string; refused?: string };
}

const flow = [
  { id: "tab", type: "tab" },
  { id: "gate", type: "operator-gate", z: "tab", sessionMinutes: 30, door: "frontdoor", wires: [["allowed"], ["answers"]] },
  { id: "allowed", type: "helper", z: "tab" },
  { id: "answers", type: "helper", z: "tab" },
];

function next<T>(id: string): Promise<T> {
  return new Promise((resolve) => (helper.getNode(id) as unknown as NodeJS.EventEmitter).once("input", resolve));
}

describe("operator-gate node", () => {
  let dataDir: string;
  let clock: FakeClock;
  const hash = bcrypt.hashSync("door-pass", 4);
  // the dashboard's sockets as the runtime notes them: the attacker's browser and the operator's, on two machines
  const sockets: SocketAddresses = { addressOf: (id) => ({ "sock-1": "192.168.1.20", "sock-evil": "192.168.1.66" })[String(id)] };

  beforeEach(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-gate-"));
    clock = new FakeClock(Date.UTC(2026, 10, 22, 9, 0, 0));
    helper.settings({ pifogServices: testServices({ dataDir, clock, operators: [{ username: "admin", hash }], dashboardSockets: sockets }) });
    await helper.load([operatorGate], flow);
  });
  afterEach(async () => {
    await helper.unload();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const gate = () => helper.getNode("gate")!;

  async function signIn(password: string, socketid = "sock-1"): Promise<Answer> {
    const answer = next<Answer>("answers");
    gate().receive({ topic: "sign-in", payload: { username: "admin", password }, socketid } as never);
    return answer;
  }

  it("normalises its settings", () => {
    assert.deepEqual(normaliseOperatorGate({}), { sessionMs: 30 * 60_000, door: "buttonpi" });
    assert.throws(() => normaliseOperatorGate({ sessionMinutes: 0 }), /not 1..1440/);
  });

  it("refuses an open-door without a session: answered to that browser, audited, nothing let through", async () => {
    let through = 0;
    (helper.getNode("allowed") as unknown as NodeJS.EventEmitter).on("input", () => through++);
    const answer = next<Answer>("answers");
    gate().receive({ topic: "open-door", payload: {}, socketid: "sock-9" } as never);
    const a = await answer;
    assert.equal(a.socketid, "sock-9");
    assert.equal(a.payload.refused, "open-door");
    assert.match(a.payload.error!, /operators only|refused\.not-operator/);
    const audit = new DoorAudit(dataDir).read();
    assert.equal(audit.length, 1);
    assert.deepEqual([audit[0]!.device, audit[0]!.result, audit[0]!.reason, audit[0]!.via], ["frontdoor", "refused", "not-allowed", "dashboard"]);
    assert.equal(through, 0);
  });

  it("signs an operator in and lets their actions through with their name, until the session ends", async () => {
    const a = await signIn("door-pass");
    assert.equal(a.payload.operator, "admin");
    assert.match(a.payload.token!, /^[0-9a-f]{48}$/);
    const allowed = next<{ topic: string; operator: string; token?: string; payload: unknown }>("allowed");
    gate().receive({ topic: "open-door", payload: { id: "x1" }, token: a.payload.token } as never);
    const m = await allowed;
    assert.deepEqual([m.topic, m.operator, m.payload], ["open-door", "admin", { id: "x1" }]);
    assert.equal(m.token, undefined, "the token does not travel on");

    clock.tick(31 * 60_000);
    const late = next<Answer>("answers");
    gate().receive({ topic: "take-picture", token: a.payload.token } as never);
    assert.equal((await late).payload.refused, "take-picture", "an ended session is refused");
  });

  it("refuses a wrong password, and after five from one browser's address makes that address wait, audited", async () => {
    const wrong = await signIn("nope");
    assert.equal(wrong.payload.operator, null);
    assert.match(wrong.payload.error!, /wrong user name or password|refused\.wrong/);
    for (let i = 0; i < 4; i++) await signIn("nope");
    const locked = await signIn("door-pass");
    assert.equal(locked.payload.operator, null, "even the right password waits at that address");
    assert.match(locked.payload.error!, /try again in 60 s|refused\.locked-user/);
    clock.tick(61_000);
    assert.equal((await signIn("door-pass")).payload.operator, "admin");
    const audit = new Audit(dataDir).read();
    assert.equal(audit.filter((r) => r.event === "auth.refused").length, 5);
    const throttled = audit.filter((r) => r.event === "auth.throttled");
    assert.equal(throttled.length, 1);
    assert.deepEqual([throttled[0]!.via, throttled[0]!.who, throttled[0]!.address, throttled[0]!.user], ["dashboard", "admin@192.168.1.20", "192.168.1.20", "admin"]);
  });

  it("wrong passwords from another browser's address never lock out the operator", async () => {
    for (let i = 0; i < 30; i++) await signIn("guess", "sock-evil");
    const attacker = await signIn("door-pass", "sock-evil");
    assert.equal(attacker.payload.operator, null, "the attacker's address waits, right password or not");
    assert.match(attacker.payload.error!, /try again in \d+ s|refused\.locked/);
    const operator = await signIn("door-pass", "sock-1");
    assert.equal(operator.payload.operator, "admin", "the operator at another address signs in");
    assert.equal(operator.socketid, "sock-1");
    const audit = new Audit(dataDir).read();
    assert.ok(audit.filter((r) => r.event === "auth.refused").length <= 20, "at most the address's limit of passwords checked");
    assert.ok(audit.every((r) => r.address === "192.168.1.66"));
  });

  it("signs out: the token no longer opens anything", async () => {
    const a = await signIn("door-pass");
    const out = next<Answer>("answers");
    gate().receive({ topic: "sign-out", token: a.payload.token } as never);
    assert.equal((await out).payload.operator, null);
    const refused = next<Answer>("answers");
    gate().receive({ topic: "open-door", token: a.payload.token } as never);
    assert.equal((await refused).payload.refused, "open-door");
  });
});
