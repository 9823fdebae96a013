// The hub's clip store: one record per (device, id), stored once; retention by age and by size takes the oldest
// first; the same store on S3 (the S3-compatible test server); and the motion notice's words.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { dayRange, parseRange } from "../../nodes/lib/camera/clip-api";
import { LocalClipFiles, S3ClipFiles, type ClipFiles } from "../../nodes/lib/camera/clip-files";
import { ClipConflict, ClipStore } from "../../nodes/lib/camera/clip-store";
import { mjpegFrames } from "../../nodes/lib/camera/clip-frames";
import { parseSpoolItem } from "../../nodes/lib/camera/spool-item";
import type { SpoolItem } from "../../nodes/lib/camera/types";
import { createClient } from "../../nodes/lib/s3/client";
import { SqlitePool } from "../../nodes/lib/store/sqlite";
import { motionNoticeText, updateMotionNotices } from "../../nodes/lib/views/cameras";
import { jpegFrame } from "../support/clip-items";
import { FakeClock } from "../support/fake-clock";
import { S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, TestS3 } from "../support/s3";

const DAY = 86_400_000;

/** An uploaded item's checked files in `dir`, as the device listener hands them over. */
function upload(dir: string, device: string, start: number, bytes = 1000): { item: SpoolItem; media: string; thumb: string } {
  const media = Buffer.alloc(bytes, start % 251);
  const id = `clip-${start}`;
  const item: SpoolItem = {
    id, kind: "clip", device, start, end: start + 4000, durationMs: 4000, score: 9, media: `${id}.mjpeg`, format: "mjpeg",
    thumbnail: `${id}.thumb.jpg`, sha256: createHash("sha256").update(media).digest("hex"), bytes, frames: 40,
  };
  const mediaFile = path.join(dir, `${device}-${id}.media.tmp`);
  const thumbFile = path.join(dir, `${device}-${id}.thumb.jpg`);
  fs.writeFileSync(mediaFile, media);
  fs.writeFileSync(thumbFile, Buffer.alloc(100, 1));
  return { item, media: mediaFile, thumb: thumbFile };
}

async function accept(store: ClipStore, dir: string, device: string, start: number, bytes = 1000) {
  const u = upload(dir, device, start, bytes);
  return store.accept(u.item, u.media, u.thumb, 100);
}

async function bytesOf(files: ClipFiles, key: string, range?: { start: number; end: number }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await files.open(key, range)) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

describe("clip store", () => {
  let dir: string;
  let pool: SqlitePool;
  const clock = new FakeClock(Date.UTC(2026, 5, 10, 12));

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-clipstore-"));
    pool = new SqlitePool();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const localStore = () => new ClipStore({ dataDir: dir, pool, files: new LocalClipFiles(path.join(dir, "clips")), clock, retention: { maxAgeMs: 0, maxBytes: 0 } });

  it("records an item pending, then stored, once: a repeat changes nothing, other bytes under its id are refused", async () => {
    const store = localStore();
    const first = await accept(store, dir, "cam1", clock.now() - 1000);
    assert.equal(first.duplicate, false);
    assert.equal(first.record.status, "stored");
    assert.equal(first.record.storedAt, clock.now());
    const again = await accept(store, dir, "cam1", clock.now() - 1000);
    assert.equal(again.duplicate, true);
    assert.equal(store.list().length, 1);
    const other = upload(dir, "cam1", clock.now() - 1000, 999);
    assert.throws(() => store.isStored(other.item), ClipConflict);
    store.close();
  });

  it("lists by camera, kind and day, newest first (or oldest first)", async () => {
    const store = localStore();
    const day = dayRange("2026-06-10");
    await accept(store, dir, "cam1", day.from + 1000);
    await accept(store, dir, "cam2", day.from + 2000);
    await accept(store, dir, "cam1", day.from - 1000);
    assert.deepEqual(store.list({ device: "cam1", ...day }).map((r) => r.start), [day.from + 1000]);
    assert.deepEqual(store.list({ ...day }).map((r) => r.device), ["cam2", "cam1"]);
    assert.deepEqual(store.list({ order: "asc" }).map((r) => r.start), [day.from - 1000, day.from + 1000, day.from + 2000]);
    assert.deepEqual(store.list({ kind: "still" }), []);
    assert.deepEqual(store.devices(), ["cam1", "cam2"]);
    store.close();
  });

  it("retention removes the too old, then the oldest while over the size, records and files", async () => {
    const store = localStore();
    const now = clock.now();
    for (const [i, age] of [10, 5, 3, 2, 1].entries()) await accept(store, dir, "cam1", now - age * DAY + i);
    assert.equal(store.list().length, 5);
    const byAge = await store.prune({ maxAgeMs: 7 * DAY, maxBytes: 0 });
    assert.deepEqual(byAge.map((r) => r.start), [now - 10 * DAY]);
    assert.ok(!fs.existsSync(path.join(dir, "clips", "cam1", `clip-${now - 10 * DAY}.mjpeg`)), "its media went too");
    // 4 items of 1100 bytes: at most 2500 keeps the newest two
    const bySize = await store.prune({ maxAgeMs: 0, maxBytes: 2500 });
    assert.deepEqual(bySize.map((r) => r.start), [now - 5 * DAY + 1, now - 3 * DAY + 2]);
    assert.deepEqual(store.list({ order: "asc" }).map((r) => r.start), [now - 2 * DAY + 3, now - DAY + 4]);
    assert.equal(store.totalBytes(), 2200);
    // the clock moves on: the age limit takes the rest in turn
    clock.tick(6 * DAY + 1);
    assert.deepEqual((await store.prune({ maxAgeMs: 7 * DAY, maxBytes: 0 })).map((r) => r.start), [now - 2 * DAY + 3]);
    store.close();
  });

  it("keeps the bytes in S3 when a bucket is set (the S3-compatible test server), ranges and removal too", async function () {
    this.timeout(30_000);
    const s3 = await TestS3.start(["clips"]);
    try {
      const settings = { endpoint: s3.endpoint, region: "us-east-1", bucket: "clips", forcePathStyle: true, checksums: "when-required" as const, accessKeyId: S3_ACCESS_KEY_ID, secretAccessKey: S3_SECRET_ACCESS_KEY };
      const client = createClient(settings);
      const files = new S3ClipFiles({ s3: settings, client: () => client });
      const store = new ClipStore({ dataDir: dir, pool, files, clock, retention: { maxAgeMs: 0, maxBytes: 0 } });
      const { record } = await accept(store, dir, "cam1", clock.now() - 5000, 3000);
      assert.equal(record.location, "s3");
      assert.deepEqual(await s3.keys("clips"), [`clips/cam1/${record.id}.mjpeg`, `clips/cam1/${record.id}.thumb.jpg`]);
      const media = (await s3.get(`clips/cam1/${record.id}.mjpeg`, "clips")).body;
      assert.equal(createHash("sha256").update(media).digest("hex"), record.sha256);
      assert.deepEqual(await bytesOf(files, `cam1/${record.id}.mjpeg`, { start: 10, end: 19 }), media.subarray(10, 20));
      assert.equal((await store.readThumbnail(record)).length, 100);
      await store.prune({ maxAgeMs: 1000, maxBytes: 0 });
      assert.deepEqual(await s3.keys("clips"), []);
      store.close();
      client.destroy();
    } finally {
      await s3.close();
    }
  });
});

describe("clip pieces", () => {
  it("checks an item from the wire field by field", () => {
    const good = { id: "clip-1000", kind: "clip", device: "cam1", start: 1000, end: 2000, durationMs: 1000, score: 3.5, media: "clip-1000.mp4", format: "mp4", thumbnail: "clip-1000.thumb.jpg", sha256: "a".repeat(64), bytes: 10, frames: 10 };
    assert.equal(parseSpoolItem(good).id, "clip-1000");
    assert.throws(() => parseSpoolItem({ ...good, device: "../etc" }), /device/);
    assert.throws(() => parseSpoolItem({ ...good, format: "jpeg" }), /format/);
    assert.throws(() => parseSpoolItem({ ...good, id: "still-1000" }), /is not a clip's/);
    assert.throws(() => parseSpoolItem({ ...good, sha256: "x" }), /sha256/);
    assert.throws(() => parseSpoolItem({ ...good, end: 10 }), /end/);
  });

  it("splits MJPEG into its frames, whatever the chunks", async () => {
    const frames = [jpegFrame(10), jpegFrame(90), jpegFrame(250)];
    const all = Buffer.concat(frames);
    const chunks = [all.subarray(0, 7), all.subarray(7, 400), all.subarray(400)];
    const out: Buffer[] = [];
    for await (const f of mjpegFrames((async function* () { yield* chunks; })())) out.push(f);
    assert.deepEqual(out, frames);
  });

  it("reads one byte range as HTTP says", () => {
    assert.deepEqual(parseRange("bytes=0-99", 1000), { start: 0, end: 99 });
    assert.deepEqual(parseRange("bytes=900-", 1000), { start: 900, end: 999 });
    assert.deepEqual(parseRange("bytes=-100", 1000), { start: 900, end: 999 });
    assert.equal(parseRange("bytes=1000-", 1000), "unsatisfiable");
    assert.equal(parseRange(undefined, 1000), null);
  });
});

describe("motion notices (the hub flow's e-mail and Slack)", () => {
  const record = { id: "clip-1780000000000", kind: "clip", device: "frontcam", start: Date.UTC(2026, 4, 28, 20, 26, 40), end: 0, durationMs: 14_600, score: 8, format: "mp4", sha256: "", bytes: 1, frames: 146, status: "stored", storedAt: 1, location: "local" };
  const link = "https://fog.example/api/clips/frontcam/clip-1780000000000/play";

  it("says it as the original did", () => {
    assert.deepEqual(motionNoticeText(record, "frontcam", link), {
      subject: "Motion detected by frontcam",
      text: `A 15sec motion video was recorded by frontcam on 2026-05-28T20:26:40.000Z. Head over to ${link} to view the entire video.`,
    });
  });

  it("sends the e-mail with the thumbnail and the Slack message, unless the camera's settings turned them off", () => {
    const thumbnail = jpegFrame(100);
    const r = updateMotionNotices(undefined, { payload: record, link, thumbnail }, "owner@example.com");
    assert.equal(r.email?.subject, "Motion detected by frontcam");
    assert.match(String(r.email?.text), /^A 15sec motion video was recorded by frontcam on 2026-05-28T20:26:40.000Z\. Head over to https:\/\/fog\.example/);
    assert.deepEqual(r.email?.attachments, [{ filename: "clip-1780000000000.jpg", content: thumbnail, contentType: "image/jpeg" }]);
    assert.equal(r.slack?.payload, `*Motion detected by frontcam*\n${r.email?.text}`);
    const off = updateMotionNotices(r.state, { topic: "pifog/frontcam/camera/config", payload: { version: 3, notifications: false } });
    assert.deepEqual(off.state, { frontcam: false });
    const quiet = updateMotionNotices(off.state, { payload: record, link, thumbnail }, "owner@example.com");
    assert.equal(quiet.email, null);
    assert.equal(quiet.slack, null);
    assert.equal(updateMotionNotices(undefined, { payload: { ...record, kind: "still" }, link }).slack, null, "stills are no motion");
    assert.equal(updateMotionNotices(undefined, { payload: record, link }).email, null, "no address: no e-mail");
  });
});
