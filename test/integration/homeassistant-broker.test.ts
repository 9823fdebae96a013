// Who may publish Home Assistant discovery configs on the embedded broker (acl.ts' `{ha}/+/{device}/+/config`): a
// device its own (node id = its id), retained, and clear them; nobody else: not another device, not an operator, not
// an anonymous client, and nobody outside the prefix the broker was given. A refusal closes the connection, is audited,
// and nothing is routed or retained.
import assert from "node:assert/strict";
import fs from "node:fs";
import type { MqttClient } from "mqtt";
import { Audit } from "../../nodes/lib/audit/audit";
import { EmbeddedBroker } from "../../nodes/lib/broker/embedded-broker";
import { compatTopics, haTopics } from "../../nodes/lib/contract";
import { IdentityStore } from "../../nodes/lib/identity/store";
import { mosquittoAcl } from "../../nodes/lib/broker/mosquitto-conf";
import type { DeviceRecord } from "../../nodes/lib/identity/types";
import { attempt, closed, enrol, subscribeGranted, tlsAs, type Enrolled } from "../support/security";
import { until } from "../support/until";

describe("Home Assistant discovery on the embedded broker: a device announces only its own entities", function () {
  this.timeout(60_000);
  let fx: Enrolled;
  let identities: IdentityStore;
  let audit: Audit;
  const brokers: EmbeddedBroker[] = [];
  const clients: MqttClient[] = [];
  const doorConfig = haTopics.config("homeassistant", "binary_sensor", "doorpi", "door_door1");
  const config = JSON.stringify({ name: "Door F", state_topic: "pifog/doorpi/door/door1", unique_id: "pifog_doorpi_door_door1" });

  before(async () => {
    fx = await enrol({ doorpi: "doorpi", buttonpi: "buttonpi" });
    identities = await IdentityStore.open(fx.dataDir);
    audit = new Audit(fx.dataDir);
  });

  after(async () => {
    for (const c of clients) c.end(true);
    for (const b of brokers) await b.close();
    identities?.close();
    fs.rmSync(fx.dataDir, { recursive: true, force: true });
  });

  async function start(discoveryPrefix?: string): Promise<{ tcp: string; tls: string; seen: Array<{ topic: string; payload: string; retain: boolean }>; admin: MqttClient }> {
    const broker = await EmbeddedBroker.start({
      port: 0,
      host: "127.0.0.1",
      identities,
      tlsPort: 0,
      anonymous: ["127.0.0.1/32"],
      audit,
      ...(discoveryPrefix ? { discoveryPrefix } : {}),
    });
    brokers.push(broker);
    const tcp = `mqtt://127.0.0.1:${broker.port}`;
    const a = await attempt(tcp, { clientId: `bystander-${brokers.length}`, ...fx.users.admin });
    assert.ok(a.ok, "the admin connects");
    clients.push(a.client);
    const seen: Array<{ topic: string; payload: string; retain: boolean }> = [];
    a.client.on("message", (topic, payload, packet) => seen.push({ topic, payload: payload.toString(), retain: packet.retain }));
    await a.client.subscribeAsync("#", { qos: 1 });
    return { tcp, tls: `mqtts://127.0.0.1:${broker.tlsPort}`, seen, admin: a.client };
  }

  async function refused(url: string, options: Parameters<typeof attempt>[1], topic: string, clientId: string, payload = config): Promise<void> {
    const c = await attempt(url, options);
    assert.ok(c.ok, `${clientId} connects`);
    const gone = closed(c.client);
    c.client.publish(topic, payload, { qos: 1, retain: true });
    assert.equal(await gone, true, `${clientId} publishing on ${topic} is disconnected`);
    await until(
      () => audit.read().some((r) => r.event === "mqtt.publish.refused" && r.topic === topic && r.clientId === clientId),
      `the refusal of ${clientId} on ${topic} in the audit`,
      5000,
    );
  }

  /** The retained message a new subscriber gets on `topic`, or null. */
  async function retained(url: string, topic: string): Promise<string | null> {
    const c = await attempt(url, { clientId: `reader-${Math.random().toString(36).slice(2)}`, ...fx.users.admin });
    assert.ok(c.ok);
    const got: string[] = [];
    c.client.on("message", (t, p, packet) => {
      if (t === topic && packet.retain) got.push(p.toString());
    });
    await c.client.subscribeAsync(topic, { qos: 1 });
    // the marker goes out after the subscription's retained messages: once it is back, they are all here
    const mark = `mark-${Math.random()}`;
    let back = false;
    c.client.on("message", (t, p) => {
      if (t === "test/mark" && p.toString() === mark) back = true;
    });
    await c.client.subscribeAsync("test/mark", { qos: 1 });
    await c.client.publishAsync("test/mark", mark, { qos: 1 });
    await until(() => back, "the marker", 5000);
    c.client.end(true);
    return got.length > 0 ? got[got.length - 1]! : null;
  }

  it("the device publishes its own configs retained, and clears them", async () => {
    const b = await start();
    const door = await attempt(b.tls, tlsAs("doorpi", fx.devices.doorpi!, fx.ca));
    assert.ok(door.ok, door.ok ? "" : door.error.message);
    clients.push(door.client);
    await door.client.publishAsync(doorConfig, config, { qos: 1, retain: true });
    assert.equal(await retained(b.tcp, doorConfig), config);
    // and reads them back (what its device finds again on a restart)
    assert.deepEqual(await subscribeGranted(door.client, { [haTopics.nodeConfigs("homeassistant", "doorpi")]: { qos: 1 } }), [1]);
    await door.client.publishAsync(doorConfig, "", { qos: 1, retain: true });
    assert.equal(await retained(b.tcp, doorConfig), null);
    assert.equal(door.client.connected, true);
  });

  it("another device, an operator and an anonymous client may not add or remove the device's entities", async () => {
    const b = await start();
    await refused(b.tls, tlsAs("buttonpi", fx.devices.buttonpi!, fx.ca), doorConfig, "buttonpi");
    await refused(b.tcp, { clientId: "olga-ha", ...fx.users.operator }, doorConfig, "olga-ha");
    await refused(b.tcp, { clientId: "anon-ha" }, doorConfig, "anon-ha");
    // nor may a device reach outside its node id, or put a config in its own tree's place of another prefix
    await refused(b.tls, tlsAs("doorpi", fx.devices.doorpi!, fx.ca), haTopics.config("homeassistant", "button", "buttonpi", "open_door"), "doorpi");
    assert.equal(await retained(b.tcp, doorConfig), null, "nothing was retained");
    assert.equal(b.seen.some((m) => m.topic.startsWith("homeassistant/")), false, "nothing was routed");
    // an anonymous client does not even read them
    const anon = await attempt(b.tcp, { clientId: "anon-reader" });
    assert.ok(anon.ok);
    assert.deepEqual(await subscribeGranted(anon.client, { "homeassistant/#": { qos: 1 } }), [128]);
    anon.client.end(true);
  });

  it("a device's own config may name only topics the device itself may use: not another device's button or states", async () => {
    const b = await start();
    const doorpi = tlsAs("doorpi", fx.devices.doorpi!, fx.ca);
    // Home Assistant would press this with its own (operator's) login: the door opener's command, under the doorpi's name
    const button = haTopics.config("homeassistant", "button", "doorpi", "open_door");
    const opener = JSON.stringify({ name: "Lights", command_topic: compatTopics.command("ButtonPi"), payload_press: '{"command":"open-door"}', unique_id: "x1" });
    await refused(b.tls, doorpi, button, "doorpi", opener);
    // the same in abbreviations, with a base topic
    const abbreviated = JSON.stringify({ "~": "pifog/buttonpi", name: "Lights", cmd_t: "~/command", uniq_id: "x2" });
    const button2 = haTopics.config("homeassistant", "button", "doorpi", "lights");
    await refused(b.tls, doorpi, button2, "doorpi", abbreviated);
    // another device's state, or availability, shown as the doorpi's
    const sensor = haTopics.config("homeassistant", "binary_sensor", "doorpi", "door_door2");
    await refused(b.tls, doorpi, sensor, "doorpi", JSON.stringify({ name: "Door", stat_t: "pifog/doorpi/door/door2", avty: [{ t: "pifog/buttonpi/status" }], uniq_id: "x3" }));
    const sensor2 = haTopics.config("homeassistant", "binary_sensor", "doorpi", "door_door3");
    await refused(b.tls, doorpi, sensor2, "doorpi", "not json");
    assert.equal(await retained(b.tcp, button), null, "nothing was retained");
    assert.equal(await retained(b.tcp, button2), null);
    assert.equal(await retained(b.tcp, sensor2), null);
    assert.equal(await retained(b.tcp, sensor), null);
    const reasons = audit.read().filter((r) => r.event === "mqtt.publish.refused" && r.clientId === "doorpi").map((r) => String(r.reason));
    assert.ok(reasons.some((r) => r.includes(`names "${compatTopics.command("ButtonPi")}", a topic the device may neither publish nor read`)), reasons.join("\n"));
    assert.ok(reasons.some((r) => r.includes('names "pifog/buttonpi/command"')), reasons.join("\n"));
    assert.ok(reasons.some((r) => r.includes('names "pifog/buttonpi/status"')), reasons.join("\n"));
    assert.ok(reasons.some((r) => r.includes("must be JSON")), reasons.join("\n"));
    // its own states, availability and commands are fine, abbreviated too
    const door = await attempt(b.tls, doorpi);
    assert.ok(door.ok);
    clients.push(door.client);
    const own = JSON.stringify({ "~": "pifog/doorpi", name: "Door", stat_t: "~/door/door2", avty: [{ t: "~/status" }], cmd_t: "~/command", uniq_id: "x4" });
    await door.client.publishAsync(sensor, own, { qos: 1, retain: true });
    assert.equal(await retained(b.tcp, sensor), own);
    assert.equal(door.client.connected, true);
  });

  it("Mosquitto's generated ACL gives each device its own node id under the prefix, and nobody else", () => {
    const devices: DeviceRecord[] = [
      { id: "doorpi", role: "doorpi", serial: "1", notBefore: "", notAfter: "" },
      { id: "buttonpi", role: "buttonpi", serial: "2", notBefore: "", notAfter: "" },
    ];
    const acl = mosquittoAcl(devices, [], "loopback", { discoveryPrefix: "ha" });
    const blocks = acl.split(/\n(?=# )/);
    const block = (who: string) => blocks.find((b) => b.includes(`\nuser ${who}\n`)) ?? "";
    assert.match(block("doorpi"), /^topic readwrite ha\/\+\/doorpi\/\+\/config$/m);
    assert.match(block("buttonpi"), /^topic readwrite ha\/\+\/buttonpi\/\+\/config$/m);
    assert.doesNotMatch(block("buttonpi"), /doorpi\/\+\/config/);
    assert.doesNotMatch(blocks[0] ?? "", /config/, "nothing for anonymous clients");
  });

  it("a broker given another prefix (PIFOG_HA_DISCOVERY) allows that one only", async () => {
    const b = await start("ha");
    const door = await attempt(b.tls, tlsAs("doorpi", fx.devices.doorpi!, fx.ca));
    assert.ok(door.ok);
    clients.push(door.client);
    const own = haTopics.config("ha", "binary_sensor", "doorpi", "door_door1");
    await door.client.publishAsync(own, config, { qos: 1, retain: true });
    assert.equal(await retained(b.tcp, own), config);
    await refused(b.tls, tlsAs("doorpi", fx.devices.doorpi!, fx.ca), doorConfig, "doorpi");
  });
});
