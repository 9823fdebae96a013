import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { SqliteHistoryStore } from "../../nodes/lib/history/sqlite-store";
import history from "../../nodes/history/history";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import { startMosquitto, type Mosquitto } from "../support/mosquitto";
import { TestClient } from "../support/mqtt";
import { deviceNode, helper, startHarness, type Harness } from "../support/node-harness";

const nodes = [pifogDevice, history];

function historyFlow(url: string, extra: Record<string, unknown> = {}) {
  return [
    deviceNode("hub", url),
    { id: "hist", type: "history", z: "tab", device: "cfg-hub", filters: "#", backend: "sqlite", ingest: "auto", ...extra },
    { id: "tab", type: "tab" },
  ];
}

async function stored(dataDir: string, topic: string): Promise<string[]> {
  const store = new SqliteHistoryStore(dataDir);
  try {
    return (await store.messages({ topic, from: 0, to: Date.now() + 60_000, limit: 100_000 })).map((m) => m.payload);
  } finally {
    await store.close();
  }
}

describe("history node on the embedded broker", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
    h.useServices({ embedded: true });
  });
  afterEach(async () => {
    await h.close();
  });

  it("has every QoS 1 message on disk by the time the publisher gets its PUBACK", async () => {
    await helper.load(nodes, historyFlow(h.url));
    const publisher = await TestClient.connect(h.url, h.auth);
    for (let i = 0; i < 50; i++) {
      await publisher.publish("iotitan/home/up_bed1/dht11/temperature", String(20 + i / 10));
      // acknowledged → committed: read it back at once, from the file
      const rows = await stored(h.dataDir, "iotitan/home/up_bed1/dht11/temperature");
      assert.equal(rows.length, i + 1);
    }
    await publisher.end();
  });

  it("does not acknowledge what it could not store, so the publisher sends it again", async () => {
    await helper.load(nodes, historyFlow(h.url));
    const node = helper.getNode("hist") as unknown as { store: { insert: (r: unknown[]) => Promise<number> } };
    const realInsert = node.store.insert.bind(node.store);
    node.store.insert = () => Promise.reject(new Error("disk full"));
    const publisher = await TestClient.connect(h.url, { ...h.auth, reconnectPeriod: 200 });
    // the broker answers a publish it could not store by closing the connection (MQTT 3.1.1 has no refusal)
    const refused = new Promise<void>((resolve) => publisher.client.once("close", () => resolve()));
    let acked = false;
    const publish = publisher.publish("precious/reading", "1").then(() => (acked = true));
    await Promise.race([refused, publish]);
    assert.equal(acked, false, "no PUBACK while the store fails");
    node.store.insert = realInsert;
    await publish; // mqtt.js resends after reconnecting
    assert.deepEqual(await stored(h.dataDir, "precious/reading"), ["1"]);
    await publisher.end();
  });

  it("keeps only its topics, and $SYS only when asked", async () => {
    await helper.load(nodes, historyFlow(h.url, { filters: "sensors/#, doors/+" }));
    const publisher = await TestClient.connect(h.url, h.auth);
    await publisher.publish("sensors/a/b", "1");
    await publisher.publish("doors/x", "2");
    await publisher.publish("doors/x/y", "3");
    await publisher.publish("other", "4");
    assert.deepEqual((await stored(h.dataDir, "#")).sort(), ["1", "2"]);
    await publisher.end();
  });
});

describe("history node on an external broker (Mosquitto)", function () {
  this.timeout(30_000);
  let h: Harness;
  let mosquitto: Mosquitto;
  beforeEach(async () => {
    h = await startHarness();
    mosquitto = await startMosquitto();
  });
  afterEach(async () => {
    await h.close();
    await mosquitto.stop();
  });

  it("keeps a persistent session: what was published while it was stopped is stored once it is back", async () => {
    const flow = historyFlow(mosquitto.url, { ingest: "subscribe" });
    await helper.load(nodes, flow);
    const publisher = await TestClient.connect(mosquitto.url);
    await publisher.publish("sensors/live", "1");
    const wait = async (topic: string, n: number) => {
      for (let i = 0; i < 100 && (await stored(h.dataDir, topic)).length < n; i++) await new Promise((r) => setTimeout(r, 50));
      return stored(h.dataDir, topic);
    };
    assert.deepEqual(await wait("sensors/live", 1), ["1"]);
    await helper.unload();
    await h.services.close(); // the runtime stopped, not a redeploy
    for (let i = 0; i < 20; i++) await publisher.publish("sensors/while-down", String(i));
    await helper.load(nodes, flow);
    const rows = await wait("sensors/while-down", 20);
    assert.deepEqual(rows, Array.from({ length: 20 }, (_, i) => String(i)));
    await publisher.end();
  });
});

describe("history node and the broker's packet limit", () => {
  const limit = 64 * 1024;
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({ maxPacketBytes: limit });
    h.useServices({ embedded: true });
  });
  afterEach(async () => {
    await h.close();
  });

  it("stores whatever the embedded broker accepted; a bigger packet is refused unacknowledged, never dropped after a PUBACK", async () => {
    await helper.load(nodes, historyFlow(h.url));
    const publisher = await TestClient.connect(h.url, h.auth);
    const largest = "x".repeat(limit - 100); // with its fixed header, topic and packet id: just under the limit
    await publisher.publish("big/one", largest);
    assert.deepEqual(await stored(h.dataDir, "big/one"), [largest]);
    const closed = new Promise<void>((resolve) => publisher.client.once("close", () => resolve()));
    let acked = false;
    publisher.publish("big/two", "x".repeat(limit + 1)).then(() => (acked = true), () => undefined);
    await closed;
    assert.equal(acked, false);
    assert.deepEqual(await stored(h.dataDir, "big/two"), []);
    assert.equal(fs.existsSync(path.join(h.dataDir, "dead-letter.jsonl")), false, "refused by the broker, not taken and dropped");
    publisher.client.end(true);
    const again = await TestClient.connect(h.url, h.auth);
    await again.publish("small/one", "2");
    assert.deepEqual(await stored(h.dataDir, "small/one"), ["2"]);
    await again.end();
  });

  it("on another broker, records a payload over the configured limit as a dead letter and keeps going", async function () {
    this.timeout(30_000);
    const mosquitto = await startMosquitto();
    try {
      await helper.load(nodes, historyFlow(mosquitto.url, { ingest: "subscribe" }));
      const publisher = await TestClient.connect(mosquitto.url);
      await publisher.publish("big/one", "x".repeat(limit + 1));
      await publisher.publish("small/one", "2");
      const letters = path.join(h.dataDir, "dead-letter.jsonl");
      for (let i = 0; i < 100 && (await stored(h.dataDir, "small/one")).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(await stored(h.dataDir, "small/one"), ["2"]);
      assert.deepEqual(await stored(h.dataDir, "big/one"), []);
      assert.match(fs.readFileSync(letters, "utf8"), new RegExp(`over the ${limit}-byte limit`));
      await publisher.end();
    } finally {
      await helper.unload();
      await h.services.close();
      await mosquitto.stop();
    }
  });
});

describe("history node across a redeploy", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
    h.useServices({ embedded: true });
  });
  afterEach(async () => {
    await h.close();
  });

  it("keeps storing while Node-RED replaces the node on a redeploy", async () => {
    await helper.load(nodes, historyFlow(h.url));
    const publisher = await TestClient.connect(h.url, h.auth);
    await publisher.publish("sensors/x", "1");
    await helper.unload(); // a redeploy closes the old node before the new one exists
    await publisher.publish("sensors/x", "2");
    await helper.load(nodes, historyFlow(h.url));
    await publisher.publish("sensors/x", "3");
    assert.deepEqual(await stored(h.dataDir, "sensors/x"), ["1", "2", "3"]);
    await publisher.end();
  });
});
