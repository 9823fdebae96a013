// The Pi's side of pairing against the hub's real routes on a loopback HTTP server (the hub's time on a fake clock):
// what the person reads on the Pi's console, a new code when one expires, the CA pinned and a changed CA refused
// loudly, and the identity stored 0600.
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import express from "express";
import { addUser, initCa } from "../../nodes/lib/identity/admin";
import { createCa, fingerprint } from "../../nodes/lib/identity/ca";
import { pairWithHub, pinnedCaFile, readPairedIdentity, type PairClientOptions } from "../../nodes/lib/identity/pair-client";
import { HubPairing } from "../../nodes/lib/identity/pairing";
import { pairingRoutes } from "../../nodes/lib/identity/pairing-http";
import { bundlePaths, readBundle } from "../../nodes/lib/identity/paths";
import { IdentityStore } from "../../nodes/lib/identity/store";
import { systemClock } from "../../nodes/lib/clock";
import { FakeClock } from "../support/fake-clock";
import { until } from "../support/until";

describe("pairing: the Pi's side against the hub's routes", () => {
  let hubDir: string;
  let piDir: string;
  let hubClock: FakeClock;
  let store: IdentityStore;
  let pairing: HubPairing;
  let server: http.Server;
  let hubUrl: string;
  let lines: string[];

  before(async () => {
    hubDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-pair-client-hub-"));
    await initCa(hubDir, { now: new Date() });
    await addUser(hubDir, "alice", "admin", "alice-password");
  });
  after(() => fs.rmSync(hubDir, { recursive: true, force: true }));

  beforeEach(async () => {
    piDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-pair-client-pi-"));
    hubClock = new FakeClock(Date.now());
    store = await IdentityStore.open(hubDir);
    pairing = new HubPairing({ dataDir: hubDir, clock: hubClock, audit: { record: () => undefined }, directory: store, ports: () => ({ mqtts: 18883, mqtt: 11883 }) });
    const app = express();
    app.use(pairingRoutes({ tokens: () => null, audit: { record: () => undefined }, sessions: () => null, pairing: () => pairing }));
    server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    hubUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    lines = [];
  });
  afterEach(async () => {
    pairing.close();
    store.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(piDir, { recursive: true, force: true });
  });

  const options = (id: string, extra: Partial<PairClientOptions> = {}): PairClientOptions => ({
    hubUrl,
    role: "statuspi",
    deviceId: id,
    version: "9.9.9",
    login: "certificate",
    bundleDir: path.join(piDir, "identity", "devices", id),
    dataDir: piDir,
    pollMs: 10,
    clock: systemClock,
    log: (text) => void lines.push(text),
    ...extra,
  });
  const codes = () => lines.flatMap((l) => [...l.matchAll(/enter the code ([A-Z2-9]{4}-[A-Z2-9]{4})/g)].map((m) => m[1]!));

  it("prints the code and the hub CA's fingerprint, and stores the approved identity 0600 with the CA pinned", async () => {
    const paired = pairWithHub(options("kitchen"));
    await until(() => codes().length === 1, "the code on the console");
    const console = lines.join("\n");
    assert.ok(console.includes(pairing.caFingerprint()), "the fingerprint to compare with the hub's");
    assert.ok(console.includes(`${hubUrl}/ui/`), "where to go");
    await pairing.approve(codes()[0]!, { id: "kitchen-status", owner: "alice", by: "alice", address: "127.0.0.1" });
    const identity = await paired;
    assert.deepEqual(identity.hub, { url: "mqtts://127.0.0.1:18883", device: "kitchen-status", role: "statuspi" });
    const files = bundlePaths(identity.dir);
    for (const file of [files.cert, files.key, files.ca, files.hub, pinnedCaFile(piDir)]) assert.equal(fs.statSync(file).mode & 0o777, 0o600, file);
    assert.equal(fingerprint(fs.readFileSync(pinnedCaFile(piDir), "utf8")), pairing.caFingerprint());
    assert.equal(readBundle(identity.dir)?.device, "kitchen-status");
    assert.deepEqual(readPairedIdentity(identity.dir)?.hub, identity.hub, "on the next start it is found, no pairing again");
  });

  it("asks for a new code when one expires, and says so", async () => {
    const paired = pairWithHub(options("slow"));
    await until(() => codes().length === 1, "the first code");
    hubClock.tick(10 * 60_000);
    await until(() => codes().length === 2, "a new code after the first expired", 10_000, () => lines);
    assert.ok(lines.some((l) => /expired.*Asking the hub for a new code/s.test(l)));
    assert.notEqual(codes()[1], codes()[0]);
    await pairing.approve(codes()[1]!, { id: "slow", owner: "alice", by: "alice", address: "127.0.0.1" });
    assert.equal((await paired).hub.device, "slow");
  });

  it("refuses loudly to pair with a hub whose CA is not the one it pinned", async () => {
    const other = await createCa({ now: new Date(), commonName: "someone else" });
    fs.mkdirSync(path.dirname(pinnedCaFile(piDir)), { recursive: true });
    fs.writeFileSync(pinnedCaFile(piDir), other.cert);
    await assert.rejects(pairWithHub(options("lured")), /THE HUB'S CA CHANGED.*Not pairing/);
    assert.ok(!fs.existsSync(path.join(piDir, "identity", "devices", "lured")), "nothing stored");
  });

  it("pairs a Pi that cannot do TLS with a user name and password, kept 0600", async () => {
    const paired = pairWithHub(options("plain", { login: "password" }));
    await until(() => codes().length === 1, "the code");
    await pairing.approve(codes()[0]!, { id: "plain-pi", owner: "alice", by: "alice", address: "127.0.0.1" });
    const identity = await paired;
    assert.equal(identity.login?.username, "plain-pi");
    assert.equal(fs.statSync(path.join(identity.dir, "login.json")).mode & 0o777, 0o600);
    const again = readPairedIdentity(identity.dir)!;
    assert.equal(again.hub.url, "mqtt://127.0.0.1:11883", "the hub's plain MQTT port");
    assert.equal(again.login?.username, "plain-pi");
    assert.ok(await store.checkPassword("plain-pi", again.login!.password), "the broker's store takes its password");
  });
});
