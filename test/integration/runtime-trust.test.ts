// What a runtime trusts, by role, on real data dirs: the hub (and the all-in-one) gets the store's CA and revocations
// and an identity of its own on the first start; a Pi gets its bundle, takes the hub's revocation list from the broker
// (published retained by the broker itself, again on each revocation) and keeps it for its next start; an unenrolled
// Pi gets nothing and says how to enrol it.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { EmbeddedBroker } from "../../nodes/lib/broker/embedded-broker";
import { trustTopics } from "../../nodes/lib/contract";
import { addDevice, revokeDevice } from "../../nodes/lib/identity/admin";
import { deviceBundleDir, type DeviceBundle } from "../../nodes/lib/identity/paths";
import { keptCrlFile, openRuntimeTrust, publishRevocations, type RuntimeTrust } from "../../nodes/lib/identity/runtime-trust";
import { signPayload } from "../../nodes/lib/identity/signing";
import { mayCommandDoor } from "../../nodes/lib/identity/trust";
import { FakeClock } from "../support/fake-clock";
import { TestClient } from "../support/mqtt";

const NOW = Date.UTC(2026, 11, 6, 20, 0, 0);

describe("the runtime's trust (services.trust) by role", function () {
  this.timeout(30_000);
  const dirs: string[] = [];
  const opened: RuntimeTrust[] = [];
  const tempDir = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-trust-"));
    dirs.push(d);
    return d;
  };
  const open = async (...args: Parameters<typeof openRuntimeTrust>) => {
    const t = await openRuntimeTrust(...args);
    opened.push(t);
    return t;
  };
  let clock: FakeClock;
  let hubDir: string;
  let hub: RuntimeTrust;
  const logged: string[] = [];
  const log = (line: string) => logged.push(line);

  beforeEach(async () => {
    clock = new FakeClock(NOW);
    hubDir = tempDir();
    hub = await open({ role: "all", deviceId: "all", dataDir: hubDir }, clock, { log });
  });
  afterEach(() => {
    for (const t of opened.splice(0)) t.close();
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  const enrol = (id: string, role: "buttonpi" | "doorpi") => addDevice(hubDir, id, role, { hubUrl: "mqtts://127.0.0.1:8883", now: new Date(NOW) });
  const command = (signer: { cert: string; key: string }, id: string) => signPayload({ command: "open-door", id }, signer, clock.now(), { topic: "pifog/buttonpi/command" });

  it("all-in-one: the store's CA, the hub's own identity made on the first start, and revocations that count at once", async () => {
    assert.equal(hub.trust.signer?.cn, "hub");
    assert.ok(fs.existsSync(path.join(deviceBundleDir(hubDir, "hub"), "key.pem")));
    const verifier = hub.trust.verifier(mayCommandDoor, "door")!;
    assert.deepEqual(verifier.verify(command(hub.trust.signer!, "a"), { topic: "pifog/buttonpi/command" }), {
      ok: true,
      signer: { cn: "hub", serial: hub.directory!.device("hub")!.serial, role: "hub" },
    });
    // a device's certificate says its role, but the store has the last word: a doorpi may not open the door
    const doorpi = await enrol("doorpi", "doorpi");
    const refused = verifier.verify(command(doorpi, "b"), { topic: "pifog/buttonpi/command" });
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.reason, "not-allowed");

    // a second start keeps the same identity
    const again = await open({ role: "all", deviceId: "all", dataDir: hubDir }, clock, { log });
    assert.equal(again.trust.signer!.cert, hub.trust.signer!.cert);

    await revokeDevice(hubDir, "hub", new Date(NOW));
    await new Promise<void>((resolve) => hub.directory!.once("revoked", () => resolve()));
    const r = verifier.verify(command(hub.trust.signer!, "c"), { topic: "pifog/buttonpi/command" });
    assert.equal(!r.ok && r.reason, "revoked");
  });

  it("a Pi: its bundle's CA; the hub's revocation list from the broker, published by the broker itself, kept for the next start", async () => {
    const bp: DeviceBundle = await enrol("buttonpi", "buttonpi");
    const piDir = tempDir();
    const pi = await open({ role: "buttonpi", deviceId: "buttonpi", dataDir: piDir }, clock, { env: { PIFOG_IDENTITY: bp.dir }, log });
    assert.equal(pi.trust.signer?.cn, "buttonpi");
    assert.equal(pi.directory, null);
    const verifier = pi.trust.verifier(mayCommandDoor, "door")!;
    const signed = () => command(hub.trust.signer!, `x${Math.random()}`);
    assert.equal(verifier.verify(signed(), { topic: "pifog/buttonpi/command" }).ok, true, "the hub's role is in its certificate");

    // the hub's broker publishes the list retained from itself; the Pi's link reads it
    const broker = await EmbeddedBroker.start({ port: 0, host: "127.0.0.1" });
    const stop = publishRevocations(
      (topic, payload, o) => broker.aedes.publish({ cmd: "publish", topic, payload, qos: o.qos, retain: o.retain, dup: false }, () => undefined),
      hub.directory!,
    );
    const reader = await TestClient.connect(`mqtt://127.0.0.1:${broker.port}`);
    try {
      await reader.subscribe(trustTopics.crl());
      const first = await reader.waitFor(trustTopics.crl());
      assert.equal(first.retain, true, "retained, for a Pi that connects later");
      assert.equal((await pi.trust.acceptCrl(first.payload.toString())).taken, true);

      await revokeDevice(hubDir, "hub", new Date(NOW + 1000));
      const next = await reader.waitFor(trustTopics.crl(), (m) => !m.payload.equals(first.payload), 10_000, false);
      assert.deepEqual(await pi.trust.acceptCrl(next.payload.toString()), { taken: true, serials: 1, thisUpdate: new Date(NOW + 1000 - 5 * 60_000).toISOString() });
      const r = verifier.verify(signed(), { topic: "pifog/buttonpi/command" });
      assert.equal(!r.ok && r.reason, "revoked");
      const older = await pi.trust.acceptCrl(first.payload.toString());
      assert.equal(!older.taken && older.why, "older", "never back to an older list");
    } finally {
      stop();
      await reader.end();
      await broker.close();
    }

    // the next start of the Pi honours the kept list before the hub's arrives
    assert.ok(fs.existsSync(keptCrlFile(piDir)));
    const restarted = await open({ role: "buttonpi", deviceId: "buttonpi", dataDir: piDir }, clock, { env: { PIFOG_IDENTITY: bp.dir }, log });
    const r = restarted.trust.verifier(mayCommandDoor, "door")!.verify(signed(), { topic: "pifog/buttonpi/command" });
    assert.equal(!r.ok && r.reason, "revoked");
    assert.deepEqual(logged, []);
  });

  it("an unenrolled Pi: no CA, no identity, and the reason says how to enrol it", async () => {
    const t = await open({ role: "buttonpi", deviceId: "buttonpi", dataDir: tempDir() }, clock, { env: {}, log });
    assert.equal(t.trust.signer, null);
    assert.equal(t.trust.verifier(mayCommandDoor), null);
    assert.equal(t.trust.missing, "no CA on this Pi: enrol it with `pifog device add`");
  });
});
