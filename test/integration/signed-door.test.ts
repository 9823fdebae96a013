// Signed door commands through the real all-in-one runtime: the operator (signed in) presses "Open door" on the dashboard, the
// hub's flow signs the command with the hub's identity (made on the first start), the simulated ButtonPi opens; the
// exact same message published again on MQTT is refused as replayed, and an unsigned one as unsigned: each answered
// on the door's event topic, in the door's record and the runtime's audit, the relay moved once.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { topics, type DoorOpenEvent, type DoorOpenResult } from "../../nodes/lib/contract";
import { DoorAudit } from "../../nodes/lib/door-audit";
import { readBundle } from "../../nodes/lib/identity/paths";
import { AUDIT_FILE, type AuditRecord } from "../../nodes/lib/audit/audit";
import { DashboardSocket } from "../support/dashboard-socket";
import { TestClient, type Received } from "../support/mqtt";
import { MQTT_ADMIN, startRuntime, type TestRuntime } from "../support/runtime";
import { until } from "../support/until";

const DOOR = "buttonpi";
const result = (m: Received): DoorOpenResult | undefined => (JSON.parse(m.payload.toString()) as Partial<DoorOpenEvent>)["open-door"];

describe("signed door commands (all-in-one): the dashboard's command opens, its replay does not", function () {
  this.timeout(60_000);
  let fog: TestRuntime;
  let client: TestClient;
  let browser: DashboardSocket;

  before(async () => {
    fog = await startRuntime({ role: "all" });
    client = await TestClient.connect(fog.info.mqtt, MQTT_ADMIN);
    await client.subscribe(topics.command(DOOR), topics.event(DOOR), topics.simState(DOOR, "door"));
    browser = await DashboardSocket.connect(fog.info.http, fog.cookies.operator);
  });
  after(async () => {
    browser?.close();
    await client?.end();
    await fog?.stop();
  });

  const audit = (): AuditRecord[] =>
    fs
      .readFileSync(path.join(fog.dataDir, AUDIT_FILE), "utf8")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as AuditRecord);

  it("gives the hub an identity of the fog's own CA on the first start", () => {
    const bundle = readBundle(path.join(fog.dataDir, "identity", "devices", "hub"));
    assert.ok(bundle, "the hub's bundle");
    assert.equal(bundle.role, "hub");
  });

  it("opens the simulated door for the operator's signed command, and refuses the same message replayed on MQTT", async () => {
    const command = client.waitFor(topics.command(DOOR), (m) => m.payload.toString().includes('"open-door"'), 15_000, false);
    const opened = client.waitFor(topics.event(DOOR), (m) => result(m)?.result === "opened", 15_000, false);
    browser.emit("update-value", { id: "hub-front-ops-ui", msg: { topic: "open-door", payload: {} } });
    const sent = await command;
    const signed = JSON.parse(sent.payload.toString()) as { id: string; signature?: { by: string; topic: string } };
    assert.equal(signed.signature?.by, "hub", "signed with the hub's identity");
    assert.equal(signed.signature?.topic, topics.command(DOOR));
    const first = result(await opened)!;
    assert.equal(first.id, signed.id);
    assert.equal(first.signedBy, "hub");
    await client.waitFor(topics.simState(DOOR, "door"), (m) => m.payload.toString() === "1", 10_000);

    // the exact message, as anyone who read it off the broker would send it again
    const replayed = client.waitFor(topics.event(DOOR), (m) => result(m)?.reason === "replayed", 15_000, false);
    await client.publish(topics.command(DOOR), sent.payload.toString());
    const refused = result(await replayed)!;
    assert.equal(refused.id, signed.id);
    assert.equal(refused.result, "refused");
    assert.match(refused.detail ?? "", /was seen already/);

    // and one nobody signed
    const unsigned = client.waitFor(topics.event(DOOR), (m) => result(m)?.id === "forged", 15_000, false);
    await client.publish(topics.command(DOOR), JSON.stringify({ command: "open-door", id: "forged", by: "dashboard:operator" }));
    assert.equal(result(await unsigned)!.reason, "unsigned");

    // the pulse ends once: the door moved for the signed command only
    const closed = await client.waitFor(topics.event(DOOR), (m) => result(m)?.id === signed.id && !!result(m)?.closedAt, 15_000);
    assert.equal(result(closed)!.result, "opened");
    const levels = client.received.filter((m) => m.topic === topics.simState(DOOR, "door")).map((m) => m.payload.toString());
    assert.deepEqual(levels.filter((l) => l === "1").length, 1, `one pulse: ${levels.join(" ")}`);

    const records = new DoorAudit(fog.dataDir).read();
    assert.deepEqual(
      records.filter((r) => r.id === signed.id || r.id === "forged").map((r) => [r.id === signed.id ? "signed" : r.id, r.result, r.reason ?? null]),
      [
        ["signed", "opened", null],
        ["signed", "refused", "replayed"],
        ["forged", "refused", "unsigned"],
      ],
    );
    await until(() => audit().filter((r) => r.event === "door.command.refused").length === 2, "the runtime's audit");
    assert.deepEqual(
      audit()
        .filter((r) => r.event === "door.command.refused")
        .map((r) => r.refusal),
      ["replayed", "unsigned"],
    );
  });
});
