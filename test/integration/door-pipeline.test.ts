// The door pipeline end to end on the real runtime, driven over MQTT, against the embedded broker, against
// Mosquitto and against a 3-node NATS cluster (the runtimes given every node, the test's client on another): flips → PiFog's glyphs, DoorPi offline → "?", PiFog's compat payloads, ping → pong.
import assert from "node:assert/strict";
import mqtt from "mqtt";
import type { CompatConnected, CompatDoorEvent, DeviceStatus, PongEvent } from "../../nodes/lib/contract";
import { glyphs, type Frame } from "../../nodes/lib/matrix-glyphs";
import { startMosquitto, type Mosquitto } from "../support/mosquitto";
import { startNatsCluster, type NatsCluster } from "../support/nats-cluster";
import { TestClient, type Received } from "../support/mqtt";
import { addDevice } from "../../nodes/lib/identity/admin";
import { MQTT_ADMIN, startRuntime, type TestRuntime } from "../support/runtime";

const PY_TIMESTAMP = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/;
const frameIs = (glyph: Frame) => (m: { payload: Buffer }) => JSON.stringify(JSON.parse(m.payload.toString())) === JSON.stringify(glyph);

/** Waits for a device's next "online" after this call was made: its subscriptions are in place by then
 * (they are sent first). Call before starting the device, await after. */
function nextOnline(client: TestClient, device: string): () => Promise<unknown> {
  return nextMessage(client, `pifog/${device}/status`, (m) => m.payload.includes('"online"'));
}

/** The next message on `topic` passing `test` that arrives after this call, even before the await. */
function nextMessage(client: TestClient, topic: string, test: (m: Received) => boolean): () => Promise<Received> {
  const before = new Set(client.received);
  return () => client.waitFor(topic, (m) => !before.has(m) && test(m), 15_000, true);
}

interface BrokerCase {
  name: string;
  /** Returns the URL the runtimes should use (undefined: the all-in-one's embedded broker). */
  setUp(): Promise<string | undefined>;
  /** Where the test's own clients connect, given the runtimes' URL (default: the same). */
  clientUrl?(runtimeUrl: string): string;
  tearDown(): Promise<void>;
}

let mosquitto: Mosquitto | null = null;
let nats: NatsCluster | null = null;
const brokers: BrokerCase[] = [
  { name: "the embedded broker", setUp: async () => undefined, tearDown: async () => undefined },
  {
    name: "Mosquitto",
    setUp: async () => {
      mosquitto = await startMosquitto();
      return mosquitto.url;
    },
    tearDown: async () => {
      await mosquitto?.stop();
      mosquitto = null;
    },
  },
  {
    name: "a NATS cluster",
    setUp: async () => {
      nats = await startNatsCluster();
      return nats.urls;
    },
    // the runtimes are on the first node; the test's client on the second, so every message crosses the cluster
    clientUrl: () => nats!.nodes[1].mqttUrl,
    tearDown: async () => {
      await nats?.stop();
      nats = null;
    },
  },
];

for (const broker of brokers) {
  describe(`door pipeline on ${broker.name}`, function () {
    this.timeout(60_000);
    let fog: TestRuntime;
    let client: TestClient;
    let url: string;

    before(async () => {
      const external = await broker.setUp();
      fog = await startRuntime({ role: "all", env: external ? { PIFOG_MQTT_URL: external } : {} });
      url = fog.info.mqtt;
      if (external) assert.equal(url, external, "the runtime uses the external broker");
      url = broker.clientUrl?.(url) ?? url;
      client = await TestClient.connect(url, MQTT_ADMIN);
      await client.subscribe("pifog/#", "/World/Fog/1/#");
      for (const device of ["hub", "doorpi", "statuspi"]) {
        await client.waitFor(`pifog/${device}/status`, (m) => m.payload.includes('"online"'), 15_000);
      }
    });

    after(async () => {
      await client?.end();
      await fog?.stop();
      await broker.tearDown();
    });

    it("shows PiFog's glyphs on the StatusPi as the DoorPi's doors flip", async () => {
      await client.publish("pifog/doorpi/sim/door1/set", "closed");
      await client.publish("pifog/doorpi/sim/door2/set", "closed");
      await client.waitFor("pifog/statuspi/sim/matrix", frameIs(glyphs.stop()));
      const flip = async (door: string, state: string, glyph: Frame) => {
        const shown = nextMessage(client, "pifog/statuspi/sim/matrix", frameIs(glyph));
        await client.publish(`pifog/doorpi/sim/${door}/set`, state);
        await shown();
      };
      await flip("door1", "open", glyphs.maybe());
      await flip("door2", "open", glyphs.go());
      await flip("door1", "closed", glyphs.maybe());
    });

    it("publishes PiFog's DoorPi event, retained, with the original payload", async () => {
      // only an event from these flips counts (an earlier test may have left the same state behind): once it is
      // here, nothing else is on its way, so the late subscriber gets the retained one
      const flipped = client.waitFor(
        "/World/Fog/1/DoorPi/Event",
        (m) => {
          const e = JSON.parse(m.payload.toString()) as CompatDoorEvent;
          return e.state?.door1 === "open" && e.state?.door2 === "closed";
        },
        10_000,
        false,
      );
      await client.publish("pifog/doorpi/sim/door1/set", "closed");
      await client.publish("pifog/doorpi/sim/door2/set", "closed");
      await client.publish("pifog/doorpi/sim/door1/set", "open");
      await flipped;
      const late = await TestClient.connect(url, MQTT_ADMIN);
      await late.subscribe("/World/Fog/1/DoorPi/Event", "/World/Fog/1/+/Connection");
      const m = await late.waitFor("/World/Fog/1/DoorPi/Event");
      assert.equal(m.retain, true);
      const event = late.json<CompatDoorEvent>(m);
      assert.deepEqual(Object.keys(event), ["state"]);
      assert.deepEqual(Object.keys(event.state).sort(), ["door1", "door2", "timestamp"]);
      assert.match(event.state.timestamp, PY_TIMESTAMP);
      for (const pi of ["DoorPi", "StatusPi"]) {
        const c = await late.waitFor(`/World/Fog/1/${pi}/Connection`);
        assert.equal(c.retain, true);
        const connected = late.json<CompatConnected>(c);
        assert.deepEqual(Object.keys(connected.connected).sort(), ["addresses", "boot_time", "timestamp"]);
        assert.match(connected.connected.timestamp, PY_TIMESTAMP);
      }
      await late.end();
    });

    it("answers PiFog's ping on every PiFog-role Pi, and the native ping", async () => {
      for (const pi of ["DoorPi", "StatusPi"]) {
        await client.publish(`/World/Fog/1/${pi}/Command`, JSON.stringify({ command: "ping", id: `id-${pi}` }));
        const pong = client.json<PongEvent>(await client.waitFor(`/World/Fog/1/${pi}/Event`, (m) => m.payload.includes(`id-${pi}`)));
        assert.match(pong.pong.timestamp, PY_TIMESTAMP);
      }
      await client.publish("pifog/hub/command", JSON.stringify({ command: "ping", id: 7 }));
      const pong = client.json<PongEvent>(await client.waitFor("pifog/hub/event", (m) => m.payload.includes("pong")));
      assert.equal(pong.pong.id, 7);
    });

    it("announces every Pi of the fog online, retained", async () => {
      for (const device of ["hub", "doorpi", "statuspi"]) {
        const status = client.json<DeviceStatus>(await client.waitFor(`pifog/${device}/status`, (m) => m.payload.includes('"online"')));
        assert.equal(status.device, device);
      }
    });
  });

  describe(`DoorPi offline on ${broker.name}`, function () {
    this.timeout(90_000);
    const runtimes: TestRuntime[] = [];
    let client: TestClient;

    after(async () => {
      await client?.end();
      for (const r of runtimes.reverse()) await r.stop();
      await broker.tearDown();
    });

    it("shows ? on the StatusPi when the DoorPi's process dies, and its doors again when it is back", async () => {
      let url = await broker.setUp();
      /** How each Pi connects: on PiFog's hub, enrolled (`pifog device add`) with its bundle, over TLS as itself. */
      const piEnv: Record<string, Record<string, string>> = {};
      if (!url) {
        // the hub carries the embedded broker; the Pis are separate processes on it
        const hub = await startRuntime({ role: "hub" });
        runtimes.push(hub);
        url = hub.info.mqtt;
        for (const pi of ["statuspi", "doorpi"] as const) {
          const bundle = await addDevice(hub.dataDir, pi, pi, { hubUrl: hub.info.mqtts!, now: new Date() });
          piEnv[pi] = { PIFOG_MQTT_URL: hub.info.mqtts!, PIFOG_IDENTITY: bundle.dir };
        }
      } else {
        // on Mosquitto (or a cluster) the Pis log in as its MQTT admin (a list's first URL carries the login for all)
        const [first, ...rest] = url.split(",");
        const login = new URL(first);
        login.username = MQTT_ADMIN.username;
        login.password = MQTT_ADMIN.password;
        for (const pi of ["statuspi", "doorpi"]) piEnv[pi] = { PIFOG_MQTT_URL: [login.toString().replace(/\/$/, ""), ...rest].join(",") };
        url = broker.clientUrl?.(url) ?? url;
      }
      client = await TestClient.connect(url, MQTT_ADMIN);
      await client.subscribe("pifog/#");
      const statuspi = await startRuntime({ role: "statuspi", env: piEnv.statuspi });
      runtimes.push(statuspi);
      let online = nextOnline(client, "doorpi");
      let doorpi = await startRuntime({ role: "doorpi", env: piEnv.doorpi });
      const doorpiData = doorpi.dataDir;
      runtimes.push(doorpi);
      await online(); // its simulator listens from here on
      const maybe = nextMessage(client, "pifog/statuspi/sim/matrix", frameIs(glyphs.maybe()));
      await client.publish("pifog/doorpi/sim/door1/set", "open");
      await maybe();

      const offline = nextMessage(client, "pifog/doorpi/status", (m) => m.payload.includes('"offline"'));
      const unknown = nextMessage(client, "pifog/statuspi/sim/matrix", frameIs(glyphs.unknown()));
      await doorpi.kill(); // kill -9: no goodbye, only the broker's last will
      await offline();
      await unknown();

      online = nextOnline(client, "doorpi");
      const stop = nextMessage(client, "pifog/statuspi/sim/matrix", frameIs(glyphs.stop()));
      doorpi = await startRuntime({ role: "doorpi", env: piEnv.doorpi, dataDir: doorpiData });
      runtimes.push(doorpi);
      await online();
      await stop();
    });
  });
}

describe("MQTT over WebSocket on the embedded broker", function () {
  this.timeout(30_000);
  it("lets a browser-style client subscribe at ws://<http>/mqtt", async () => {
    const fog = await startRuntime({ role: "all" });
    try {
      assert.ok(fog.info.mqttWebSocket);
      const ws = await mqtt.connectAsync(fog.info.mqttWebSocket!, { reconnectPeriod: 0 });
      const got = new Promise<string>((resolve) => ws.on("message", (_t, p) => resolve(p.toString())));
      await ws.subscribeAsync("pifog/doorpi/doors", { qos: 1 });
      const doors = JSON.parse(await got) as { doors: Record<string, unknown> };
      assert.deepEqual(Object.keys(doors.doors), ["door1", "door2"]);
      await ws.endAsync();
    } finally {
      await fog.stop();
    }
  });
});
