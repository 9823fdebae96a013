// The runtime's services: one object per runtime that the nodes read with servicesOf(RED), and that says what a
// runtime started without the launcher lacks.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { EmbeddedBroker } from "../../nodes/lib/broker/embedded-broker";
import { SafeState } from "../../nodes/lib/runtime/safe-state";
import { isRuntimeBroker, MissingServicesError, missingServices, servicesOf, withLauncher } from "../../nodes/lib/services";
import { testServices } from "../support/services";

describe("runtime services", () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-services-"));
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("are what the settings hand the nodes, and a runtime without them is told how to start", () => {
    const services = testServices({ dataDir });
    assert.equal(servicesOf({ settings: { pifogServices: services } } as never), services);
    assert.throws(() => servicesOf({ settings: {} } as never), (err: Error) => err instanceof MissingServicesError && /npm start/.test(err.message));
  });

  it("read the configuration once: the nodes' defaults are the runtime's", () => {
    const services = testServices({ dataDir, env: { PIFOG_ROLE: "doorpi", PIFOG_DEVICE_ID: "front", PIFOG_MQTT_MAX_PACKET: "64KiB" } });
    assert.equal(services.config.deviceId, "front");
    assert.equal(services.config.role, "doorpi");
    assert.equal(services.dataDir, dataDir);
    assert.equal(services.maxPacketBytes, 64 * 1024);
    assert.equal(services.broker.url, "mqtt://127.0.0.1:1883");
    assert.equal(services.broker.embedded, null);
  });

  it("know their own broker under any name of this host, and no other", () => {
    const services = testServices({ dataDir, brokerUrl: "mqtt://127.0.0.1:18830" });
    assert.equal(isRuntimeBroker(services, "mqtt://localhost:18830"), true);
    assert.equal(isRuntimeBroker(services, "mqtt://0.0.0.0:18830"), true);
    assert.equal(isRuntimeBroker(services, "mqtt://127.0.0.1:1883"), false);
    assert.equal(isRuntimeBroker(services, "mqtt://broker.example:18830"), false);
  });

  it("say that a runtime without the launcher has no embedded broker, unless PIFOG_MQTT_URL names one", () => {
    const plain = testServices({ dataDir });
    const [line] = missingServices(plain);
    assert.match(line!, /no embedded MQTT broker/);
    assert.match(line!, /npm start/);
    assert.match(line!, /mqtt:\/\/127\.0\.0\.1:1883/);
    assert.deepEqual(missingServices(testServices({ dataDir, brokerUrl: "mqtt://broker.example:1883" })), []);
    const broker = { maxPacketBytes: 4096 } as EmbeddedBroker;
    const launched = withLauncher(plain, { broker: { url: "mqtt://127.0.0.1:41883", embedded: broker }, safeState: new SafeState() });
    assert.deepEqual(missingServices(launched), []);
    assert.equal(launched.maxPacketBytes, 4096);
  });

  it("the launcher's completion shares everything else, and closing commits every history sink", async () => {
    const plain = testServices({ dataDir });
    const safeState = new SafeState();
    const launched = withLauncher(plain, { broker: { url: "mqtt://127.0.0.1:41883", embedded: null }, safeState });
    assert.equal(launched.safeState, safeState);
    for (const part of ["sinks", "stores", "audit", "deadLetters", "alerts", "historyProviders", "accountApis", "signIn", "dashboardSockets"] as const) {
      assert.equal(launched[part], plain[part], part);
    }
    const closed: string[] = [];
    await launched.sinks.keep("h1", { key: "a", close: async () => void closed.push("h1") });
    await launched.sinks.keep("h2", { key: "b", close: async () => void closed.push("h2") });
    await launched.close();
    assert.deepEqual(closed.sort(), ["h1", "h2"]);
    assert.equal(launched.sinks.adopt("h1", "a"), null);
  });
});
