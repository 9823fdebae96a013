// The broker cases of the security suite against the machine's own Mosquitto, run with the configuration
// `pifog broker mosquitto-conf` writes (nodes/lib/broker/mosquitto-conf.ts): the same policy, refused the Mosquitto way
// (a failed handshake, CONNACK 5, SUBACK 0x80, a publish that is not routed), and a bystander undisturbed.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { MqttClient } from "mqtt";
import { writeMosquittoConf } from "../../nodes/lib/broker/mosquitto-conf";
import { compatTopics, powerTopics, topics } from "../../nodes/lib/contract";
import { revokeDevice } from "../../nodes/lib/identity/admin";
import { runMosquitto } from "../support/mosquitto";
import { freePorts } from "../support/ports";
import { attempt, enrol, subscribeGranted, tlsAs, type Enrolled } from "../support/security";
import { until } from "../support/until";

describe("security suite: Mosquitto with the generated configuration", function () {
  this.timeout(60_000);
  let fx: Enrolled;
  let mosquitto: { stop(): Promise<void>; output(): string };
  let tcp: string;
  let tls: string;
  let anon: string;
  let bystander: MqttClient;
  const seen: Array<{ topic: string; payload: string }> = [];
  let acl: string;

  before(async () => {
    fx = await enrol({ doorpi: "doorpi", statuspi: "statuspi", buttonpi: "buttonpi", powerpi: "powerpi", revokee: "doorpi" });
    // Mosquitto reads the CRL at start: this one is revoked before
    await revokeDevice(fx.dataDir, "revokee", new Date());
    const [port, tlsPort, anonymousPort] = await freePorts(3);
    const out = path.join(fx.dataDir, "mosquitto");
    const files = await writeMosquittoConf(fx.dataDir, out, {
      port,
      tlsPort,
      anonymousPort,
      host: "127.0.0.1",
      anonymous: "loopback",
      passwords: Object.fromEntries(Object.values(fx.users).map((u) => [u.username, u.password])),
    });
    assert.deepEqual(files.passwordsToSet, [], "every user's password is in Mosquitto's file");
    acl = fs.readFileSync(files.acl, "utf8");
    mosquitto = await runMosquitto(files.conf, port);
    await until(async () => (await attempt(`mqtts://127.0.0.1:${tlsPort}`, tlsAs("doorpi", fx.devices.doorpi!, fx.ca), 1000).then((a) => (a.ok && a.client.end(true), a.ok))), "the TLS listener", 10_000);
    tcp = `mqtt://127.0.0.1:${port}`;
    tls = `mqtts://127.0.0.1:${tlsPort}`;
    anon = `mqtt://127.0.0.1:${anonymousPort}`;
    const b = await attempt(tcp, { clientId: "bystander", ...fx.users.admin });
    assert.ok(b.ok, b.ok ? "" : `${b.error.message}\n${mosquitto.output()}`);
    bystander = b.client;
    bystander.on("message", (topic, payload) => seen.push({ topic, payload: payload.toString() }));
    await bystander.subscribeAsync("#", { qos: 1 });
  });

  after(async () => {
    bystander?.end(true);
    await mosquitto?.stop();
    if (fx) fs.rmSync(fx.dataDir, { recursive: true, force: true });
  });

  afterEach(function () {
    if (this.currentTest?.state === "passed") assert.equal(bystander.connected, true, "the bystander is still connected");
  });

  async function barrier(): Promise<void> {
    const mark = `barrier-${Date.now()}-${Math.random()}`;
    await bystander.publishAsync("test/barrier", mark, { qos: 1 });
    await until(() => seen.some((m) => m.payload === mark), "the barrier", 5000);
  }

  it("writes the ACL from the same table: per-device blocks with their own ids, anonymous reads first", () => {
    assert.match(acl, /^user doorpi\ntopic readwrite pifog\/doorpi\/#\ntopic write \/World\/Fog\/1\/DoorPi\/Event/m);
    assert.match(acl, /^topic read pifog\/\+\/doors$/m);
    assert.ok(acl.indexOf("topic write pifog/+/sim/+/set") < acl.indexOf("user "), "the anonymous block comes before any user");
    assert.match(acl, /# device revokee: revoked/);
    assert.match(acl, /^user ada\ntopic readwrite #\ntopic read \$SYS\/#$/m);
  });

  it("a device connects with its certificate and publishes its own topics", async () => {
    const door = await attempt(tls, tlsAs("doorpi", fx.devices.doorpi!, fx.ca));
    assert.ok(door.ok);
    await door.client.publishAsync(topics.doors("doorpi"), '{"device":"doorpi"}', { qos: 1, retain: true });
    await until(() => seen.some((m) => m.topic === topics.doors("doorpi")), "the door state", 5000);
    door.client.end(true);
  });

  it("no certificate, a certificate from another CA, a revoked certificate: refused", async () => {
    assert.equal((await attempt(tls, { clientId: "doorpi", ca: fx.ca })).ok, false, "no certificate");
    assert.equal((await attempt(tls, tlsAs("doorpi", fx.otherCa, fx.ca))).ok, false, "another CA");
    assert.equal((await attempt(tls, tlsAs("revokee", fx.devices.revokee!, fx.ca))).ok, false, "revoked");
    assert.equal((await attempt(tls, tlsAs("oldpi", fx.expired, fx.ca))).ok, false, "expired");
  });

  it("a device publishing under another device's topic, another Pi's compat topic, a power event: not routed", async () => {
    const door = await attempt(tls, tlsAs("doorpi", fx.devices.doorpi!, fx.ca));
    assert.ok(door.ok);
    const spoofs = [topics.status("buttonpi"), compatTopics.event("StatusPi"), powerTopics.events("powerpi")];
    for (const t of spoofs) door.client.publish(t, '{"spoof":true}', { qos: 1 });
    await barrier();
    assert.deepEqual(seen.filter((m) => spoofs.includes(m.topic as never)), []);
    door.client.end(true);
  });

  it("a device subscribing to #: Mosquitto 2.0 grants it, and delivers only what the device may read", async () => {
    const door = await attempt(tls, tlsAs("doorpi", fx.devices.doorpi!, fx.ca));
    assert.ok(door.ok);
    const got: string[] = [];
    door.client.on("message", (t) => got.push(t));
    await subscribeGranted(door.client, { "#": { qos: 1 } });
    await bystander.publishAsync(topics.command("buttonpi"), '{"command":"ping"}', { qos: 1 });
    await bystander.publishAsync("pifog/camerapi/faces", "crop", { qos: 1 });
    await bystander.publishAsync(topics.command("doorpi"), '{"command":"ping"}', { qos: 1 });
    await until(() => got.includes(topics.command("doorpi")), "its own command", 5000);
    assert.deepEqual(got.filter((t) => t !== topics.command("doorpi") && t !== topics.doors("doorpi")), [], "nothing it may not read");
    door.client.end(true);
  });

  it("an anonymous open-door (native and compat): never reaches the ButtonPi; an operator's does", async () => {
    const button = await attempt(tls, tlsAs("buttonpi", fx.devices.buttonpi!, fx.ca));
    assert.ok(button.ok);
    const commands: string[] = [];
    button.client.on("message", (t, p) => commands.push(`${t} ${p.toString()}`));
    await button.client.subscribeAsync([topics.command("buttonpi"), compatTopics.command("ButtonPi")], { qos: 1 });
    const a = await attempt(anon, { clientId: "anon-door" });
    assert.ok(a.ok, "an anonymous client connects on the loopback listener");
    a.client.publish(topics.command("buttonpi"), '{"command":"open-door","id":"a"}', { qos: 1 });
    a.client.publish(compatTopics.command("ButtonPi"), '{"command":"open-door","id":"b"}', { qos: 1 });
    a.client.publish(topics.doors("doorpi"), "", { qos: 1, retain: true });
    await barrier();
    assert.deepEqual(commands, []);
    a.client.end(true);
    const olga = await attempt(tcp, { clientId: "olga", ...fx.users.operator });
    assert.ok(olga.ok);
    await olga.client.publishAsync(topics.command("buttonpi"), '{"command":"open-door","id":"c"}', { qos: 1 });
    await until(() => commands.length === 1, "the operator's command", 5000);
    olga.client.end(true);
    assert.ok(seen.some((m) => m.topic === topics.doors("doorpi") && m.payload !== ""), "the retained door state was not cleared");
  });

  it("no anonymous clients on the password listener, and a wrong password: CONNACK 5", async () => {
    const none = await attempt(tcp, { clientId: "nobody" });
    assert.equal(none.ok ? null : none.error.code, 5);
    const wrong = await attempt(tcp, { clientId: "guess", username: "ada", password: "wrong" });
    assert.equal(wrong.ok ? null : wrong.error.code, 5);
  });
});
