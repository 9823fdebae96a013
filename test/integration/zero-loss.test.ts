// Nothing acknowledged is lost: a separate publisher sends 20,000 QoS 1 messages while the hub is killed with
// SIGKILL and started again; every message the publisher had acknowledged is stored exactly once. Once on the
// embedded broker (stored before PUBACK), once on Mosquitto with the broker config PiFog ships.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startMosquitto, type Mosquitto } from "../support/mosquitto";
import { TestClient } from "../support/mqtt";
import { freePort } from "../support/ports";
import { assertExactlyOnce, startPublisher as startPublisherOf, storedCounts, storedRows } from "../support/zero-loss";
import { MQTT_ADMIN, ROOT, startRuntime, type TestRuntime } from "../support/runtime";

const COUNT = 20_000;
const startPublisher = (url: string, prefix: string) => startPublisherOf(url, prefix, COUNT);

async function until(what: string, test: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("zero loss across a hub killed with SIGKILL", function () {
  this.timeout(240_000);
  const runtimes: TestRuntime[] = [];
  let mosquitto: Mosquitto | null = null;
  let dataDir = "";

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-zeroloss-"));
  });
  afterEach(async () => {
    for (const r of runtimes.splice(0)) await r.stop();
    await mosquitto?.stop();
    mosquitto = null;
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("on the embedded broker: every acknowledged message is stored exactly once", async () => {
    const port = await freePort();
    const env = { PIFOG_MQTT_PORT: String(port) };
    let hub = await startRuntime({ role: "sensorhub", dataDir, env });
    runtimes.push(hub);
    const prefix = "reliability/embedded";
    const publisher = startPublisher(`mqtt://${MQTT_ADMIN.username}:${MQTT_ADMIN.password}@127.0.0.1:${port}`, prefix);
    await until("5,000 acknowledgements", () => publisher.progress() >= 5000, 60_000);
    await hub.kill();
    runtimes.pop();
    hub = await startRuntime({ role: "sensorhub", dataDir, env });
    runtimes.push(hub);
    const acked = await publisher.done;
    assert.equal(acked.length, COUNT, "the publisher got every message acknowledged in the end");
    await hub.stop();
    runtimes.pop();
    assertExactlyOnce(acked, storedCounts(dataDir, prefix));
  });

  it("on Mosquitto with PiFog's broker config: every acknowledged message is stored exactly once", async () => {
    const shipped = fs
      .readFileSync(path.join(ROOT, "docker", "mosquitto", "pifog.conf"), "utf8")
      .split("\n")
      .filter((l) => !/^\s*(listener|persistence_location)\b/.test(l));
    const persistence = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-mosq-data-"));
    mosquitto = await startMosquitto([...shipped, `persistence_location ${persistence}/`], { replaceDefaults: true });
    const env = { PIFOG_MQTT_URL: mosquitto.url };
    let hub = await startRuntime({ role: "sensorhub", dataDir, env });
    runtimes.push(hub);
    const prefix = "reliability/mosquitto";
    // the history's persistent session exists before the publisher starts: a message outside the counted prefix is stored
    await until("the history's store", () => fs.existsSync(path.join(dataDir, "history.db")), 10_000);
    const probe = await TestClient.connect(mosquitto.url);
    try {
      const deadline = Date.now() + 10_000;
      while (storedRows(dataDir, "reliability/ready") === 0) {
        if (Date.now() > deadline) throw new Error("timed out waiting for the history's subscription");
        await probe.publish("reliability/ready", "1", { qos: 1 }); // dropped by Mosquitto until the session subscribes
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await probe.end();
    }
    const publisher = startPublisher(mosquitto.url, prefix);
    await until("5,000 acknowledgements", () => publisher.progress() >= 5000, 60_000);
    await hub.kill();
    runtimes.pop();
    // while the hub is down Mosquitto queues for its session: more than its default limit of 1000
    await until("12,000 acknowledgements", () => publisher.progress() >= 12_000, 60_000);
    hub = await startRuntime({ role: "sensorhub", dataDir, env });
    runtimes.push(hub);
    const acked = await publisher.done;
    assert.equal(acked.length, COUNT);
    await until("the hub to store the queue", () => storedCounts(dataDir, prefix).size >= COUNT, 120_000).catch(() => undefined);
    await hub.stop();
    runtimes.pop();
    assertExactlyOnce(acked, storedCounts(dataDir, prefix));
    fs.rmSync(persistence, { recursive: true, force: true });
  });
});
