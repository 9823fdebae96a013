// Hostile input, who is who: on the real all-in-one runtime, an anonymous MQTT client tries to speak for a device,
// to take over a device's connection, and to open the door in an operator's name.
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import mqtt from "mqtt";
import { Audit } from "../../nodes/lib/audit/audit";
import { DoorAudit } from "../../nodes/lib/door-audit";
import { TestClient } from "../support/mqtt";
import { MQTT_ADMIN, startRuntime, type TestRuntime } from "../support/runtime";
import { until } from "../support/until";

/** An MQTT client whose connection comes from another loopback address, as a second machine on the network would. */
function connectFrom(localAddress: string, url: string, clientId: string): mqtt.MqttClient {
  const { hostname, port } = new URL(url);
  return new mqtt.MqttClient(() => net.connect({ host: hostname, port: Number(port), localAddress }), {
    clientId,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    protocolVersion: 4,
  });
}

describe("hostile input: who is who on the embedded broker (real runtime, role all)", function () {
  this.timeout(90_000);
  let rt: TestRuntime;
  let watcher: TestClient;
  const audit = () => new Audit(rt.dataDir).read();

  before(async () => {
    rt = await startRuntime({ role: "all" });
    watcher = await TestClient.connect(rt.info.mqtt, MQTT_ADMIN);
    await watcher.subscribe("pifog/#");
    await watcher.waitFor("pifog/buttonpi/status", (m) => m.payload.toString().includes('"online"'));
    await watcher.waitFor("pifog/powerpi/power", () => true);
  });
  after(async () => {
    await watcher?.end();
    await rt?.stop();
  });

  it("refuses a power event from a client that is not the power Pi: not routed, the sender cut, audited; the Pi's own still pass", async () => {
    const mallory = await TestClient.connect(rt.info.mqtt, { clientId: "mallory" });
    const closed = new Promise<void>((resolve) => mallory.client.once("close", () => resolve()));
    const spoof = { device: "powerpi", mains: "off", changedAt: new Date().toISOString() };
    void mallory.client.publish("pifog/powerpi/power/events", JSON.stringify(spoof), { qos: 1 });
    void mallory.client.publish("pifog/powerpi/status", JSON.stringify({ state: "offline", device: "powerpi" }), { qos: 1, retain: true });
    await closed;
    await mallory.end();
    await until(() => audit().some((r) => r.event === "mqtt.publish.refused" && r.who?.startsWith("mqtt:mallory")), "the refusal in the audit");
    // the Pi's own event still arrives, and the spoof never did
    await watcher.publish("pifog/powerpi/sim/mains/set", "off");
    const real = await watcher.waitFor("pifog/powerpi/power/events", (m) => m.payload.includes('"mains":"off"'), 15_000);
    assert.ok(!real.payload.toString().includes(spoof.changedAt));
    assert.equal(watcher.received.filter((m) => m.topic === "pifog/powerpi/power/events" && m.payload.includes(spoof.changedAt)).length, 0);
    assert.equal(watcher.received.filter((m) => m.topic === "pifog/powerpi/status" && m.payload.includes('"offline"')).length, 0);
    await watcher.publish("pifog/powerpi/sim/mains/set", "on");
  });

  it("refuses a device's client id to anyone but the device (its certificate); the device stays online", async () => {
    const before = watcher.received.length;
    for (let i = 0; i < 5; i++) {
      const thief = connectFrom("127.0.0.2", rt.info.mqtt, "buttonpi");
      const err = await new Promise<Error & { code?: number }>((resolve) => thief.once("error", resolve));
      assert.equal(err.code, 2, `CONNACK identifier rejected, got ${err.message}`);
      thief.end(true);
    }
    // the real ButtonPi never went offline and still answers
    await watcher.publish("pifog/buttonpi/command", JSON.stringify({ command: "ping", id: "still-there" }));
    await watcher.waitFor("pifog/buttonpi/event", (m) => m.payload.includes("still-there"));
    const offline = watcher.received.slice(before).filter((m) => m.topic === "pifog/buttonpi/status" && m.payload.includes('"offline"'));
    assert.equal(offline.length, 0, "no takeover, no offline will");
    const refused = audit().filter((r) => r.event === "mqtt.client-id.refused");
    assert.equal(refused.length, 1, "five attempts in the window: one record");
    assert.match(refused[0]!.reason, /names enrolled device "buttonpi"/);
    assert.match(String(refused[0]!.who), /127\.0\.0\.2/);
  });

  it("refuses open-door from an anonymous client at the broker, audited; the door never hears of it", async () => {
    const mallory = await TestClient.connect(rt.info.mqtt, { clientId: "mallory-anon" });
    const closed = new Promise<void>((resolve) => mallory.client.once("close", () => resolve()));
    void mallory.client.publish("pifog/buttonpi/command", JSON.stringify({ command: "open-door", id: "anonymous-open" }), { qos: 1 });
    await closed;
    await mallory.end();
    await until(() => audit().some((r) => r.event === "mqtt.publish.refused" && r.who?.startsWith("mqtt:mallory-anon")), "the refusal in the audit");
    await watcher.publish("pifog/buttonpi/command", JSON.stringify({ command: "ping", id: "after-anonymous" }));
    await watcher.waitFor("pifog/buttonpi/event", (m) => m.payload.includes("after-anonymous"));
    assert.ok(!new DoorAudit(rt.dataDir).read().some((r) => r.id === "anonymous-open"));
  });

  it("audits open-door from a user as that client, with the operator it names only as a claim", async () => {
    const mallory = await TestClient.connect(rt.info.mqtt, { ...MQTT_ADMIN, clientId: "mallory-door" });
    await mallory.publish("pifog/buttonpi/command", JSON.stringify({ command: "open-door", id: "spoofed-by", by: "dashboard:admin" }));
    await mallory.end();
    const file = path.join(rt.dataDir, "door-audit.jsonl");
    await until(() => fs.existsSync(file) && new DoorAudit(rt.dataDir).read().some((r) => r.id === "spoofed-by"), "the door's audit");
    const record = new DoorAudit(rt.dataDir).read().find((r) => r.id === "spoofed-by")!;
    assert.equal(record.by, "mqtt:mallory-door");
    assert.equal(record.claimedBy, "dashboard:admin");
  });

  it("keeps the door audit and the dead letters bounded: a 100 kB id, 2,000 bad commands of 10 kB", async () => {
    const mallory = await TestClient.connect(rt.info.mqtt, { ...MQTT_ADMIN, clientId: "mallory-big" });
    const hugeId = "i".repeat(100_000);
    await mallory.publish("pifog/buttonpi/command", JSON.stringify({ command: "open-door", id: hugeId, by: "b".repeat(100_000) }));
    const junk = "j".repeat(10_000);
    for (let i = 0; i < 2000; i++) void mallory.client.publish("pifog/buttonpi/command", `${junk}${i}`, { qos: 0 });
    await mallory.publish("pifog/buttonpi/command", "last-junk");
    await mallory.end();
    const letters = () => fs.readdirSync(rt.dataDir).filter((f) => f.startsWith("dead-letter.jsonl"));
    const text = () => letters().map((f) => fs.readFileSync(path.join(rt.dataDir, f), "utf8")).join("");
    await until(() => text().includes("last-junk"), "the last bad command in the dead letters");
    const total = letters().reduce((sum, f) => sum + fs.statSync(path.join(rt.dataDir, f)).size, 0);
    assert.ok(total <= 5 * 1024 * 1024, `dead letters take ${total} bytes`);
    assert.ok(letters().length > 1, "rotated");
    assert.ok(!text().includes(hugeId), "the 100 kB id is not kept whole");
    const doorFile = path.join(rt.dataDir, "door-audit.jsonl");
    if (fs.existsSync(doorFile)) for (const line of fs.readFileSync(doorFile, "utf8").split("\n")) assert.ok(line.length < 4096, `a door audit line of ${line.length}`);
    for (const line of fs.readFileSync(path.join(rt.dataDir, "audit.jsonl"), "utf8").split("\n")) assert.ok(line.length < 4096);
  });
});
