// The embedded broker's checks before identities: client id takeovers, who may speak for a device, command stamps.
import assert from "node:assert/strict";
import type { Client, PublishPacket } from "aedes";
import type { AuditEvent } from "../../nodes/lib/audit/audit";
import { ClientGuard, RefusalRecorder } from "../../nodes/lib/broker/client-guard";
import { isCommandTopic, parseCommand, stampCommand, topicOwner } from "../../nodes/lib/contract";

const client = (id: string, address: string, closed = false) => ({ id, closed, conn: { remoteAddress: address } }) as unknown as Client;
const publish = (topic: string, payload: string) => ({ cmd: "publish", topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false }) as PublishPacket;

describe("client guard (embedded broker)", () => {
  let recorded: AuditEvent[];
  let now: number;
  let clients: Record<string, Client>;
  let guard: ClientGuard;
  beforeEach(() => {
    recorded = [];
    now = 0;
    clients = {};
    const audit = { record: (e: AuditEvent) => recorded.push(e) } as never;
    guard = new ClientGuard(() => clients, new RefusalRecorder(audit, () => now, 10_000, () => undefined));
  });

  const authenticate = (c: Client) =>
    new Promise<{ err: (Error & { returnCode?: number }) | null; ok: boolean | null }>((resolve) => guard.authenticate(c, (err, ok) => resolve({ err, ok })));

  it("refuses a connected client id to another address (identifier rejected) and audits it once per window", async () => {
    clients["pifog-buttonpi"] = client("pifog-buttonpi", "10.0.0.5");
    const first = await authenticate(client("pifog-buttonpi", "10.0.0.66"));
    assert.equal(first.ok, false);
    assert.equal(first.err?.returnCode, 2);
    for (let i = 0; i < 50; i++) await authenticate(client("pifog-buttonpi", "10.0.0.66"));
    assert.equal(recorded.length, 1, "a flood of attempts is one record per window");
    assert.equal(recorded[0]!.event, "mqtt.client-id.refused");
    now += 10_001;
    await authenticate(client("pifog-buttonpi", "10.0.0.66"));
    assert.equal(recorded.length, 2);
    assert.equal(recorded[1]!.alsoRefusedBefore, 50);
  });

  it("lets the holder's own address take over (a device reconnecting), audited; a free or closed id is no takeover", async () => {
    clients["pifog-doorpi"] = client("pifog-doorpi", "10.0.0.7");
    assert.equal((await authenticate(client("pifog-doorpi", "10.0.0.7"))).ok, true);
    assert.equal(recorded[0]!.event, "mqtt.client-id.takeover");
    clients["gone"] = client("gone", "10.0.0.8", true);
    assert.equal((await authenticate(client("gone", "10.0.0.9"))).ok, true);
    assert.equal((await authenticate(client("new", "10.0.0.9"))).ok, true);
    assert.equal(recorded.length, 1);
  });

  it("takes a device's status and power only from that device's own clients", () => {
    const spoof = guard.checkPublish(client("mallory", "10.0.0.66"), publish("pifog/powerpi/power/events", '{"mains":"off"}'));
    assert.match(spoof?.message ?? "", /only device "powerpi" may publish on pifog\/powerpi\/power\/events/);
    assert.equal(recorded[0]!.event, "mqtt.publish.refused");
    assert.equal(recorded[0]!.who, "mqtt:mallory from 10.0.0.66");
    assert.ok(guard.checkPublish(client("pifog-doorpi", "x"), publish("pifog/powerpi/status", "{}")), "another device may not either");
    assert.equal(guard.checkPublish(client("pifog-powerpi", "x"), publish("pifog/powerpi/power/events", "{}")), null);
    assert.equal(guard.checkPublish(client("pifog-powerpi-compat", "x"), publish("pifog/powerpi/power", "{}")), null);
    assert.equal(guard.checkPublish(client("mallory", "x"), publish("pifog/powerpi/power/request", "")), null, "asking is for anyone");
    assert.equal(guard.checkPublish(null, publish("pifog/powerpi/status", "{}")), null, "the broker's own publishes");
  });

  it("stamps every command with its sender, overwriting what the sender wrote", () => {
    const packet = publish("pifog/buttonpi/command", '{"command":"open-door","id":"1","by":"dashboard:admin","from":"mqtt:pifog-hub"}');
    assert.equal(guard.checkPublish(client("mallory", "x"), packet), null);
    const command = parseCommand(packet.payload as Buffer);
    assert.deepEqual(command, { command: "open-door", id: "1", by: "dashboard:admin", from: "mqtt:mallory" });
    const compat = publish("/World/Fog/1/ButtonPi/Command", '{"command":"open-door","id":2}');
    guard.checkPublish(client("pifo", "x"), compat);
    assert.equal(parseCommand(compat.payload as Buffer).from, "mqtt:pifo");
    const notJson = publish("pifog/buttonpi/command", "open");
    guard.checkPublish(client("m", "x"), notJson);
    assert.equal(notJson.payload.toString(), "open", "what is not a JSON object is left for the receiver to refuse");
  });

  it("knows the command and device topics", () => {
    assert.equal(isCommandTopic("pifog/x/command"), true);
    assert.equal(isCommandTopic("/World/Fog/1/ButtonPi/Command"), true);
    assert.equal(isCommandTopic("pifog/x/command/more"), false);
    assert.equal(topicOwner("pifog/x/status"), "x");
    assert.equal(topicOwner("pifog/x/sim/door1/set"), null);
    assert.equal(stampCommand(Buffer.from("[1]"), "a"), null);
  });
});
