// The embedded broker's client guard: who a connection is (certificate, password, runtime, anonymous), client id
// rules, takeovers, the ACL on publish / subscribe / delivery, command stamps, revocation.
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { AedesPublishPacket, Client, PublishPacket } from "aedes";
import type { AuditEvent } from "../../nodes/lib/audit/audit";
import { ClientGuard, RefusalRecorder, RUNTIME_USER, type ConnectionInfo } from "../../nodes/lib/broker/client-guard";
import { isCommandTopic, parseCommand, stampCommand } from "../../nodes/lib/contract";
import type { DeviceRecord, Identity, IdentityDirectory, IdentityDirectoryEvents, UserRecord } from "../../nodes/lib/identity/types";
import { LoginThrottle } from "../../nodes/lib/security/throttle";

/** An in-memory directory: the interface the broker reads, with fixed records. */
class MemoryDirectory extends EventEmitter<IdentityDirectoryEvents> implements IdentityDirectory {
  readonly caCert = "";
  readonly records = new Map<string, DeviceRecord>();
  readonly passwords = new Map<string, { password: string; identity: Identity }>();
  readonly revoked = new Set<string>();
  device(id: string) {
    return this.records.get(id);
  }
  devices() {
    return [...this.records.values()];
  }
  users(): UserRecord[] {
    return [];
  }
  isRevoked(serial: string) {
    return this.revoked.has(serial);
  }
  crl() {
    return "";
  }
  async checkPassword(name: string, password: Buffer | string) {
    const entry = this.passwords.get(name);
    return entry && entry.password === password.toString() ? entry.identity : null;
  }
  serverTls() {
    return { cert: "", key: "" };
  }
  close() {}
}

interface FakeClient {
  id: string;
  closed: boolean;
  conn: object;
  close(): void;
}

const publish = (topic: string, payload: string, retain = false) => ({ cmd: "publish", topic, payload: Buffer.from(payload), qos: 1, retain, dup: false }) as PublishPacket;

describe("client guard (embedded broker)", () => {
  let recorded: AuditEvent[];
  let now: number;
  let clients: Record<string, Client>;
  let guard: ClientGuard;
  let directory: MemoryDirectory;
  const runtime = { username: RUNTIME_USER, password: "runtime-secret" };

  beforeEach(() => {
    recorded = [];
    now = 0;
    clients = {};
    directory = new MemoryDirectory();
    directory.records.set("doorpi", { id: "doorpi", role: "doorpi", serial: "0a1b", notBefore: "", notAfter: "" });
    directory.records.set("powerpi", { id: "powerpi", role: "powerpi", serial: "77", notBefore: "", notAfter: "", password: true });
    directory.passwords.set("olga", { password: "right", identity: { kind: "user", name: "olga", role: "operator" } });
    directory.passwords.set("powerpi", { password: "pw", identity: { kind: "device", id: "powerpi", role: "powerpi", via: "password" } });
    const audit = { record: (e: AuditEvent) => recorded.push(e) };
    const throttle = new LoginThrottle({
      perAddress: { maxFailures: 3, windowMs: 60_000, lockMs: 60_000, maxLockMs: 60_000 },
      perUser: { maxFailures: 3, windowMs: 60_000, lockMs: 60_000, maxLockMs: 60_000 },
      maxEntries: 100,
      now: () => now,
    });
    guard = new ClientGuard({
      clients: () => clients,
      refusals: new RefusalRecorder(audit, () => now, 10_000, () => undefined),
      identities: directory,
      anonymous: ["10.0.0.0/24"],
      throttle,
      runtime,
    });
  });

  const client = (id: string, info: Omit<ConnectionInfo, "via"> & { via?: ConnectionInfo["via"] }, clean = true) => {
    const c: FakeClient = { id, closed: false, conn: {}, close: () => (c.closed = true) };
    guard.registerConnection(c.conn, { via: "mqtt", ...info });
    guard.preConnect(c as unknown as Client, { cmd: "connect", clientId: id, clean, protocolVersion: 4, protocolId: "MQTT", keepalive: 30 }, () => undefined);
    return c as unknown as Client & FakeClient;
  };

  type Outcome = { err: (Error & { returnCode?: number }) | null; ok: boolean | null };
  const authenticate = (c: Client, username?: string, password?: string) =>
    new Promise<Outcome>((resolve) =>
      guard.authenticate(c, username, password === undefined ? undefined : Buffer.from(password), (err, ok) => resolve({ err, ok })),
    );
  const connected = async (c: Client & FakeClient, username?: string, password?: string) => {
    const outcome = await authenticate(c, username, password);
    assert.equal(outcome.ok, true, outcome.err?.message);
    clients[c.id] = c;
    return c;
  };

  it("takes anonymous clients only from the allowed addresses (CONNACK 5 otherwise), audited once per window", async () => {
    assert.equal((await authenticate(client("web", { address: "10.0.0.9" }))).ok, true);
    for (let i = 0; i < 20; i++) {
      const refused = await authenticate(client("web", { address: "192.168.1.5" }));
      assert.equal(refused.err?.returnCode, 5);
    }
    assert.equal(recorded.length, 1, "a flood is one record per window");
    assert.equal(recorded[0]!.event, "mqtt.connect.refused");
    assert.match(recorded[0]!.reason, /anonymous clients are only taken from 10\.0\.0\.0\/24/);
    now += 10_001;
    await authenticate(client("web", { address: "192.168.1.5" }));
    assert.equal(recorded[1]!.alsoRefusedBefore, 19);
  });

  it("refuses a wrong password (4), then throttles the address (5); the right one passes", async () => {
    assert.equal((await authenticate(client("c1", { address: "10.9.9.9" }), "olga", "wrong")).err?.returnCode, 4);
    assert.equal(recorded[0]!.event, "mqtt.auth.refused");
    await authenticate(client("c1", { address: "10.9.9.9" }), "olga", "wrong");
    await authenticate(client("c1", { address: "10.9.9.9" }), "olga", "wrong");
    const throttled = await authenticate(client("c1", { address: "10.9.9.9" }), "olga", "right");
    assert.equal(throttled.err?.returnCode, 5);
    assert.ok(recorded.some((e) => e.event === "mqtt.auth.throttled"));
    const c = await connected(client("c2", { address: "10.9.9.8" }), "olga", "right");
    assert.deepEqual(guard.identityOf(c), { kind: "user", name: "olga", role: "operator" });
  });

  it("takes the runtime's own user with this start's password only, from this machine only", async () => {
    const c = await connected(client("pifog-hub", { address: "127.0.0.1" }), RUNTIME_USER, "runtime-secret");
    assert.equal(guard.identityOf(c)?.kind, "user");
    assert.equal((await authenticate(client("x", { address: "127.0.0.1" }), RUNTIME_USER, "guess")).err?.returnCode, 4);
    const remote = await authenticate(client("y", { address: "10.0.0.9" }), RUNTIME_USER, "runtime-secret");
    assert.equal(remote.err?.returnCode, 5, "the runtime's user only from this machine");
  });

  it("a certificate: the client id is its CN or <CN>:<label>; unknown, revoked or superseded certificates are refused (5)", async () => {
    const cert = (cn: string, serial = "0a1b") => ({ via: "mqtts" as const, address: "10.1.1.1", certificate: { cn, serial } });
    const c = await connected(client("doorpi", cert("doorpi", "a1b")));
    assert.deepEqual(guard.identityOf(c), { kind: "device", id: "doorpi", role: "doorpi", via: "certificate", serial: "0a1b" });
    await connected(client("doorpi:compat", cert("doorpi", "a1b")));
    const other = await authenticate(client("buttonpi", cert("doorpi", "a1b")));
    assert.equal(other.err?.returnCode, 2, "client id ≠ CN: identifier rejected");
    assert.match(recorded.at(-1)!.reason, /neither the certificate's CN "doorpi"/);
    assert.equal((await authenticate(client("mallory", cert("mallory", "99")))).err?.returnCode, 5);
    assert.equal((await authenticate(client("doorpi", cert("doorpi", "1234")))).err?.returnCode, 5, "not its current certificate");
    directory.revoked.add("0a1b");
    assert.equal((await authenticate(client("doorpi:x", cert("doorpi", "a1b")))).err?.returnCode, 5);
    assert.match(recorded.at(-1)!.reason, /revoked/);
  });

  it("a client id naming an enrolled device is taken only from that device", async () => {
    const refused = await authenticate(client("doorpi:flows", { address: "10.0.0.3" }), "olga", "right");
    assert.equal(refused.err?.returnCode, 2);
    assert.match(recorded.at(-1)!.reason, /names enrolled device "doorpi"/);
    assert.equal((await authenticate(client("powerpi", { address: "10.0.0.3" }))).err?.returnCode, 2);
    await connected(client("powerpi:compat", { address: "10.0.0.3" }), "powerpi", "pw");
  });

  it("refuses an empty client id with a persistent session (identifier rejected)", async () => {
    const c = client("", { address: "10.0.0.3" }, false);
    c.id = "aedes_generated";
    assert.equal((await authenticate(c)).err?.returnCode, 2);
    assert.match(recorded.at(-1)!.reason, /empty client id/);
  });

  it("refuses taking over a connected client id as another identity; the same identity takes over, audited", async () => {
    await connected(client("web", { address: "10.0.0.5" }));
    const other = await authenticate(client("web", { address: "10.0.0.66" }));
    assert.equal(other.err?.returnCode, 2);
    assert.equal(recorded.at(-1)!.event, "mqtt.client-id.refused");
    assert.equal((await authenticate(client("web", { address: "10.0.0.5" }))).ok, true);
    assert.equal(recorded.at(-1)!.event, "mqtt.client-id.takeover");
  });

  it("refuses a spoofed power event, another Pi's compat topic and a retained clear; audited with who and why", async () => {
    const anon = await connected(client("anon", { address: "10.0.0.66" }));
    const spoof = guard.checkPublish(anon, publish("pifog/powerpi/power/events", '{"mains":"off"}'));
    assert.match(spoof?.message ?? "", /may not publish on pifog\/powerpi\/power\/events/);
    assert.equal(recorded.at(-1)!.event, "mqtt.publish.refused");
    assert.equal(recorded.at(-1)!.who, "mqtt:anon (anonymous client from 10.0.0.66) from 10.0.0.66");
    assert.ok(guard.checkPublish(anon, publish("pifog/doorpi/doors", "", true)));
    assert.equal(recorded.at(-1)!.clearsRetained, true);
    assert.equal(guard.checkPublish(anon, publish("pifog/doorpi/sim/door1/set", "open")), null);
    const door = await connected(client("doorpi", { via: "mqtts", address: "10.1.1.1", certificate: { cn: "doorpi", serial: "a1b" } }));
    assert.equal(guard.checkPublish(door, publish("pifog/doorpi/status", "{}", true)), null);
    assert.ok(guard.checkPublish(door, publish("/World/Fog/1/StatusPi/Event", "{}")));
    assert.ok(guard.checkPublish(door, publish("pifog/powerpi/power/events", "{}")));
    assert.equal(guard.checkPublish(null, publish("pifog/powerpi/status", "{}")), null, "the runtime's own publishes");
  });

  it("stamps every command with its sender and identity, overwriting what the sender wrote", async () => {
    const olga = await connected(client("olga-phone", { address: "10.0.0.2" }), "olga", "right");
    const packet = publish("pifog/buttonpi/command", '{"command":"open-door","id":"1","by":"dashboard:admin","from":"mqtt:pifog-hub","sender":{"kind":"user","name":"ada","role":"admin"}}');
    assert.equal(guard.checkPublish(olga, packet), null);
    assert.deepEqual(parseCommand(packet.payload as Buffer), {
      command: "open-door",
      id: "1",
      by: "dashboard:admin",
      from: "mqtt:olga-phone",
      sender: { kind: "user", name: "olga", role: "operator" },
    });
    const notJson = publish("pifog/buttonpi/command", "open");
    guard.checkPublish(olga, notJson);
    assert.equal(notJson.payload.toString(), "open", "what is not a JSON object is left for the receiver to refuse");
  });

  it("grants 0x80 for a refused filter and keeps $SYS and unreadable topics from a delivery", async () => {
    const door = await connected(client("doorpi", { via: "mqtts", address: "10.1.1.1", certificate: { cn: "doorpi", serial: "a1b" } }));
    const sub = (topic: string) => new Promise<unknown>((resolve) => guard.authorizeSubscribe(door, { topic, qos: 1 }, (_e, s) => resolve(s)));
    assert.equal(await sub("#"), null);
    assert.equal(recorded.at(-1)!.event, "mqtt.subscribe.refused");
    assert.deepEqual(await sub("pifog/doorpi/command"), { topic: "pifog/doorpi/command", qos: 1 });
    const packet = (topic: string) => ({ topic, payload: Buffer.from("1"), qos: 0, retain: false, cmd: "publish", dup: false, brokerId: "b", brokerCounter: 1 }) as unknown as AedesPublishPacket;
    assert.equal(guard.authorizeForward(door, packet("$SYS/pifog/heartbeat")), null);
    assert.ok(guard.authorizeForward(door, packet("pifog/doorpi/command")));
    assert.equal(guard.authorizeForward(door, packet("pifog/buttonpi/command")), null);
  });

  it("drops a revoked device's connections, and on a reload the ones no longer allowed", async () => {
    const door = await connected(client("doorpi", { via: "mqtts", address: "10.1.1.1", certificate: { cn: "doorpi", serial: "a1b" } }));
    const compat = await connected(client("doorpi:compat", { via: "mqtts", address: "10.1.1.1", certificate: { cn: "doorpi", serial: "a1b" } }));
    const power = await connected(client("powerpi", { address: "10.0.0.3" }), "powerpi", "pw");
    assert.equal(guard.dropDevice({ id: "doorpi" }, "an older certificate revoked", "ffff"), 0, "a renewal's old serial: the new connections stay");
    assert.equal(guard.dropDevice({ id: "doorpi" }, "revoked", "a1b"), 2);
    assert.equal(door.closed && compat.closed, true);
    assert.equal(recorded.at(-1)!.event, "mqtt.client.revoked");
    assert.equal(power.closed, false);
    directory.records.get("powerpi")!.revokedAt = "2026-01-01T00:00:00Z";
    guard.recheck();
    assert.equal(power.closed, true);
  });

  it("knows the command topics", () => {
    assert.equal(isCommandTopic("pifog/x/command"), true);
    assert.equal(isCommandTopic("/World/Fog/1/ButtonPi/Command"), true);
    assert.equal(isCommandTopic("pifog/x/command/more"), false);
    assert.equal(stampCommand(Buffer.from("[1]"), "a"), null);
  });
});
