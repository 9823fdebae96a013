// The `pifog` command end to end, as a user runs it: child processes on a data dir, exit codes (0 done, 1 refused,
// 2 usage), key files only their owner reads, passwords never from the command line, and a running store that
// hears of a revocation from the CLI at once.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { certificateInfo, verifyChain } from "../../nodes/lib/identity/ca";
import { identityPaths, ownBundleDir, readBundle } from "../../nodes/lib/identity/paths";
import { IdentityStore } from "../../nodes/lib/identity/store";
import type { DeviceRecord } from "../../nodes/lib/identity/types";

const CLI = path.resolve(__dirname, "../../nodes/lib/identity/cli.js");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function pifog(dataDir: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, PIFOG_NEW_PASSWORD: "", ...env, PIFOG_DATA_DIR: dataDir } },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end();
  });
}

function mode(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

describe("pifog CLI", () => {
  let dataDir: string;

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-cli-"));
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("help is 0, no command and unknown commands or options are usage errors (2)", async () => {
    const help = await pifog(dataDir, ["help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /device add <id>/);
    assert.equal((await pifog(dataDir, [])).code, 2);
    const unknown = await pifog(dataDir, ["device", "frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "device frobnicate"/);
    assert.equal((await pifog(dataDir, ["ca", "init", "--bogus"])).code, 2);
    assert.equal((await pifog(dataDir, ["device", "add"])).code, 2);
    assert.equal((await pifog(dataDir, ["device", "add", "my-pi"])).code, 2, "an id that is no role needs --role");
    assert.equal((await pifog(dataDir, ["device", "add", "doorpi", "--role", "all"])).code, 2);
    assert.equal((await pifog(dataDir, ["user", "add", "kim", "--role", "root"])).code, 2);
    assert.equal((await pifog(dataDir, ["ca", "init"], { PIFOG_ROLE: "nonsense" })).code, 2, "the data dir's config is checked as the runtime's");
    assert.equal(fs.existsSync(path.join(dataDir, "identity", "ca.key")), false, "nothing written by a refused command line");
  });

  it("ca init makes the CA with its key 0600, and refuses a second time unless --force", async () => {
    const first = await pifog(dataDir, ["ca", "init"]);
    assert.equal(first.code, 0, first.stderr);
    const paths = identityPaths(dataDir);
    assert.equal(mode(paths.caKey), 0o600);
    assert.equal(mode(paths.dir), 0o700);
    const cert = fs.readFileSync(paths.caCert, "utf8");
    const again = await pifog(dataDir, ["ca", "init"]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /there is a CA .* already/);
    assert.equal(fs.readFileSync(paths.caCert, "utf8"), cert);
    assert.equal((await pifog(dataDir, ["ca", "init", "--force"])).code, 0);
    assert.notEqual(fs.readFileSync(paths.caCert, "utf8"), cert);
  });

  it("device add writes a bundle the Pi reads (cert, key 0600, CA, hub.json), refuses the id again unless --renew", async () => {
    assert.equal((await pifog(dataDir, ["device", "add", "doorpi"])).code, 1, "no CA yet");
    await pifog(dataDir, ["ca", "init"]);
    const added = await pifog(dataDir, ["device", "add", "front-door", "--role", "doorpi", "--hub", "mqtts://hub.local:8883"]);
    assert.equal(added.code, 0, added.stderr);
    const dir = path.join(dataDir, "identity", "devices", "front-door");
    assert.match(added.stdout, new RegExp(`its bundle: ${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    assert.match(added.stdout, /PIFOG_ROLE=doorpi PIFOG_DEVICE_ID=front-door PIFOG_IDENTITY=/);
    const bundle = readBundle(dir);
    assert.ok(bundle);
    assert.equal(bundle.device, "front-door");
    assert.equal(bundle.role, "doorpi");
    assert.equal(bundle.url, "mqtts://hub.local:8883");
    assert.equal(certificateInfo(bundle.cert).cn, "front-door");
    assert.ok(await verifyChain(bundle.cert, bundle.ca));
    assert.equal(mode(path.join(dir, "key.pem")), 0o600);
    assert.equal(mode(identityPaths(dataDir).identities), 0o600);
    assert.equal(ownBundleDir(dataDir, "front-door", {}), dir);
    assert.equal(ownBundleDir(dataDir, "front-door", { PIFOG_IDENTITY: "/etc/pifog/id" }), "/etc/pifog/id");

    const twice = await pifog(dataDir, ["device", "add", "front-door", "--role", "doorpi"]);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /exists; --renew/);
    const renewed = await pifog(dataDir, ["device", "add", "front-door", "--role", "doorpi", "--renew"]);
    assert.equal(renewed.code, 0, renewed.stderr);
    assert.notEqual(readBundle(dir)!.cert, bundle.cert);

    const list = await pifog(dataDir, ["device", "list", "--json"]);
    const devices = JSON.parse(list.stdout) as DeviceRecord[];
    assert.deepEqual(devices.map((d) => [d.id, d.role, d.serial]), [["front-door", "doorpi", certificateInfo(readBundle(dir)!.cert).serial]]);
    const tableOut = await pifog(dataDir, ["device", "list"]);
    assert.match(tableOut.stdout, /^ID\s+ROLE\s+SERIAL\s+EXPIRES\s+REVOKED/);
    assert.match(tableOut.stdout, /front-door\s+doorpi\s+[0-9a-f]{32}\s+\d{4}-\d\d-\d\d\s+-/);
  });

  it("takes passwords from PIFOG_NEW_PASSWORD only, never from the command line; refuses short ones", async () => {
    await pifog(dataDir, ["ca", "init"]);
    const inArgv = await pifog(dataDir, ["user", "add", "kim", "--role", "viewer", "--password=hunter22"]);
    assert.equal(inArgv.code, 2);
    const noTerminal = await pifog(dataDir, ["user", "add", "kim", "--role", "viewer"]);
    assert.equal(noTerminal.code, 2);
    assert.match(noTerminal.stderr, /PIFOG_NEW_PASSWORD/);
    const short = await pifog(dataDir, ["user", "add", "kim", "--role", "viewer"], { PIFOG_NEW_PASSWORD: "short" });
    assert.equal(short.code, 1);
    assert.match(short.stderr, /at least 8/);

    const ok = await pifog(dataDir, ["user", "add", "kim", "--role", "viewer"], { PIFOG_NEW_PASSWORD: "kims password" });
    assert.equal(ok.code, 0, ok.stderr);
    assert.doesNotMatch(fs.readFileSync(identityPaths(dataDir).identities, "utf8"), /kims password/);
    const store = await IdentityStore.open(dataDir);
    try {
      assert.deepEqual(await store.checkPassword("kim", "kims password"), { kind: "user", name: "kim", role: "viewer" });
    } finally {
      store.close();
    }
    const device = await pifog(dataDir, ["device", "add", "sensors-2", "--role", "sensors", "--password"], { PIFOG_NEW_PASSWORD: "sensor password" });
    assert.equal(device.code, 0, device.stderr);
    assert.match(device.stdout, /password login on/);
  });

  it("user add, list, passwd and remove; names are unique across users and devices", async () => {
    await pifog(dataDir, ["ca", "init"]);
    const env = { PIFOG_NEW_PASSWORD: "a good password" };
    assert.equal((await pifog(dataDir, ["user", "add", "ops", "--role", "operator"], env)).code, 0);
    assert.equal((await pifog(dataDir, ["user", "add", "ops", "--role", "viewer"], env)).code, 1, "exists");
    assert.equal((await pifog(dataDir, ["device", "add", "ops", "--role", "doorpi"])).code, 1, "a user's name");
    assert.equal((await pifog(dataDir, ["device", "add", "doorpi"])).code, 0);
    const clash = await pifog(dataDir, ["user", "add", "doorpi", "--role", "viewer"], env);
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /is a device id/);
    assert.match((await pifog(dataDir, ["user", "list"])).stdout, /ops\s+operator/);
    assert.equal((await pifog(dataDir, ["user", "passwd", "ops"], { PIFOG_NEW_PASSWORD: "another password" })).code, 0);
    const store = await IdentityStore.open(dataDir);
    try {
      assert.equal(await store.checkPassword("ops", "a good password"), null);
      assert.equal((await store.checkPassword("ops", "another password"))?.kind, "user");
    } finally {
      store.close();
    }
    assert.equal((await pifog(dataDir, ["user", "passwd", "nobody"], env)).code, 1);
    assert.equal((await pifog(dataDir, ["user", "remove", "ops"])).code, 0);
    assert.equal((await pifog(dataDir, ["user", "remove", "ops"])).code, 1);
    assert.match((await pifog(dataDir, ["user", "list"])).stdout, /no users yet/);
  });

  it("device revoke reaches a running store at once (its `revoked` event), and refuses twice or an unknown id", async () => {
    await pifog(dataDir, ["ca", "init"]);
    await pifog(dataDir, ["device", "add", "doorpi"]);
    await pifog(dataDir, ["device", "add", "statuspi"]);
    const store = await IdentityStore.open(dataDir, { watch: true });
    try {
      const serial = store.device("doorpi")!.serial;
      const revoked = once(store, "revoked") as Promise<[DeviceRecord]>;
      const result = await pifog(dataDir, ["device", "revoke", "doorpi"]);
      assert.equal(result.code, 0, result.stderr);
      const [device] = await revoked;
      assert.equal(device.id, "doorpi");
      assert.equal(device.serial, serial);
      assert.ok(store.isRevoked(serial));
      assert.equal(store.isRevoked(store.device("statuspi")!.serial), false);
      assert.match((await pifog(dataDir, ["device", "list"])).stdout, /doorpi\s+doorpi\s+[0-9a-f]+\s+\S+\s+\d{4}-\d\d-\d\d/);
      assert.equal((await pifog(dataDir, ["device", "revoke", "doorpi"])).code, 1);
      assert.equal((await pifog(dataDir, ["device", "revoke", "nobody"])).code, 1);
    } finally {
      store.close();
    }
  });

  it("broker mosquitto-conf writes Mosquitto's configuration, ACL and password file from the identities", async () => {
    assert.equal((await pifog(dataDir, ["ca", "init"])).code, 0);
    const added = await pifog(dataDir, ["device", "add", "statuspi"]);
    assert.equal(added.code, 0, added.stderr);
    const r = await pifog(dataDir, ["broker", "mosquitto-conf", "--out", path.join(dataDir, "mq")], { PIFOG_MQTTS_PORT: "18883" });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /run: mosquitto -c .*mq\/mosquitto\.conf/);
    const conf = fs.readFileSync(path.join(dataDir, "mq", "mosquitto.conf"), "utf8");
    assert.match(conf, /listener 18883/);
    assert.match(conf, /require_certificate true/);
    assert.match(conf, /use_identity_as_username true/);
    assert.match(conf, /crlfile /);
    assert.match(fs.readFileSync(path.join(dataDir, "mq", "acl"), "utf8"), /user statuspi/, "one block per enrolled device");
    assert.equal((await pifog(dataDir, ["broker", "mosquitto-conf", "extra"])).code, 2);
  });
});
