// The real runtime (a DoorPi, its shipped flow) with PIFOG_HA_DISCOVERY: its embedded broker holds the DoorPi's
// discovery configs retained, each valid for its component, and the availability they name says offline once it stops.
import assert from "node:assert/strict";
import type { HaConfig } from "../../nodes/lib/homeassistant/discovery";
import { haConfigProblems, type HaDocComponent } from "../support/homeassistant-schema";
import { TestClient } from "../support/mqtt";
import { MQTT_ADMIN, startRuntime, type TestRuntime } from "../support/runtime";
import { until } from "../support/until";

describe("Home Assistant discovery in the runtime (role doorpi, PIFOG_HA_DISCOVERY=homeassistant)", function () {
  this.timeout(120_000);
  let runtime: TestRuntime | null = null;
  let client: TestClient | null = null;
  after(async () => {
    await client?.end();
    await runtime?.stop();
  });

  it("the DoorPi's doors and online state are in Home Assistant's discovery, retained; offline when it stops", async () => {
    runtime = await startRuntime({ role: "doorpi", env: { PIFOG_HA_DISCOVERY: "homeassistant" } });
    client = await TestClient.connect(runtime.info.mqtt, { ...MQTT_ADMIN });
    await client.subscribe("homeassistant/#", "pifog/doorpi/status");
    const expected = ["binary_sensor/doorpi/door_door1", "binary_sensor/doorpi/door_door2", "binary_sensor/doorpi/online"].map((t) => `homeassistant/${t}/config`);
    const c = client;
    await until(() => expected.every((t) => c.received.some((m) => m.topic === t && m.payload.length > 0)), "the DoorPi's configs", 60_000, () =>
      c.received.map((m) => m.topic),
    );
    // and what Home Assistant finds when it (re)starts: the same, retained
    const late = await TestClient.connect(runtime.info.mqtt, { ...MQTT_ADMIN });
    try {
      await late.subscribe("homeassistant/#");
      for (const t of expected) await late.waitFor(t, (m) => m.retain && m.payload.length > 0, 10_000);
    } finally {
      await late.end();
    }
    for (const m of client.received.filter((r) => r.topic.startsWith("homeassistant/") && r.payload.length > 0)) {
      const config = JSON.parse(m.payload.toString()) as HaConfig & Record<string, unknown>;
      assert.deepEqual(haConfigProblems(m.topic.split("/")[1] as HaDocComponent, config), [], m.topic);
      assert.equal(m.topic.split("/")[2], "doorpi");
    }
    const door = JSON.parse(client.received.find((m) => m.topic === expected[0])!.payload.toString()) as HaConfig;
    assert.equal(door.availability?.[0]?.topic, "pifog/doorpi/status");
    await runtime.stop();
    runtime = null;
    await client.waitFor("pifog/doorpi/status", (m) => m.payload.toString().includes('"offline"'), 30_000);
  });
});
