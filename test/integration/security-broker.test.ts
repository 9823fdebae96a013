// The broker cases of the security suite (issue 11), against the embedded broker with a real identity store in a
// temp data dir: each attempt refused the way MQTT says, written to the audit record, and a bystander undisturbed.
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import type { MqttClient } from "mqtt";
import mqttPacket, { type Packet } from "mqtt-packet";
import WebSocket from "ws";
import { Audit, type AuditRecord } from "../../nodes/lib/audit/audit";
import { EmbeddedBroker } from "../../nodes/lib/broker/embedded-broker";
import { topics, powerTopics, compatTopics } from "../../nodes/lib/contract";
import { revokeDevice } from "../../nodes/lib/identity/admin";
import { IdentityStore } from "../../nodes/lib/identity/store";
import { DEFAULT_SIGN_IN, makeSignInThrottles } from "../../nodes/lib/security/sign-in";
import { connectPacket, rawConnect } from "../support/raw-mqtt";
import { attempt, closed, enrol, subscribeGranted, tlsAs, type Enrolled } from "../support/security";
import { until } from "../support/until";

describe("security suite: the embedded broker", function () {
  this.timeout(60_000);
  let fx: Enrolled;
  let identities: IdentityStore;
  let audit: Audit;
  let broker: EmbeddedBroker;
  let tcp: string;
  let tls: string;
  let bystander: MqttClient;
  const seen: Array<{ topic: string; payload: string }> = [];

  before(async () => {
    fx = await enrol({ doorpi: "doorpi", statuspi: "statuspi", buttonpi: "buttonpi", powerpi: "powerpi", revokee: "doorpi" });
    identities = await IdentityStore.open(fx.dataDir, { watch: true, debounceMs: 20 });
    audit = new Audit(fx.dataDir);
    broker = await EmbeddedBroker.start({
      port: 0,
      host: "127.0.0.1",
      identities,
      tlsPort: 0,
      anonymous: ["127.0.0.1/32"],
      audit,
      throttle: makeSignInThrottles(DEFAULT_SIGN_IN, { now: Date.now }).mqtt,
      sysIntervalMs: 100,
    });
    tcp = `mqtt://127.0.0.1:${broker.port}`;
    tls = `mqtts://127.0.0.1:${broker.tlsPort}`;
    const b = await attempt(tcp, { clientId: "bystander", ...fx.users.admin });
    assert.ok(b.ok, "the admin connects");
    bystander = b.client;
    bystander.on("message", (topic, payload) => seen.push({ topic, payload: payload.toString() }));
    await bystander.subscribeAsync("#", { qos: 1 });
  });

  after(async () => {
    bystander?.end(true);
    await broker?.close();
    identities?.close();
    fs.rmSync(fx.dataDir, { recursive: true, force: true });
  });

  afterEach(function () {
    // every other client undisturbed: the bystander is still connected after every case
    if (this.currentTest?.state === "passed") assert.equal(bystander.connected, true, "the bystander is still connected");
  });

  const records = (): AuditRecord[] => audit.read();
  async function audited(event: string, test: (r: AuditRecord) => boolean, what: string): Promise<AuditRecord> {
    let found: AuditRecord | undefined;
    await until(() => (found = records().find((r) => r.event === event && test(r))) !== undefined, `an audit record ${event}: ${what}`, 5000, () =>
      records().slice(-5).map((r) => `${r.event}: ${r.reason}`),
    );
    return found!;
  }

  /** A marker every client sees once the broker has routed what came before it. */
  async function barrier(): Promise<void> {
    const mark = `barrier-${Date.now()}-${Math.random()}`;
    await bystander.publishAsync("test/barrier", mark, { qos: 1 });
    await until(() => seen.some((m) => m.payload === mark), "the barrier", 5000);
  }

  it("a device connects with its certificate (client id = CN, or <CN>:<label>) and publishes its own topics", async () => {
    const door = await attempt(tls, tlsAs("doorpi", fx.devices.doorpi!, fx.ca));
    assert.ok(door.ok, door.ok ? "" : door.error.message);
    const compat = await attempt(tls, tlsAs("doorpi:compat", fx.devices.doorpi!, fx.ca));
    assert.ok(compat.ok);
    await door.client.publishAsync(topics.doors("doorpi"), '{"device":"doorpi"}', { qos: 1, retain: true });
    await compat.client.publishAsync(compatTopics.connection("DoorPi"), '{"connected":{}}', { qos: 1, retain: true });
    await until(() => seen.some((m) => m.topic === topics.doors("doorpi")), "the door state reaches the bystander", 5000);
    door.client.end(true);
    compat.client.end(true);
  });

  it("no certificate on the TLS listener: the handshake is refused, audited", async () => {
    const r = await attempt(tls, { clientId: "doorpi", ca: fx.ca, rejectUnauthorized: true });
    assert.equal(r.ok, false);
    await audited("mqtt.tls.refused", (e) => /no client certificate/.test(e.reason), "no certificate");
  });

  it("a certificate from another CA: refused, audited", async () => {
    const r = await attempt(tls, tlsAs("doorpi", fx.otherCa, fx.ca));
    assert.equal(r.ok, false);
    await audited("mqtt.tls.refused", (e) => /another CA/.test(e.reason) && e.cn === "doorpi", "another CA");
  });

  it("an expired certificate: refused, audited", async () => {
    const r = await attempt(tls, tlsAs("oldpi", fx.expired, fx.ca));
    assert.equal(r.ok, false);
    await audited("mqtt.tls.refused", (e) => /an expired certificate/.test(e.reason) && e.cn === "oldpi", "expired");
  });

  it("the client id is not the certificate's CN: identifier rejected (CONNACK 2), audited", async () => {
    const r = await attempt(tls, tlsAs("buttonpi", fx.devices.doorpi!, fx.ca));
    assert.equal(r.ok, false);
    assert.equal(r.ok ? null : r.error.code, 2);
    await audited("mqtt.client-id.refused", (e) => e.clientId === "buttonpi" && /CN "doorpi"/.test(e.reason), "client id ≠ CN");
  });

  it("revoked after the broker started: the live connection is dropped, a new one refused, both audited", async () => {
    const live = await attempt(tls, tlsAs("revokee", fx.devices.revokee!, fx.ca));
    assert.ok(live.ok);
    const gone = closed(live.client, 10_000);
    await revokeDevice(fx.dataDir, "revokee", new Date());
    assert.equal(await gone, true, "the revoked device's connection is dropped at once");
    await audited("mqtt.client.revoked", (e) => e.clientId === "revokee", "dropped");
    const again = await attempt(tls, tlsAs("revokee", fx.devices.revokee!, fx.ca));
    assert.equal(again.ok, false);
    await audited("mqtt.tls.refused", (e) => /a revoked certificate/.test(e.reason) && e.cn === "revokee", "refused at the handshake by the new CRL");
  });

  it("a device publishing under another device's topic, or another Pi's compat topic: connection closed, audited", async () => {
    for (const [topic, payload] of [
      [topics.status("buttonpi"), '{"state":"offline","device":"buttonpi"}'],
      [compatTopics.event("StatusPi"), '{"state":{}}'],
    ] as const) {
      const door = await attempt(tls, tlsAs("doorpi", fx.devices.doorpi!, fx.ca));
      assert.ok(door.ok);
      const gone = closed(door.client);
      door.client.publish(topic, payload, { qos: 1 });
      assert.equal(await gone, true, `publishing on ${topic} closes the connection`);
      await audited("mqtt.publish.refused", (e) => e.topic === topic && e.clientId === "doorpi", topic);
    }
    await barrier();
    assert.equal(seen.some((m) => m.topic === topics.status("buttonpi") || m.topic === compatTopics.event("StatusPi")), false, "nothing was routed");
  });

  it("a spoofed power event (a device, an operator, anonymous): refused, audited, never routed", async () => {
    const spoof = powerTopics.events("powerpi");
    const clients = [
      await attempt(tls, tlsAs("doorpi", fx.devices.doorpi!, fx.ca)),
      await attempt(tcp, { clientId: "olga-1", ...fx.users.operator }),
      await attempt(tcp, { clientId: "anon-power" }),
    ];
    for (const c of clients) {
      assert.ok(c.ok);
      const gone = closed(c.client);
      c.client.publish(spoof, '{"device":"powerpi","mains":"off","changedAt":"2026-01-01T00:00:00Z"}', { qos: 1 });
      assert.equal(await gone, true);
    }
    await audited("mqtt.publish.refused", (e) => e.topic === spoof && e.clientId === "anon-power", "anonymous");
    await audited("mqtt.publish.refused", (e) => e.topic === spoof && e.clientId === "olga-1", "operator");
    await barrier();
    assert.equal(seen.some((m) => m.topic === spoof), false);
    // the device itself may
    const power = await attempt(tls, tlsAs("powerpi", fx.devices.powerpi!, fx.ca));
    assert.ok(power.ok);
    await power.client.publishAsync(spoof, '{"device":"powerpi","mains":"on","changedAt":"2026-01-01T00:00:00Z"}', { qos: 1 });
    await until(() => seen.some((m) => m.topic === spoof), "the power Pi's own event", 5000);
    power.client.end(true);
  });

  it("a device subscribing to #: SUBACK 0x80 for it, the others granted, audited", async () => {
    const door = await attempt(tls, tlsAs("doorpi", fx.devices.doorpi!, fx.ca));
    assert.ok(door.ok);
    assert.deepEqual(await subscribeGranted(door.client, { "#": { qos: 1 }, [topics.command("doorpi")]: { qos: 1 } }), [128, 1]);
    await audited("mqtt.subscribe.refused", (e) => e.filter === "#" && e.clientId === "doorpi", "#");
    assert.equal(door.client.connected, true, "a refused filter does not close the connection");
    door.client.end(true);
  });

  it("the StatusPi reads the door states, and not the camera", async () => {
    const status = await attempt(tls, tlsAs("statuspi", fx.devices.statuspi!, fx.ca));
    assert.ok(status.ok);
    assert.deepEqual(await subscribeGranted(status.client, { [topics.doors("doorpi")]: { qos: 1 }, "pifog/+/faces": { qos: 1 } }), [1, 128]);
    status.client.end(true);
  });

  it("an anonymous client from an address outside PIFOG_BROKER_ANONYMOUS (127.0.0.2, allowed 127.0.0.1/32): CONNACK 5, audited", async () => {
    const raw = await rawConnect(broker.port, { localAddress: "127.0.0.2" });
    raw.send(connectPacket("outsider"));
    const connack = (await raw.next("connack")) as mqttPacket.IConnackPacket | null;
    assert.equal(connack?.returnCode, 5);
    await raw.closed;
    await audited("mqtt.connect.refused", (e) => e.address === "127.0.0.2" && /anonymous/.test(e.reason), "outsider");
    // from 127.0.0.1 the same client is anonymous, and reads only what the web page shows
    const inside = await attempt(tcp, { clientId: "insider" });
    assert.ok(inside.ok);
    assert.deepEqual(await subscribeGranted(inside.client, { "pifog/+/doors": { qos: 1 }, "pifog/+/camera/frame": { qos: 1 }, "$SYS/#": { qos: 0 } }), [1, 128, 128]);
    inside.client.end(true);
  });

  it("an anonymous open-door (native and compat): connection closed, audited, never reaches the ButtonPi", async () => {
    const button = await attempt(tls, tlsAs("buttonpi", fx.devices.buttonpi!, fx.ca));
    assert.ok(button.ok);
    const commands: string[] = [];
    button.client.on("message", (t) => commands.push(t));
    await button.client.subscribeAsync([topics.command("buttonpi"), compatTopics.command("ButtonPi")], { qos: 1 });
    for (const topic of [topics.command("buttonpi"), compatTopics.command("ButtonPi")]) {
      const anon = await attempt(tcp, { clientId: `anon-door-${topic.length}` });
      assert.ok(anon.ok);
      const gone = closed(anon.client);
      anon.client.publish(topic, '{"command":"open-door","id":"x"}', { qos: 1 });
      assert.equal(await gone, true);
      await audited("mqtt.publish.refused", (e) => e.topic === topic && /anonymous/.test(String(e.who)), topic);
    }
    // an operator may: the command arrives stamped with who sent it
    const olga = await attempt(tcp, { clientId: "olga-2", ...fx.users.operator });
    assert.ok(olga.ok);
    await olga.client.publishAsync(topics.command("buttonpi"), '{"command":"open-door","id":"ok","from":"forged"}', { qos: 1 });
    await until(() => commands.length === 1, "the operator's command", 5000);
    const stamped = seen.find((m) => m.topic === topics.command("buttonpi"))!;
    assert.deepEqual(JSON.parse(stamped.payload), { command: "open-door", id: "ok", from: "mqtt:olga-2", sender: { kind: "user", name: "olga", role: "operator" } });
    olga.client.end(true);
    button.client.end(true);
  });

  it("an anonymous retained clear of a device's state: refused, audited, the retained state kept", async () => {
    const anon = await attempt(tcp, { clientId: "anon-clear" });
    assert.ok(anon.ok);
    const gone = closed(anon.client);
    anon.client.publish(topics.doors("doorpi"), "", { qos: 1, retain: true });
    assert.equal(await gone, true);
    await audited("mqtt.publish.refused", (e) => e.clientId === "anon-clear" && e.clearsRetained === true, "retained clear");
    const check = await attempt(tcp, { clientId: "check-retained", ...fx.users.viewer });
    assert.ok(check.ok);
    const got: string[] = [];
    check.client.on("message", (_t, p, packet) => packet.retain && got.push(p.toString()));
    await check.client.subscribeAsync(topics.doors("doorpi"), { qos: 1 });
    await until(() => got.length > 0, "the retained door state", 5000);
    assert.equal(got[0], '{"device":"doorpi"}');
    check.client.end(true);
  });

  it("a wrong password: CONNACK 4; a client id naming an enrolled device, by anyone else: CONNACK 2; both audited", async () => {
    const wrong = await attempt(tcp, { clientId: "guess", username: "ada", password: "not-it" });
    assert.equal(wrong.ok ? null : wrong.error.code, 4);
    await audited("mqtt.auth.refused", (e) => e.clientId === "guess", "wrong password");
    const posing = await attempt(tcp, { clientId: "buttonpi:flows", ...fx.users.operator });
    assert.equal(posing.ok ? null : posing.error.code, 2);
    await audited("mqtt.client-id.refused", (e) => e.clientId === "buttonpi:flows", "posing as a device");
  });

  it("a zero-length client id with clean session off: identifier rejected (CONNACK 2), audited", async () => {
    const raw = await rawConnect(broker.port);
    // mqtt-packet will not write it: CONNECT, MQTT 3.1.1, flags 0 (clean session off), keepalive 30, client id ""
    raw.send(Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x00, 0, 30, 0, 0]));
    const connack = (await raw.next("connack")) as mqttPacket.IConnackPacket | null;
    assert.equal(connack?.returnCode, 2);
    await raw.closed;
    await audited("mqtt.client-id.refused", (e) => /empty client id/.test(e.reason), "empty id");
  });

  it("$SYS: broker statistics for admins, SUBACK 0x80 for everyone else", async () => {
    const admin = await attempt(tcp, { clientId: "ada-sys", ...fx.users.admin });
    assert.ok(admin.ok);
    const figures = new Map<string, string>();
    admin.client.on("message", (t, p) => figures.set(t, p.toString()));
    await admin.client.subscribeAsync("$SYS/broker/#", { qos: 0 });
    await until(() => ["uptime", "clients/connected", "messages/received", "messages/sent", "version"].every((k) => figures.has(`$SYS/broker/${k}`)), "the statistics", 5000);
    assert.match(figures.get("$SYS/broker/uptime")!, /^\d+ seconds$/);
    assert.ok(Number(figures.get("$SYS/broker/clients/connected")) >= 2);
    admin.client.end(true);
    const viewer = await attempt(tcp, { clientId: "vera-sys", ...fx.users.viewer });
    assert.ok(viewer.ok);
    assert.deepEqual(await subscribeGranted(viewer.client, { "$SYS/#": { qos: 0 }, "#": { qos: 0 } }), [128, 0]);
    await audited("mqtt.subscribe.refused", (e) => e.clientId === "vera-sys" && e.filter === "$SYS/#", "viewer $SYS");
    viewer.client.end(true);
  });

  it("MQTT over WebSocket selects `mqtt` when offered, takes `mqttv3.1`, and answers no other offer", async () => {
    const server = http.createServer();
    broker.attachWebSocket(server, "/mqtt");
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const open = (protocols: string[]) =>
      new Promise<string | Error>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, protocols);
        ws.once("open", () => {
          resolve(ws.protocol);
          ws.terminate();
        });
        ws.once("error", (err) => resolve(err));
      });
    assert.equal(await open(["foo", "mqtt", "mqttv3.1"]), "mqtt");
    assert.equal(await open(["mqttv3.1"]), "mqttv3.1");
    assert.ok((await open(["foo"])) instanceof Error, "an offer of only other protocols is not echoed");
    // a viewer over WebSocket (PiFog's web page) reads the doors
    const web = await attempt(`ws://127.0.0.1:${port}/mqtt`, { clientId: "web-page", protocolId: "MQIsdp", protocolVersion: 3, ...fx.users.viewer });
    assert.ok(web.ok, web.ok ? "" : web.error.message);
    const granted = await web.client.subscribeAsync("/World/Fog/1/DoorPi/Event", { qos: 1 });
    assert.equal(granted[0]!.qos, 1);
    web.client.end(true);
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("a bounded fuzz of malformed CONNECT / PUBLISH / SUBSCRIBE packets; the broker still serves", async () => {
    // a seeded PRNG (mulberry32): the same packets every run
    let seed = 0x5eed1;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const valid: Packet[] = [
      connectPacket("fuzz", { username: "ada", password: Buffer.from("x") }),
      { cmd: "publish", topic: topics.command("buttonpi"), payload: Buffer.from('{"command":"open-door"}'), qos: 1, messageId: 7, retain: false, dup: false },
      { cmd: "publish", topic: topics.doors("doorpi"), payload: Buffer.alloc(0), qos: 0, retain: true, dup: false },
      { cmd: "subscribe", messageId: 3, subscriptions: [{ topic: "#", qos: 1 }, { topic: "$SYS/#", qos: 0 }] },
    ];
    const mutate = (bytes: Buffer): Buffer => {
      const out = Buffer.from(bytes);
      const n = 1 + Math.floor(random() * 4);
      for (let i = 0; i < n; i++) {
        const kind = random();
        const at = Math.floor(random() * out.length);
        if (kind < 0.6) out[at] = Math.floor(random() * 256);
        else if (kind < 0.8) return Buffer.concat([out.subarray(0, at), out.subarray(at + 1 + Math.floor(random() * 8))]);
        else return Buffer.concat([out.subarray(0, at), Buffer.from([Math.floor(random() * 256)]), out.subarray(at)]);
      }
      return out;
    };
    let sent = 0;
    const connections = 100;
    const perConnection = 30;
    for (let c = 0; c < connections; c++) {
      const raw = await rawConnect(broker.port);
      // half start with a good anonymous CONNECT, so the mutated PUBLISH / SUBSCRIBE reach the authorisation
      if (c % 2 === 0) raw.send(connectPacket(`fuzz-${c}`));
      for (let i = 0; i < perConnection; i++) {
        raw.send(mutate(mqttPacket.generate(pick(valid))));
        sent++;
      }
      await Promise.race([raw.closed, new Promise((r) => setTimeout(r, 20))]);
      raw.end();
    }
    assert.equal(sent, connections * perConnection);
    // still serving: a new client connects, publishes and is delivered to
    const after = await attempt(tcp, { clientId: "after-fuzz", ...fx.users.operator });
    assert.ok(after.ok);
    await after.client.publishAsync(topics.simSet("doorpi", "door1"), "open", { qos: 1 });
    await until(() => seen.some((m) => m.topic === topics.simSet("doorpi", "door1")), "a message after the fuzz", 5000);
    after.client.end(true);
    assert.equal(seen.some((m) => m.topic === "$SYS/broker/uptime"), false, "the bystander (an admin on #) never got $SYS");
  });
});
