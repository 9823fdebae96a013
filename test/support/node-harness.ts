// node-red-node-test-helper around a real in-process broker: every node test talks to real MQTT.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import helper from "node-red-node-test-helper";
import { EmbeddedBroker, type EmbeddedBrokerOptions } from "../../nodes/lib/broker/embedded-broker";
import type { PifogServices } from "../../nodes/lib/services";
import { TestClient } from "./mqtt";
import { testServices, type TestServiceOptions } from "./services";

helper.init(require.resolve("node-red"));

export { helper };

export interface Harness {
  broker: EmbeddedBroker;
  url: string;
  /** The broker's runtime user (what the nodes' device links log in as): for a test client that acts as the
   * runtime, an operator or a device. A test about anonymous clients connects without it. */
  auth: { username: string; password: string };
  dataDir: string;
  client: TestClient;
  /** The runtime's services the nodes see (helper.settings' `pifogServices`). */
  services: PifogServices;
  /** Gives the nodes services of their own making (a clock, a fail-safe, timings, `embedded: true` to make the
   * harness's broker the runtime's own), on the harness's data dir and broker; closed with the harness. */
  useServices(options?: Omit<TestServiceOptions, "dataDir" | "brokerUrl" | "embedded"> & { embedded?: boolean }): PifogServices;
  close(): Promise<void>;
}

/** `options.maxPacketBytes` also goes to the nodes' services, as the runtime's PIFOG_MQTT_MAX_PACKET does.
 * `clientId`: the test client's MQTT client id. The test client logs in as the runtime (it may publish anything, as
 * a test that plays a device or an operator must). */
export async function startHarness(options: Partial<EmbeddedBrokerOptions> & { clientId?: string } = {}): Promise<Harness> {
  const { clientId, ...brokerOptions } = options;
  const broker = await EmbeddedBroker.start({ port: 0, host: "127.0.0.1", ...brokerOptions });
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-node-"));
  const made: PifogServices[] = [];
  const auth = broker.runtimeCredentials;
  const harness: Harness = {
    broker,
    url,
    auth,
    dataDir,
    client: undefined as unknown as TestClient,
    services: undefined as unknown as PifogServices,
    useServices: ({ embedded, env, ...parts } = {}) => {
      const maxPacket = options.maxPacketBytes ? { PIFOG_MQTT_MAX_PACKET: String(options.maxPacketBytes) } : {};
      const services = testServices({ ...parts, dataDir, brokerUrl: url, embedded: embedded ? broker : undefined, brokerAuth: auth, env: { ...maxPacket, ...env } });
      made.push(services);
      harness.services = services;
      helper.settings({ pifogServices: services });
      return services;
    },
    close: async () => {
      await helper.unload();
      for (const services of made) await services.close(); // as the runtime does on shutdown
      await harness.client.end();
      await broker.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  harness.useServices();
  harness.client = await TestClient.connect(url, { ...auth, ...(clientId ? { clientId } : {}) });
  await harness.client.subscribe("#");
  return harness;
}

/** A pifog-device config node `cfg-<deviceId>` for a test flow (its id must differ from the device id:
 * Node-RED takes a property equal to a config node's id as a reference to it). */
export function deviceNode(deviceId: string, url: string, extra: Record<string, unknown> = {}) {
  return { id: `cfg-${deviceId}`, type: "pifog-device", deviceId, role: "test", compat: "", broker: url, hardware: "sim", ...extra };
}

export function waitForEvent<T>(emitter: NodeJS.EventEmitter, event: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
    emitter.once(event, (value: T) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/** A test flow on tab `tab`: the hub's device node, `node` (wire it to the helper `out`), the helper `out`, and a
 * Catch node passing what it catches to the helper `caught`. */
export function hubFlow(url: string, node: Record<string, unknown>) {
  return [
    deviceNode("hub", url),
    node,
    { id: "out", type: "helper", z: "tab" },
    { id: "catcher", type: "catch", z: "tab", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper", z: "tab" },
    { id: "tab", type: "tab" },
  ];
}

let pings = 0;

/** Every message `client` published before this has reached the device's nodes: the device answers a ping after them. */
export async function pingBarrier(client: TestClient, device = "hub"): Promise<void> {
  const id = `barrier-${++pings}`;
  await client.publish(`pifog/${device}/command`, JSON.stringify({ command: "ping", id }));
  await client.waitFor(`pifog/${device}/event`, (m) => m.payload.includes(id));
}

/** Loads the flow and waits until the device is online (its subscriptions are in place by then). */
export async function loadUntilOnline(h: Harness, nodes: unknown[], flow: unknown[], device = "hub"): Promise<void> {
  const since = h.client.received.length;
  await helper.load(nodes as Parameters<typeof helper.load>[0], flow as Parameters<typeof helper.load>[1]);
  await h.client.waitFor(`pifog/${device}/status`, (m) => m.payload.includes('"online"') && h.client.received.indexOf(m) >= since);
}
