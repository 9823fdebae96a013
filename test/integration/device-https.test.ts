// The hub's device listener and the camera Pi's uploader, in one process: devices come in by their certificate or
// (paired with a password) their login, everyone else is refused with a reason and an audit record; an item is
// stored once, checked, and leaves the Pi's spool only once the hub has it.
import assert from "node:assert/strict";
import fs from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { Audit } from "../../nodes/lib/audit/audit";
import { LocalClipFiles } from "../../nodes/lib/camera/clip-files";
import { ClipStore } from "../../nodes/lib/camera/clip-store";
import { Spool } from "../../nodes/lib/camera/spool";
import { encodeItemHeader } from "../../nodes/lib/camera/spool-item";
import type { SpoolItem } from "../../nodes/lib/camera/types";
import { ITEM_HEADER, uploadRoutes } from "../../nodes/lib/camera/upload-routes";
import { SpoolUploader, type UploadTarget } from "../../nodes/lib/camera/uploader";
import { addDevice, revokeDevice } from "../../nodes/lib/identity/admin";
import { IdentityStore } from "../../nodes/lib/identity/store";
import { DeviceHttps } from "../../nodes/lib/security/device-https";
import { SqlitePool } from "../../nodes/lib/store/sqlite";
import { spoolItem } from "../support/clip-items";
import { FakeClock } from "../support/fake-clock";
import { enrol, type Enrolled } from "../support/security";

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

describe("the hub's device listener (uploads from camera Pis)", function () {
  this.timeout(30_000);
  let e: Enrolled;
  let identities: IdentityStore;
  let listener: DeviceHttps;
  let store: ClipStore;
  let audit: Audit;
  let pool: SqlitePool;
  const clock = new FakeClock(Date.UTC(2026, 5, 1, 12));
  const piDirs: string[] = [];
  const PW = "pwcam-password-long-enough";

  before(async () => {
    e = await enrol({ cam1: "camerapi", cam2: "camerapi", cam3: "camerapi" });
    const bundle = await addDevice(e.dataDir, "pwcam", "camerapi", { hubUrl: "mqtts://127.0.0.1:8883", now: new Date(), password: PW });
    assert.ok(bundle);
    identities = await IdentityStore.open(e.dataDir, { watch: true, debounceMs: 20 });
    audit = new Audit(e.dataDir, () => clock.now());
    pool = new SqlitePool();
    store = new ClipStore({ dataDir: e.dataDir, pool, files: new LocalClipFiles(path.join(e.dataDir, "clips")), clock, retention: { maxAgeMs: 0, maxBytes: 0 } });
    listener = await DeviceHttps.start({
      identities,
      host: "127.0.0.1",
      port: 0,
      audit,
      throttle: null,
      now: () => clock.now(),
      routes: uploadRoutes({ store: () => store, incomingDir: path.join(e.dataDir, "clips-incoming"), audit, now: () => clock.now() }),
    });
  });
  after(async () => {
    await listener?.close();
    store?.close();
    identities?.close();
    fs.rmSync(e.dataDir, { recursive: true, force: true });
    for (const dir of piDirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  const newSpool = (device: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-pi-spool-"));
    piDirs.push(dir);
    return new Spool(path.join(dir, device));
  };
  const asDevice = (id: string): UploadTarget => ({ url: listener.url, ca: e.ca, ...e.devices[id]! });

  /** One PUT as a device would send it (or as someone who is not one). */
  function put(url: string, o: { tls?: { cert: string; key: string }; basic?: string; item?: SpoolItem; body?: Buffer }): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const body = o.body ?? Buffer.alloc(0);
      const req = https.request(`${listener.url}${url}`, {
        method: "PUT",
        ca: e.ca,
        agent: false,
        ...(o.tls ?? {}),
        headers: {
          "content-length": String(body.length),
          ...(o.item ? { [ITEM_HEADER]: encodeItemHeader(o.item) } : {}),
          ...(o.basic ? { authorization: `Basic ${Buffer.from(o.basic).toString("base64")}` } : {}),
        },
      });
      req.on("error", reject);
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            json = { text };
          }
          resolve({ status: res.statusCode ?? 0, body: json, headers: res.headers });
        });
      });
      req.end(body);
    });
  }

  function upload(uploader: SpoolUploader, events: { uploaded: Array<[SpoolItem, boolean]> }, count: number, more: () => boolean = () => true): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${events.uploaded.length} of ${count} uploaded`)), 10_000);
      const check = () => {
        if (events.uploaded.length >= count && more()) {
          clearTimeout(timer);
          resolve();
        } else setTimeout(check, 10);
      };
      uploader.kick();
      check();
    });
  }

  const refusals = (event: string) => audit.read().filter((r) => r.event === event);

  it("stores a device's clip once, checked, and the Pi's spool lets go of it only then", async () => {
    const spool = newSpool("cam1");
    const item = spoolItem(spool, "cam1", Date.UTC(2026, 5, 1, 11, 0, 0));
    const events = { uploaded: [] as Array<[SpoolItem, boolean]> };
    const stored: string[] = [];
    store.on("stored", (r) => stored.push(`${r.device}/${r.id}`));
    const uploader = new SpoolUploader({ spool, clock, target: () => asDevice("cam1"), events: { uploaded: (i, d) => events.uploaded.push([i, d]) } });
    await upload(uploader, events, 1);
    assert.deepEqual(events.uploaded.map(([i, d]) => [i.id, d]), [[item.id, false]]);
    assert.deepEqual(spool.list(), [], "the spool let go of it");
    const record = store.get("cam1", item.id)!;
    assert.equal(record.status, "stored");
    assert.equal(record.sha256, item.sha256);
    assert.equal(record.location, "local");
    assert.deepEqual(fs.readFileSync(path.join(e.dataDir, "clips", "cam1", `${item.id}.mjpeg`)).length, item.bytes);
    assert.deepEqual(stored, [`cam1/${item.id}`]);

    // the same item again (the Pi lost the hub's answer): answered, nothing stored twice
    spoolItem(spool, "cam1", item.start);
    await upload(uploader, events, 2);
    assert.deepEqual(events.uploaded[1]!.map((x) => (typeof x === "boolean" ? x : x.id)), [item.id, true]);
    assert.deepEqual(store.list({ device: "cam1" }).map((r) => r.id), [item.id]);
    assert.deepEqual(stored, [`cam1/${item.id}`], "announced once");
    await uploader.stop();
  });

  it("takes a password device's login (PIFOG_PAIR_LOGIN=password) and refuses a wrong password", async () => {
    const spool = newSpool("pwcam");
    const item = spoolItem(spool, "pwcam", Date.UTC(2026, 5, 1, 11, 5));
    const events = { uploaded: [] as Array<[SpoolItem, boolean]> };
    const uploader = new SpoolUploader({ spool, clock, target: () => ({ url: listener.url, ca: e.ca, basic: { username: "pwcam", password: PW } }), events: { uploaded: (i, d) => events.uploaded.push([i, d]) } });
    await upload(uploader, events, 1);
    assert.equal(store.get("pwcam", item.id)?.status, "stored");
    await uploader.stop();

    const wrong = await put(`/device/v1/items/${item.id}/thumbnail`, { basic: "pwcam:not-the-password", item });
    assert.equal(wrong.status, 401);
    assert.match(String(wrong.headers["www-authenticate"]), /^Basic realm="pifog-devices"/);
    assert.match(String(wrong.body.error), /wrong device id or password/);
    const user = await put(`/device/v1/items/${item.id}/thumbnail`, { basic: `${e.users.viewer.username}:${e.users.viewer.password}`, item });
    assert.equal(user.status, 403);
    assert.match(String(user.body.error), /is a user, not a device/);
  });

  it("refuses a caller without a certificate, one from another CA and an expired one, saying why, in the audit too", async () => {
    const item = { ...spoolItem(newSpool("cam1"), "cam1", Date.UTC(2026, 5, 1, 11, 10)) };
    const none = await put(`/device/v1/items/${item.id}/thumbnail`, { item });
    assert.equal(none.status, 401);
    assert.match(String(none.body.error), /client certificate/);
    const foreign = await put(`/device/v1/items/${item.id}/thumbnail`, { tls: e.otherCa, item });
    assert.equal(foreign.status, 403);
    assert.match(String(foreign.body.error), /another CA/);
    const expired = await put(`/device/v1/items/${item.id}/thumbnail`, { tls: e.expired, item });
    assert.equal(expired.status, 403);
    assert.match(String(expired.body.error), /expired/);
    const reasons = refusals("device.https.refused").map((r) => r.reason);
    for (const why of [/client certificate/, /another CA/, /expired/, /wrong device id or password/, /is a user/]) {
      assert.ok(reasons.some((r) => why.test(r)), `audited: ${why} in ${JSON.stringify(reasons)}`);
    }
    assert.equal(store.get("cam1", item.id), null);
  });

  it("refuses device A sending device B's item, and a body whose sha256 is not the item's; the Pi keeps such an item", async () => {
    const spool = newSpool("cam2");
    const theirs = spoolItem(spool, "cam2", Date.UTC(2026, 5, 1, 11, 20));
    const asOther = await put(`/device/v1/items/${theirs.id}/thumbnail`, { tls: e.devices.cam1!, item: theirs, body: fs.readFileSync(spool.file(theirs.thumbnail)) });
    assert.equal(asOther.status, 403);
    assert.match(String(asOther.body.error), /device "cam1" may only upload its own items, not device "cam2"'s/);

    // a spooled item whose bytes changed after it was hashed: refused, kept, reported; the next one goes on
    const bad = spoolItem(spool, "cam2", Date.UTC(2026, 5, 1, 11, 21));
    fs.writeFileSync(spool.file(bad.media), Buffer.alloc(bad.bytes, 7));
    const refused: Array<[string, number, string]> = [];
    const events = { uploaded: [] as Array<[SpoolItem, boolean]> };
    const uploader = new SpoolUploader({
      spool,
      clock,
      target: () => asDevice("cam2"),
      events: { uploaded: (i, d) => events.uploaded.push([i, d]), refused: (i, s, r) => refused.push([i.id, s, r]) },
    });
    await upload(uploader, events, 1, () => refused.length > 0);
    assert.deepEqual(events.uploaded.map(([i]) => i.id), [theirs.id]);
    assert.equal(refused.length, 1);
    assert.equal(refused[0]![0], bad.id);
    assert.equal(refused[0]![1], 400);
    assert.match(refused[0]![2], /sha256 .* is not the item's/);
    assert.deepEqual(spool.list().map((i) => i.id), [bad.id], "kept in the spool");
    assert.equal(store.get("cam2", bad.id), null);
    await uploader.stop();
    const uploads = refusals("device.upload.refused").map((r) => `${r.status} ${r.reason}`);
    assert.ok(uploads.some((r) => /^403 device "cam1" may only upload its own/.test(r)), JSON.stringify(uploads));
    assert.ok(uploads.some((r) => /^400 the body's sha256/.test(r)), JSON.stringify(uploads));
  });

  it("leaves nothing of an upload behind: a refused body at once, a thumbnail whose media never came once a day old", async () => {
    const spool = newSpool("cam2");
    const item = spoolItem(spool, "cam2", Date.UTC(2026, 5, 1, 11, 40));
    const thumbnail = fs.readFileSync(spool.file(item.thumbnail));
    assert.equal((await put(`/device/v1/items/${item.id}/thumbnail`, { tls: e.devices.cam2!, item, body: thumbnail })).status, 202);
    const wrong = await put(`/device/v1/items/${item.id}`, { tls: e.devices.cam2!, item, body: Buffer.alloc(item.bytes, 7) });
    assert.equal(wrong.status, 400);
    const folder = path.join(e.dataDir, "clips-incoming", "cam2");
    const pieces = (id: string) => fs.readdirSync(folder).filter((f) => f.startsWith(id));
    assert.deepEqual(pieces(item.id), [`${item.id}.thumb.jpg`], "the refused body is gone; the thumbnail waits for its media");

    // the Pi lost its spool and never sends the media: when the cam2 uploads again a day later, the piece goes
    const dayAndAnHourAgo = (clock.now() - 25 * 3_600_000) / 1000;
    fs.utimesSync(path.join(folder, `${item.id}.thumb.jpg`), dayAndAnHourAgo, dayAndAnHourAgo);
    const next = spoolItem(spool, "cam2", Date.UTC(2026, 5, 1, 11, 41));
    const answer = await put(`/device/v1/items/${next.id}/thumbnail`, { tls: e.devices.cam2!, item: next, body: fs.readFileSync(spool.file(next.thumbnail)) });
    assert.equal(answer.status, 202);
    assert.deepEqual(pieces(item.id), []);
    assert.deepEqual(pieces(next.id), [`${next.id}.thumb.jpg`]);
  });

  it("refuses a revoked device at once", async () => {
    const item = spoolItem(newSpool("cam3"), "cam3", Date.UTC(2026, 5, 1, 11, 30));
    const before = await put(`/device/v1/items/${item.id}/thumbnail`, { tls: e.devices.cam3!, item, body: Buffer.from([0xff, 0xd8, 0xff, 0xd9]) });
    assert.equal(before.status, 202);
    const revoked = new Promise<void>((resolve) => identities.once("revoked", () => resolve()));
    await revokeDevice(e.dataDir, "cam3", new Date());
    await revoked;
    const after = await put(`/device/v1/items/${item.id}/thumbnail`, { tls: e.devices.cam3!, item, body: Buffer.from([0xff, 0xd8, 0xff, 0xd9]) });
    assert.equal(after.status, 403);
    assert.match(String(after.body.error), /revoked/);
    assert.ok(refusals("device.https.refused").some((r) => /revoked/.test(r.reason)));
  });

  it("serves nothing else, to a device either", async () => {
    const res = await new Promise<number>((resolve, reject) => {
      https
        .get(`${listener.url}/api/clips`, { ca: e.ca, agent: false, ...e.devices.cam1! }, (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        })
        .on("error", reject);
    });
    assert.equal(res, 404);
  });
});
