// What the all-in-one runtime calls on every start: ensureDevice and ensureServerTls leave good identities alone and
// re-issue the ones that changed, ran out or belong to an old CA; a revoked device stays revoked.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { addDevice, ensureDevice, ensureServerTls, initCa, listDevices, revokeDevice } from "../../nodes/lib/identity/admin";
import { certificateInfo, crlInfo, verifyChain } from "../../nodes/lib/identity/ca";
import { IdentityError } from "../../nodes/lib/identity/errors";
import { identityPaths, readBundle } from "../../nodes/lib/identity/paths";
import { tightenDataDir } from "../../nodes/lib/runtime/file-modes";

const DAY = 86_400_000;
const HUB = "mqtts://127.0.0.1:8883";

describe("identity admin: ensure on every start", () => {
  let dataDir: string;
  const now = new Date();

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-identity-admin-"));
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("ensureDevice on a fresh data dir makes the CA and the bundle; the second call changes nothing", async () => {
    const first = await ensureDevice(dataDir, "doorpi", "doorpi", { hubUrl: HUB, now });
    assert.equal(fs.statSync(identityPaths(dataDir).caKey).mode & 0o777, 0o600);
    assert.ok(await verifyChain(first.cert, fs.readFileSync(identityPaths(dataDir).caCert, "utf8")));
    assert.deepEqual(readBundle(first.dir), first);
    const again = await ensureDevice(dataDir, "doorpi", "doorpi", { hubUrl: HUB, now: new Date(now.getTime() + DAY) });
    assert.deepEqual(again, first);
    assert.equal(listDevices(dataDir).length, 1);
    await ensureServerTls(dataDir, ["localhost"], now);
    assert.deepEqual(tightenDataDir(dataDir).changed, [], "every file 0600, every folder 0700 already, as the runtime keeps the data dir");
  });

  it("re-issues when the hub URL or role changed, the certificate nears its end, or the CA was replaced", async () => {
    const first = await ensureDevice(dataDir, "statuspi", "statuspi", { hubUrl: HUB, now });
    const moved = await ensureDevice(dataDir, "statuspi", "statuspi", { hubUrl: "mqtts://hub.lan:8883", now });
    assert.notEqual(moved.cert, first.cert);
    assert.equal(moved.url, "mqtts://hub.lan:8883");
    const late = await ensureDevice(dataDir, "statuspi", "statuspi", { hubUrl: "mqtts://hub.lan:8883", now: new Date(now.getTime() + 800 * DAY) });
    assert.notEqual(late.cert, moved.cert, "within 30 days of its end");
    assert.ok(crlInfo(fs.readFileSync(identityPaths(dataDir).crl, "utf8")).serials.includes(certificateInfo(first.cert).serial), "the old certificate is superseded");
    await initCa(dataDir, { now, force: true });
    const fresh = await ensureDevice(dataDir, "statuspi", "statuspi", { hubUrl: HUB, now });
    assert.ok(await verifyChain(fresh.cert, fs.readFileSync(identityPaths(dataDir).caCert, "utf8")));
  });

  it("a revoked device stays revoked until it is enrolled again with renew", async () => {
    await ensureDevice(dataDir, "doorpi", "doorpi", { hubUrl: HUB, now });
    await revokeDevice(dataDir, "doorpi", now);
    await assert.rejects(ensureDevice(dataDir, "doorpi", "doorpi", { hubUrl: HUB, now }), (e: Error) => e instanceof IdentityError && /revoked/.test(e.message));
    const back = await addDevice(dataDir, "doorpi", "doorpi", { hubUrl: HUB, now, renew: true });
    assert.deepEqual(await ensureDevice(dataDir, "doorpi", "doorpi", { hubUrl: HUB, now }), back);
  });

  it("ensureServerTls issues for the hosts, keeps it while they are the same, re-issues when they change", async () => {
    const a = await ensureServerTls(dataDir, ["localhost", "127.0.0.1"], now);
    assert.deepEqual(certificateInfo(a.cert).hosts.sort(), ["127.0.0.1", "localhost"]);
    assert.equal(fs.statSync(identityPaths(dataDir).serverKey).mode & 0o777, 0o600);
    assert.deepEqual(await ensureServerTls(dataDir, ["127.0.0.1", "localhost"], now), a);
    const b = await ensureServerTls(dataDir, ["localhost", "127.0.0.1", "hub.lan"], now);
    assert.notEqual(b.cert, a.cert);
    assert.deepEqual(certificateInfo(b.cert).hosts.sort(), ["127.0.0.1", "hub.lan", "localhost"]);
    await assert.rejects(ensureServerTls(dataDir, [" "], now), IdentityError);
  });

  it("ensureServerTls re-signs a revocation list near its nextUpdate (node's tls refuses everyone past it)", async () => {
    await ensureServerTls(dataDir, ["localhost"], now);
    const crlFile = identityPaths(dataDir).crl;
    const before = crlInfo(fs.readFileSync(crlFile, "utf8"));
    const later = new Date(now.getTime() + 340 * DAY);
    await ensureServerTls(dataDir, ["localhost"], later);
    const after = crlInfo(fs.readFileSync(crlFile, "utf8"));
    assert.ok(after.nextUpdate! > before.nextUpdate!);
  });
});
