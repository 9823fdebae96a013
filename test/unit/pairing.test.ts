// The hub's pairing service on a fake clock, with a real identity store in a temp data dir: what a person pairing a
// Pi sees (a readable code, the CA's fingerprint, a code that works once and for ten minutes) and what an attacker
// guessing codes or flooding requests gets.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { AuditEvent } from "../../nodes/lib/audit/audit";
import { addUser, initCa } from "../../nodes/lib/identity/admin";
import { certificateHasKey, certificateInfo, fingerprint, verifyChain } from "../../nodes/lib/identity/ca";
import { CODE_ALPHABET, HubPairing, PairingRateLimited, normaliseCode, type PollAnswer } from "../../nodes/lib/identity/pairing";
import { PairingError } from "../../nodes/lib/identity/pairing-types";
import { identityPaths } from "../../nodes/lib/identity/paths";
import { IdentityStore } from "../../nodes/lib/identity/store";
import { FakeClock } from "../support/fake-clock";

const MINUTE = 60_000;

function piKey(): { publicKey: string } {
  const keys = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return { publicKey: keys.publicKey.export({ type: "spki", format: "pem" }).toString() };
}

async function refusal(p: Promise<unknown> | (() => unknown)): Promise<PairingError> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    assert.ok(err instanceof PairingError, `a PairingError, not ${String(err)}`);
    return err;
  }
  assert.fail("expected a refusal");
}

describe("pairing a Pi by a code (the hub's service)", () => {
  let dataDir: string;
  let clock: FakeClock;
  let audit: AuditEvent[];
  let store: IdentityStore;
  let pairing: HubPairing;
  const admin = { by: "alice", address: "192.0.2.1" };

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-pairing-"));
    await initCa(dataDir, { now: new Date() });
    await addUser(dataDir, "alice", "admin", "alice-password");
    await addUser(dataDir, "bob", "viewer", "bob-password");
  });
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  beforeEach(async () => {
    clock = new FakeClock(Date.now());
    audit = [];
    store = await IdentityStore.open(dataDir);
    pairing = new HubPairing({ dataDir, clock, audit: { record: (e) => void audit.push(e) }, directory: store, ports: () => ({ mqtts: 8883, mqtt: 1883 }) });
  });
  afterEach(() => {
    pairing.close();
    store.close();
  });

  const ask = (suggestedId: string, address = "192.0.2.50", login: "certificate" | "password" = "certificate", key = piKey()) =>
    pairing.request({ role: "doorpi", suggestedId, version: "1.2.3", login, ...(login === "certificate" ? { publicKey: key.publicKey } : {}) }, address);

  it("gives a Pi a readable code, a poll token and the CA with the fingerprint a person compares", async () => {
    const ticket = await ask("front-door");
    assert.match(ticket.code, /^[A-Z2-9]{4}-[A-Z2-9]{4}$/);
    for (const c of ticket.code.replace("-", "")) assert.ok(CODE_ALPHABET.includes(c), `${c} is not one a person confuses`);
    assert.ok(!/[01OIL]/.test(ticket.code));
    const caCert = fs.readFileSync(identityPaths(dataDir).caCert, "utf8");
    assert.equal(ticket.caCert, caCert);
    assert.equal(ticket.caFingerprint, fingerprint(caCert));
    assert.match(ticket.caFingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.equal(pairing.caFingerprint(), ticket.caFingerprint);
    assert.equal(ticket.expiresAt, clock.now() + 10 * MINUTE);
    assert.deepEqual(
      pairing.pending().map((p) => [p.code, p.role, p.suggestedId, p.version, p.address]),
      [[`${ticket.code.slice(0, 2)}**-****`, "doorpi", "front-door", "1.2.3", "192.0.2.50"]],
    );
    const poll = pairing.poll(ticket.id, ticket.pollToken, "192.0.2.50");
    assert.equal(poll.state, "pending");
    assert.equal((await refusal(() => pairing.poll(ticket.id, "not-the-token", "192.0.2.66"))).status, 401);
    assert.equal(normaliseCode(ticket.code.toLowerCase().replace("-", " ")), ticket.code, "typed in lower case with a space, it is still the code");
  });

  it("signs a certificate for the key the Pi made, for the name and owner the admin chose, fetched once", async () => {
    const key = piKey();
    const ticket = await ask("pi-7f3a", undefined, "certificate", key);
    const device = await pairing.approve(normaliseCode(ticket.code.toLowerCase()), { id: "garage-door", owner: "bob", ...admin });
    assert.deepEqual([device.id, device.role, device.owner, device.online, device.login], ["garage-door", "doorpi", "bob", false, "certificate"]);
    assert.equal(pairing.pending().length, 0);
    const answer = pairing.poll(ticket.id, ticket.pollToken, "192.0.2.50") as Extract<PollAnswer, { state: "approved" }>;
    assert.equal(answer.state, "approved");
    assert.equal(answer.device.id, "garage-door");
    assert.equal(answer.mqttsPort, 8883);
    assert.ok(certificateHasKey(answer.cert!, key.publicKey), "the certificate is for the Pi's own key: its private key never left it");
    assert.ok(await verifyChain(answer.cert!, answer.ca));
    assert.equal(certificateInfo(answer.cert!).cn, "garage-door");
    assert.equal(certificateInfo(answer.cert!).role, "doorpi");
    assert.equal(store.device("garage-door")?.owner, "bob", "the broker's store knows it at once (no watcher needed)");
    const again = await refusal(() => pairing.poll(ticket.id, ticket.pollToken, "192.0.2.50"));
    assert.equal(again.status, 410);
    const reused = await refusal(pairing.approve(ticket.code, { id: "other", owner: "bob", ...admin }));
    assert.deepEqual([reused.code, reused.status], ["used", 409]);
    assert.match(reused.message, /used already/);
    assert.deepEqual(
      audit.map((e) => e.event),
      ["pairing.requested", "pairing.approved", "pairing.fetched", "pairing.poll.refused", "pairing.refused"],
    );
    assert.ok(!JSON.stringify(audit).includes(ticket.code), "the record never holds a whole code");
    assert.ok(!JSON.stringify(audit).includes(ticket.pollToken));
  });

  it("refuses a code after ten minutes, on both sides, and a Pi then asks for a new one", async () => {
    const ticket = await ask("late-pi");
    clock.tick(10 * MINUTE);
    const expired = await refusal(pairing.approve(ticket.code, { id: "late-pi", owner: "alice", ...admin }));
    assert.deepEqual([expired.code, expired.status], ["expired", 410]);
    assert.match(expired.message, /expired/);
    const piSide = await refusal(() => pairing.poll(ticket.id, ticket.pollToken, "192.0.2.50"));
    assert.deepEqual([piSide.code, piSide.status], ["expired", 410]);
    assert.match(piSide.message, /ask for a new one/);
    assert.equal(pairing.pending().length, 0);
    assert.ok(audit.some((e) => e.event === "pairing.expired"));
    assert.ok(audit.some((e) => e.event === "pairing.refused" && e.outcome === "expired" && e.who === "user:alice from 192.0.2.1"));
  });

  it("refuses a wrong code, and after five wrong codes the address waits (another address does not)", async () => {
    const ticket = await ask("waiting-pi");
    for (let i = 0; i < 5; i++) {
      const wrong = await refusal(pairing.approve("ZZZZ-ZZZZ", { id: "x", owner: "alice", ...admin }));
      assert.deepEqual([wrong.code, wrong.status], ["unknown-code", 404]);
    }
    const limited = await refusal(pairing.approve(ticket.code, { id: "waiting-pi", owner: "alice", ...admin }));
    assert.ok(limited instanceof PairingRateLimited);
    assert.equal(limited.status, 429);
    assert.ok(limited.retryAfterMs > 0 && limited.retryAfterMs <= MINUTE);
    assert.ok(audit.some((e) => e.event === "pairing.throttled"));
    assert.ok(audit.filter((e) => e.event === "pairing.refused").every((e) => e.code === "ZZ**-****"));
    const elsewhere = await pairing.approve(ticket.code, { id: "waiting-pi", owner: "alice", by: "carol", address: "192.0.2.2" });
    assert.equal(elsewhere.id, "waiting-pi");
  });

  it("limits pairing requests per address within ten minutes", async () => {
    for (let i = 0; i < 10; i++) await ask(`flood-${i}`, "198.51.100.7");
    const limited = await refusal(ask("flood-10", "198.51.100.7"));
    assert.ok(limited instanceof PairingRateLimited);
    assert.ok(limited.retryAfterMs > 0 && limited.retryAfterMs <= 10 * MINUTE);
    await ask("neighbour", "198.51.100.8");
    clock.tick(10 * MINUTE);
    await ask("flood-11", "198.51.100.7");
  });

  it("refuses bad requests, a taken name and an unknown owner clearly, and the code stays good", async () => {
    for (const body of [null, { role: "all", suggestedId: "x", version: "1", login: "certificate", publicKey: piKey().publicKey }, { role: "doorpi", suggestedId: "a/b", version: "1" }, { role: "doorpi", suggestedId: "x", version: "1", login: "certificate" }, { role: "doorpi", suggestedId: "x", version: "1", publicKey: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----" }]) {
      const bad = await refusal(pairing.request(body, "192.0.2.77"));
      assert.deepEqual([bad.code, bad.status], ["bad-request", 400], JSON.stringify(body));
    }
    const ticket = await ask("name-pi");
    const owner = await refusal(pairing.approve(ticket.code, { id: "name-pi", owner: "mallory", ...admin }));
    assert.deepEqual([owner.code, owner.status], ["unknown-owner", 400]);
    const taken = await refusal(pairing.approve(ticket.code, { id: "alice", owner: "alice", ...admin }));
    assert.deepEqual([taken.code, taken.status], ["name-taken", 409]);
    const badName = await refusal(pairing.approve(ticket.code, { id: "no/slash", owner: "alice", ...admin }));
    assert.equal(badName.status, 400);
    const device = await pairing.approve(ticket.code, { id: "", owner: "alice", ...admin });
    assert.equal(device.id, "name-pi", "an empty name takes the one the Pi suggested");
  });

  it("gives a Pi that cannot do TLS a user name and password the broker accepts", async () => {
    const ticket = await ask("esp-like", undefined, "password");
    const device = await pairing.approve(ticket.code, { id: "sensor-9", owner: "alice", ...admin });
    assert.equal(device.login, "password");
    const answer = pairing.poll(ticket.id, ticket.pollToken, "192.0.2.50") as Extract<PollAnswer, { state: "approved" }>;
    assert.equal(answer.username, "sensor-9");
    assert.equal(answer.cert, undefined);
    assert.equal(answer.mqttPort, 1883);
    const identity = await store.checkPassword("sensor-9", answer.password!);
    assert.deepEqual(identity && { kind: identity.kind, via: identity.kind === "device" ? identity.via : "" }, { kind: "device", via: "password" });
    assert.ok(!JSON.stringify(audit).includes(answer.password!));
  });

  it("lists devices with their owner, presence and version, and revokes one at once", async () => {
    const ticket = await ask("listed-pi");
    await pairing.approve(ticket.code, { id: "listed-pi", owner: "alice", ...admin });
    pairing.sawConnect("listed-pi");
    pairing.sawVersion("listed-pi", "4.5.6");
    let row = pairing.devices().find((d) => d.id === "listed-pi")!;
    assert.deepEqual([row.online, row.version, row.lastSeen, row.owner], [true, "4.5.6", clock.now(), "alice"]);
    assert.ok(Date.parse(row.notAfter) > clock.now());
    clock.tick(5000);
    pairing.sawDisconnect("listed-pi");
    row = pairing.devices().find((d) => d.id === "listed-pi")!;
    assert.deepEqual([row.online, row.lastSeen], [false, clock.now()]);
    let revoked = false;
    store.once("revoked", () => (revoked = true));
    pairing.sawConnect("listed-pi");
    const gone = await pairing.revoke("listed-pi", admin);
    assert.ok(gone.revokedAt);
    assert.equal(gone.online, false, "a revoked device is never shown online");
    assert.ok(revoked, "the store told the broker at once");
    assert.ok(store.isRevoked(store.device("listed-pi")!.serial));
    assert.equal((await refusal(pairing.revoke("listed-pi", admin))).status, 409);
    assert.equal((await refusal(pairing.revoke("nobody", admin))).status, 404);
    assert.ok(audit.some((e) => e.event === "device.revoked" && e.who === "user:alice from 192.0.2.1"));
    assert.ok(audit.some((e) => e.event === "device.revoke.refused"));
  });
});
