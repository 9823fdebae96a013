// A broker that remembers: a persistent subscriber's queued QoS 1 messages and the retained state come back after
// the runtime is stopped (SIGTERM) or killed (SIGKILL) and started again on the same data dir. Real runtime
// processes, real mqtt.js clients; topics under `pifog/<device>/sim/…`, which anonymous clients on loopback may
// use.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { topics } from "../../nodes/lib/contract";
import { TestClient } from "../support/mqtt";
import { MQTT_ADMIN, startRuntime, type TestRuntime } from "../support/runtime";

const DEVICE = "restartpi";
const FILTER = `pifog/${DEVICE}/sim/#`;
const QUEUED = 25;

interface Session {
  client: MqttClient;
  sessionPresent: boolean;
  /** Every PUBLISH it was sent, in order, from the moment it connected. */
  received: Array<{ topic: string; payload: string; retain: boolean }>;
}

/** Connects with the message listener in place before the CONNACK: a restored session's queue follows it at once. */
function connect(url: string, options: IClientOptions): Promise<Session> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5_000, ...options });
  const received: Session["received"] = [];
  client.on("message", (topic, payload, packet) => received.push({ topic, payload: payload.toString(), retain: packet.retain }));
  return new Promise((resolve, reject) => {
    client.once("connect", (connack) => resolve({ client, sessionPresent: connack.sessionPresent, received }));
    client.once("error", reject);
  });
}

async function until(what: string, test: () => boolean, state: () => unknown, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; saw ${JSON.stringify(state())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("the embedded broker remembers across a restart", function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  const running: TestRuntime[] = [];

  afterEach(async () => {
    for (const rt of running.splice(0)) await rt.kill();
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    it(`keeps a persistent session's queued QoS 1 messages and the retained state through a ${signal}`, async () => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-restart-"));
      dirs.push(dataDir);
      const first = await startRuntime({ role: "doorpi", dataDir });
      running.push(first);
      const clientId = `restart-subscriber-${signal.toLowerCase()}`;

      // a persistent session: subscribes at QoS 1, then goes away
      const subscriber = await connect(first.info.mqtt, { ...MQTT_ADMIN, clientId, clean: false });
      assert.equal(subscriber.sessionPresent, false, "a new session");
      await subscriber.client.subscribeAsync(FILTER, { qos: 1 });
      await subscriber.client.endAsync();

      // while it is away: QoS 1 messages, and a retained one, each acknowledged by the broker
      const publisher = await TestClient.connect(first.info.mqtt, { ...MQTT_ADMIN, clientId: `restart-publisher-${signal.toLowerCase()}` });
      const sent: string[] = [];
      for (let i = 0; i < QUEUED; i++) {
        sent.push(`queued-${i}`);
        await publisher.publish(topics.simSet(DEVICE, "probe"), `queued-${i}`);
      }
      await publisher.publish(topics.simSet(DEVICE, "held"), "retained-1", { retain: true });
      await publisher.end();

      // at once, before anything else could happen
      if (signal === "SIGTERM") await first.stop();
      else await first.kill();
      running.splice(running.indexOf(first), 1);
      assert.equal(fs.statSync(path.join(dataDir, "broker.db")).mode & 0o777, 0o600, "the broker's store is private");

      const second = await startRuntime({ role: "doorpi", dataDir });
      running.push(second);
      const back = await connect(second.info.mqtt, { ...MQTT_ADMIN, clientId, clean: false });
      assert.equal(back.sessionPresent, true, "the session is still there");
      const expected = [...sent, "retained-1"];
      await until(`${expected.length} messages`, () => back.received.length >= expected.length, () => back.received);
      assert.deepEqual(
        back.received.map((m) => m.payload),
        expected,
        "every acknowledged message, once, in the order it was published",
      );
      assert.ok(back.received.every((m) => m.topic.startsWith(`pifog/${DEVICE}/sim/`)));
      // the session's subscription itself came back too: a new message reaches it with no SUBSCRIBE
      const later = await TestClient.connect(second.info.mqtt, MQTT_ADMIN);
      await later.publish(topics.simSet(DEVICE, "probe"), "after-restart");
      await until("the message after the restart", () => back.received.some((m) => m.payload === "after-restart"), () => back.received);

      // a new subscriber gets the retained message, flagged retained
      const fresh = await TestClient.connect(second.info.mqtt, MQTT_ADMIN);
      await fresh.subscribe(topics.simSet(DEVICE, "held"));
      const retained = await fresh.waitFor(topics.simSet(DEVICE, "held"));
      assert.equal(retained.payload.toString(), "retained-1");
      assert.equal(retained.retain, true);
      await Promise.all([fresh.end(), later.end(), back.client.endAsync()]);

      // and once delivered and acknowledged, nothing is delivered again
      await second.stop();
      running.splice(running.indexOf(second), 1);
      const third = await startRuntime({ role: "doorpi", dataDir });
      running.push(third);
      const again = await connect(third.info.mqtt, { ...MQTT_ADMIN, clientId, clean: false });
      assert.equal(again.sessionPresent, true);
      const marker = await TestClient.connect(third.info.mqtt, MQTT_ADMIN);
      await marker.publish(topics.simSet(DEVICE, "probe"), "marker");
      await until("the marker", () => again.received.some((m) => m.payload === "marker"), () => again.received);
      assert.deepEqual(again.received.map((m) => m.payload), ["marker"], "acknowledged messages are not sent twice");
      await Promise.all([marker.end(), again.client.endAsync()]);
    });
  }
});
