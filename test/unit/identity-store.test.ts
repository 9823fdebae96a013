// The identities a runtime reads: devices, users and revocations from the data dir, reloaded when another process
// changes them (a revocation reaches the running store as an event), and password checks that take the same time
// for a name nobody has.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { addDevice, addUser, ensureCa, ensureServerTls, initCa, revokeDevice, setPassword } from "../../nodes/lib/identity/admin";
import { certificateInfo, crlInfo } from "../../nodes/lib/identity/ca";
import { IdentityError } from "../../nodes/lib/identity/errors";
import { identityPaths } from "../../nodes/lib/identity/paths";
import { IdentityStore } from "../../nodes/lib/identity/store";
import type { DeviceRecord } from "../../nodes/lib/identity/types";

const run = promisify(execFile);
const ADMIN = path.resolve(__dirname, "../../nodes/lib/identity/admin.js");
const HUB = "mqtts://hub.test:8883";
const PASSWORD = "correct horse battery";

/** Runs admin.ts's `fn(dataDir, ...args)` in another node process: the way the `pifog` CLI changes the files. */
async function inOtherProcess(fn: string, dataDir: string, ...args: string[]): Promise<void> {
  const script = `require(${JSON.stringify(ADMIN)}).${fn}(${JSON.stringify(dataDir)}, ...${JSON.stringify(args)}, new Date()).catch((e) => { console.error(e); process.exit(1); })`;
  await run(process.execPath, ["-e", script]);
}

async function timed<T>(fn: () => Promise<T>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

describe("identity store", () => {
  let dataDir: string;
  let store: IdentityStore | undefined;
  const now = new Date();

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-identity-"));
  });
  afterEach(() => {
    store?.close();
    store = undefined;
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("refuses to open a data dir without a CA, naming the command that makes one", async () => {
    await assert.rejects(IdentityStore.open(dataDir), (err: Error) => err instanceof IdentityError && /pifog ca init/.test(err.message));
  });

  it("reads the CA, devices, users, the revocation list and the server certificate", async () => {
    const ca = await initCa(dataDir, { now });
    const door = await addDevice(dataDir, "doorpi", "doorpi", { hubUrl: HUB, now });
    await addUser(dataDir, "kim", "viewer", PASSWORD);
    const tlsPair = await ensureServerTls(dataDir, ["localhost", "127.0.0.1"], now);
    store = await IdentityStore.open(dataDir);
    assert.equal(store.caCert, ca.cert);
    const record = store.device("doorpi");
    assert.equal(record?.role, "doorpi");
    assert.equal(record?.serial, certificateInfo(door.cert).serial);
    assert.equal(record?.revokedAt, undefined);
    assert.ok(!("passwordHash" in record!), "no hash leaves the store");
    assert.deepEqual(store.devices().map((d) => d.id), ["doorpi"]);
    assert.deepEqual(store.users().map((u) => [u.name, u.role]), [["kim", "viewer"]]);
    assert.ok(!("passwordHash" in store.users()[0]!));
    assert.equal(store.isRevoked(record!.serial), false);
    assert.deepEqual(crlInfo(store.crl()).serials, []);
    assert.deepEqual(store.serverTls(), tlsPair);
  });

  it("checks passwords: a user's, a password device's, none for a wrong one, an unknown name or a revoked device", async () => {
    await initCa(dataDir, { now });
    await addUser(dataDir, "kim", "operator", PASSWORD);
    await addDevice(dataDir, "powerpi-1", "powerpi", { hubUrl: HUB, now, password: "device password 1" });
    await addDevice(dataDir, "doorpi", "doorpi", { hubUrl: HUB, now });
    store = await IdentityStore.open(dataDir);
    assert.deepEqual(await store.checkPassword("kim", PASSWORD), { kind: "user", name: "kim", role: "operator" });
    assert.deepEqual(await store.checkPassword("kim", Buffer.from(PASSWORD)), { kind: "user", name: "kim", role: "operator" });
    assert.equal(await store.checkPassword("kim", "wrong password"), null);
    assert.equal(await store.checkPassword("nobody", PASSWORD), null);
    assert.equal(await store.checkPassword("doorpi", ""), null, "a device without a password has none");
    const device = await store.checkPassword("powerpi-1", "device password 1");
    assert.deepEqual(device, { kind: "device", id: "powerpi-1", role: "powerpi", via: "password", serial: store.device("powerpi-1")!.serial });
    assert.equal(store.device("powerpi-1")?.password, true);

    await revokeDevice(dataDir, "powerpi-1", now);
    store.reload();
    assert.equal(await store.checkPassword("powerpi-1", "device password 1"), null);

    await setPassword(dataDir, "kim", "a new password");
    store.reload();
    assert.equal(await store.checkPassword("kim", PASSWORD), null);
    assert.equal((await store.checkPassword("kim", "a new password"))?.kind, "user");
  });

  it("takes as long for an unknown name as for a known one with a wrong password", async () => {
    await initCa(dataDir, { now });
    await addUser(dataDir, "kim", "viewer", PASSWORD);
    store = await IdentityStore.open(dataDir);
    const s = store;
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 5; i++) {
      known.push(await timed(() => s.checkPassword("kim", "wrong password")));
      unknown.push(await timed(() => s.checkPassword("nobody-at-all", "wrong password")));
    }
    const ratio = median(unknown) / median(known);
    assert.ok(ratio > 0.5 && ratio < 2, `unknown ${median(unknown)} ms vs known ${median(known)} ms`);
  });

  it("reloads when another process revokes a device: `revoked` for it, then `changed`, and the new CRL", async () => {
    await initCa(dataDir, { now });
    await addDevice(dataDir, "doorpi", "doorpi", { hubUrl: HUB, now });
    await addDevice(dataDir, "statuspi", "statuspi", { hubUrl: HUB, now });
    store = await IdentityStore.open(dataDir, { watch: true });
    const serial = store.device("doorpi")!.serial;
    const events: string[] = [];
    store.on("changed", () => events.push("changed"));
    const revoked = once(store, "revoked") as Promise<[DeviceRecord]>;
    const changed = once(store, "changed");

    await inOtherProcess("revokeDevice", dataDir, "doorpi");
    const [device] = await revoked;
    await changed;
    assert.equal(device.id, "doorpi");
    assert.equal(device.serial, serial);
    assert.ok(device.revokedAt);
    assert.ok(store.isRevoked(serial));
    assert.equal(store.isRevoked(store.device("statuspi")!.serial), false);
    assert.deepEqual(crlInfo(store.crl()).serials, [serial]);
    assert.ok(store.device("doorpi")?.revokedAt);
  });

  it("a renewal revokes the device's previous certificate: `revoked` names the old serial", async () => {
    await initCa(dataDir, { now });
    await addDevice(dataDir, "doorpi", "doorpi", { hubUrl: HUB, now });
    store = await IdentityStore.open(dataDir, { watch: true });
    const old = store.device("doorpi")!.serial;
    const revoked = once(store, "revoked") as Promise<[DeviceRecord]>;
    await addDevice(dataDir, "doorpi", "doorpi", { hubUrl: HUB, now, renew: true });
    const [device] = await revoked;
    assert.equal(device.serial, old);
    assert.ok(store.isRevoked(old));
    const renewed = store.device("doorpi")!;
    assert.notEqual(renewed.serial, old);
    assert.equal(renewed.revokedAt, undefined);
    assert.equal(store.isRevoked(renewed.serial), false);
  });

  it("keeps the identities it had when the file is damaged, and says why", async () => {
    await initCa(dataDir, { now });
    await addUser(dataDir, "kim", "viewer", PASSWORD);
    const errors: Error[] = [];
    store = await IdentityStore.open(dataDir, { onError: (e) => errors.push(e) });
    fs.writeFileSync(identityPaths(dataDir).identities, "{ not json");
    store.reload();
    assert.deepEqual(store.users().map((u) => u.name), ["kim"]);
    assert.match(errors[0]?.message ?? "", /damaged/);
    assert.equal(store.lastError, errors[0]);
  });

  it("ensureCa makes a CA once; two processes changing the files at once both land", async () => {
    const first = await ensureCa(dataDir, { now });
    assert.equal((await ensureCa(dataDir, { now })).cert, first.cert);
    await Promise.all([
      inOtherProcess("addUser", dataDir, "ann", "viewer", PASSWORD),
      inOtherProcess("addUser", dataDir, "bob", "viewer", PASSWORD),
      addUser(dataDir, "cat", "admin", PASSWORD),
      addDevice(dataDir, "doorpi", "doorpi", { hubUrl: HUB, now }),
    ]);
    store = await IdentityStore.open(dataDir);
    assert.deepEqual(store.users().map((u) => u.name).sort(), ["ann", "bob", "cat"]);
    assert.deepEqual(store.devices().map((d) => d.id), ["doorpi"]);
  });
});
