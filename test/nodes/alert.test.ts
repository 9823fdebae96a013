import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { ActiveAlerts, AlertEvent } from "../../nodes/lib/contract";
import alert from "../../nodes/alert/alert";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import { FakeClock } from "../support/fake-clock";
import { TestClient } from "../support/mqtt";
import { helper, hubFlow, loadUntilOnline, pingBarrier, startHarness, type Harness } from "../support/node-harness";

const nodes = [pifogDevice, alert];
const S = 1000;
const K = "home/kitchen/temperature";

function rule(extra: Record<string, unknown> = {}) {
  return { id: "hot", label: "Too hot", topic: "home/+/temperature", path: "", condition: "above", threshold: 30, hysteresis: 2, for: 0, repeat: 0, cooldown: 0, ...extra };
}

function alertFlow(url: string, rules: unknown[] = [rule()], extra: Record<string, unknown> = {}) {
  return hubFlow(url, { id: "al1", type: "alert", z: "tab", device: "cfg-hub", rules, compat: true, wires: [["out"]], ...extra });
}

describe("alert node", () => {
  let h: Harness;
  let clock: FakeClock;

  const barrier = () => pingBarrier(h.client);
  const load = (flow: unknown[]) => loadUntilOnline(h, nodes, flow);

  /** Alert events published since message number `since`. */
  const events = (since = 0) =>
    h.client.received.filter((m, i) => i >= since && m.topic === "pifog/hub/alerts/events").map((m) => h.client.json<AlertEvent>(m));
  const kinds = (since = 0) => events(since).map((e) => `${e.kind} ${e.topic} ${e.lastValue}`);
  const nextEvent = (kind: string, since: number) =>
    h.client.waitFor("pifog/hub/alerts/events", (m) => h.client.received.indexOf(m) >= since && h.client.json<AlertEvent>(m).kind === kind).then((m) => h.client.json<AlertEvent>(m));
  const activeList = async () => {
    const c = await TestClient.connect(h.url, h.auth);
    try {
      await c.subscribe("pifog/hub/alerts/active");
      return c.json<ActiveAlerts>(await c.waitFor("pifog/hub/alerts/active", (m) => m.retain));
    } finally {
      await c.end();
    }
  };
  const deadLetters = () => {
    const file = path.join(h.dataDir, "dead-letter.jsonl");
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l)) : [];
  };

  beforeEach(async () => {
    h = await startHarness();
    clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
    h.useServices({ clock });
  });
  afterEach(async () => {
    await h.close();
  });

  it("raises above the threshold, on the native events, IoTitan's <topic>/alert and the active list; clears past the hysteresis", async () => {
    await load(alertFlow(h.url));
    const outputs: AlertEvent[] = [];
    helper.getNode("out")!.on("input", (msg: unknown) => outputs.push((msg as { payload: AlertEvent }).payload));
    assert.deepEqual((await activeList()).alerts, [], "an empty list at start");

    await h.client.publish(K, "29.5");
    await h.client.publish(K, "31.20");
    const raised = await nextEvent("raised", 0);
    assert.deepEqual(
      [raised.device, raised.rule, raised.label, raised.topic, raised.condition, raised.threshold, raised.value, raised.acknowledged],
      ["hub", "hot", "Too hot", K, "above", 30, 31.2, false],
    );
    assert.equal(raised.raisedAt, "2026-01-01T12:00:00.000Z");
    assert.match(raised.id, /^[0-9a-f]{12}$/);
    const compat = await h.client.waitFor(`${K}/alert`);
    assert.equal(compat.payload.toString(), "31.20", "IoTitan republished the payload as it came");
    const list = await activeList();
    assert.deepEqual(list.alerts.map((a) => [a.id, a.topic, a.value]), [[raised.id, K, 31.2]]);

    await h.client.publish(K, "29"); // inside the hysteresis band: still active
    await barrier();
    assert.deepEqual(kinds(), [`raised ${K} 31.2`]);
    const since = h.client.received.length;
    await h.client.publish(K, "27.5");
    const cleared = await nextEvent("cleared", since);
    assert.deepEqual([cleared.id, cleared.reason, cleared.lastValue], [raised.id, "value", 27.5]);
    assert.deepEqual((await activeList()).alerts, []);
    assert.deepEqual(outputs.map((e) => e.kind), ["raised", "cleared"]);
    assert.equal(h.client.received.filter((m) => m.topic === `${K}/alert`).length, 1, "a clear sends nothing to <topic>/alert");
  });

  it("waits for 'for', repeats until acknowledged over MQTT, then stays quiet", async () => {
    await load(alertFlow(h.url, [rule({ for: 60, repeat: 300 })]));
    await h.client.publish(K, "35");
    await barrier();
    clock.tick(59 * S);
    await barrier();
    assert.deepEqual(kinds(), [], "not held for 60 s yet");
    clock.tick(1 * S);
    const raised = await nextEvent("raised", 0);
    assert.equal(raised.raisedAt, "2026-01-01T12:01:00.000Z");
    assert.equal((await h.client.waitFor(`${K}/alert`)).payload.toString(), "35.0", "raised by the timer: the value as a plain number");

    clock.tick(300 * S);
    const repeated = await nextEvent("repeated", 0);
    assert.deepEqual([repeated.id, repeated.repeats], [raised.id, 1]);

    const since = h.client.received.length;
    await h.client.publish("pifog/hub/alerts/ack", JSON.stringify({ id: raised.id, by: "anne" }));
    const acked = await nextEvent("acknowledged", since);
    assert.deepEqual([acked.id, acked.acknowledged, acked.acknowledgedBy, acked.acknowledgedAt], [raised.id, true, "anne", "2026-01-01T12:06:00.000Z"]);
    const list = await activeList();
    assert.equal(list.alerts[0]!.acknowledged, true);

    clock.tick(3600 * S);
    await barrier();
    assert.deepEqual(events(since).map((e) => e.kind), ["acknowledged"], "no repeats once acknowledged");
    // an acknowledgement for an alert that is not there is ignored
    await h.client.publish("pifog/hub/alerts/ack", "nope");
    await barrier();
    assert.deepEqual(deadLetters(), []);
  });

  it("acknowledges from a flow ({ack: id}) and fails an unknown id to Catch nodes", async () => {
    await load(alertFlow(h.url));
    const caught: Array<{ error: { message: string } }> = [];
    helper.getNode("caught")!.on("input", (msg: unknown) => caught.push(msg as (typeof caught)[number]));
    const outputs: AlertEvent[] = [];
    helper.getNode("out")!.on("input", (msg: unknown) => outputs.push((msg as { payload: AlertEvent }).payload));

    helper.getNode("al1")!.receive({ topic: K, payload: 33 }); // a reading from a flow
    const raised = await nextEvent("raised", 0);
    helper.getNode("al1")!.receive({ payload: { ack: raised.id, by: "dashboard" } });
    const acked = await nextEvent("acknowledged", 0);
    assert.equal(acked.acknowledgedBy, "dashboard");
    assert.deepEqual(outputs.map((e) => e.kind), ["raised", "acknowledged"]);

    helper.getNode("al1")!.receive({ payload: { ack: "0123456789ab" } });
    helper.getNode("al1")!.receive({ topic: K, payload: "warm" });
    await waitUntil(() => caught.length >= 2);
    assert.match(caught[0]!.error.message, /no active alert "0123456789ab"/);
    assert.match(caught[1]!.error.message, /not a number: warm/);
  });

  it("raises nothing new during the cooldown after a clear", async () => {
    await load(alertFlow(h.url, [rule({ cooldown: 600, hysteresis: 0 })]));
    await h.client.publish(K, "35");
    await h.client.publish(K, "25");
    await nextEvent("cleared", 0);
    clock.tick(60 * S);
    await h.client.publish(K, "36");
    await barrier();
    clock.tick(538 * S);
    await barrier();
    assert.deepEqual(events().map((e) => e.kind), ["raised", "cleared"]);
    const since = h.client.received.length;
    clock.tick(2 * S);
    const again = await nextEvent("raised", since);
    assert.equal(again.raisedAt, "2026-01-01T12:10:00.000Z");
  });

  it("keeps active alerts, their acknowledgement and 'for' timers across a restart", async () => {
    const rules = [rule({ repeat: 60 }), rule({ id: "damp", label: "Damp", topic: "home/+/humidity", threshold: 70, for: 300 })];
    await load(alertFlow(h.url, rules));
    await h.client.publish(K, "35");
    const raised = await nextEvent("raised", 0);
    await h.client.publish("pifog/hub/alerts/ack", JSON.stringify({ id: raised.id }));
    await nextEvent("acknowledged", 0);
    await h.client.publish("home/bath/humidity", "85"); // pending for 5 min
    await barrier();

    await helper.unload();
    clock.tick(120 * S);
    const since = h.client.received.length;
    await load(alertFlow(h.url, rules));
    const list = await activeList();
    assert.deepEqual(list.alerts.map((a) => [a.id, a.acknowledged, a.acknowledgedBy]), [[raised.id, true, "mqtt"]]);

    clock.tick(179 * S);
    await barrier();
    assert.deepEqual(events(since), [], "acknowledged: no repeats; humidity pending for 4:59 so far");
    clock.tick(1 * S);
    const damp = await nextEvent("raised", since);
    assert.deepEqual([damp.rule, damp.topic, damp.raisedAt], ["damp", "home/bath/humidity", "2026-01-01T12:05:00.000Z"]);

    await h.client.publish(K, "20");
    const cleared = await nextEvent("cleared", since);
    assert.equal(cleared.id, raised.id, "the same alert, cleared after the restart");
  });

  it("clears an alert whose rule was deleted while it was stopped", async () => {
    await load(alertFlow(h.url));
    await h.client.publish(K, "35");
    const raised = await nextEvent("raised", 0);
    await helper.unload();
    const since = h.client.received.length;
    await load(alertFlow(h.url, [rule({ id: "other" })]));
    const cleared = await nextEvent("cleared", since);
    assert.deepEqual([cleared.id, cleared.reason], [raised.id, "rule-removed"]);
    assert.deepEqual((await activeList()).alerts, []);
  });

  it("never alerts on an alert, even with a rule on #", async () => {
    await load(alertFlow(h.url, [rule({ id: "any", topic: "#", threshold: 50, hysteresis: 0 })]));
    await h.client.publish("x", "60");
    await h.client.waitFor("x/alert");
    await h.client.publish("y/alert", "99");
    await h.client.publish("pifog/other/alerts/events", "99");
    await barrier();
    await barrier();
    assert.deepEqual(kinds(), ["raised x 60"]);
    assert.equal(h.client.received.some((m) => m.topic.endsWith("/alert/alert")), false);
  });

  it("takes a cleared retained reading (an empty payload) as no reading: nothing dead-lettered, the alert stays as it was", async () => {
    await load(alertFlow(h.url, [rule({ id: "exact", topic: "sensors/t", threshold: 10, hysteresis: 0 })]));
    const caught: unknown[] = [];
    helper.getNode("caught")!.on("input", (msg: unknown) => caught.push(msg));
    await h.client.publish("sensors/t", "11", { retain: true });
    const raised = await nextEvent("raised", 0);
    const since = h.client.received.length;
    await h.client.publish("sensors/t", "", { retain: true }); // a client cleaning up the sensor's retained value
    await barrier();
    assert.deepEqual(deadLetters(), []);
    assert.deepEqual(caught, []);
    assert.deepEqual(events(since), [], "neither raised nor cleared by it");
    assert.deepEqual((await activeList()).alerts.map((a) => a.id), [raised.id]);
  });

  it("dead-letters what was expected to be numeric, skips the rest, and keeps going", async () => {
    const rules = [rule({ id: "exact", topic: "sensors/t", threshold: 10, hysteresis: 0 }), rule({ id: "wild", topic: "w/#", threshold: 10, hysteresis: 0, path: "temperature" })];
    await load(alertFlow(h.url, rules));
    await h.client.publish("sensors/t", "hot"); // one sensor's topic: expected numeric
    await h.client.publish("w/status", "online"); // a status on a wildcard: not a reading
    await h.client.publish("w/json", JSON.stringify({ humidity: 3 })); // JSON without the path
    await h.client.client.publishAsync("w/bin", Buffer.from([0xff, 0x00, 0xfe]), { qos: 1 });
    await h.client.publish("w/deep", "[".repeat(5000) + "]".repeat(5000));
    await h.client.publish("w/nan", JSON.stringify({ temperature: "NaN" })); // a broken reading
    await h.client.publish("w/ok", JSON.stringify({ temperature: 12 }));
    await h.client.publish("sensors/t", "11");
    await nextEvent("raised", 0);
    await barrier();
    assert.deepEqual(deadLetters().map((l) => [l.type, l.topic]), [["alert", "sensors/t"], ["alert", "w/nan"]]);
    assert.deepEqual(kinds().sort(), ["raised sensors/t 11", "raised w/ok 12"]);
    assert.equal((await h.client.waitFor("w/ok/alert")).payload.toString(), "12.0");
  });
});

async function waitUntil(test: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
