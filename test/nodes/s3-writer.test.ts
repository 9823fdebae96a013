import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import jpeg from "jpeg-js";
import s3Bucket from "../../nodes/s3-bucket/s3-bucket";
import s3Writer from "../../nodes/s3-writer/s3-writer";
import { metadataOf, renderKey, sniffContentType, withSequence } from "../../nodes/lib/s3/object";
import { advance, advanceUntil } from "../support/clock-pump";
import { FakeClock } from "../support/fake-clock";
import { helper } from "../support/node-harness";
import { S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, TestS3 } from "../support/s3";
import { until } from "../support/until";
import { testServices } from "../support/services";

const nodes = [s3Bucket, s3Writer];
type Status = { fill?: string; text?: string };
type Stored = { bucket: string; key: string; etag: string; size: number; contentType: string };
type Emitter = NodeJS.EventEmitter & { receive(msg: unknown): void };


/** A real grayscale PNG (as face-detect's crops), with random pixels so every byte value occurs. */
function aPng(width = 48, height = 48): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf: Buffer) => {
    let c = 0xffffffff;
    for (const b of buf) c = (crcTable[(c ^ b) & 0xff] as number) ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit grayscale
  const rows = Buffer.concat(Array.from({ length: height }, () => Buffer.concat([Buffer.from([0]), crypto.randomBytes(width)])));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", zlib.deflateSync(rows)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

const PNG = aPng();

function aJpeg(): Buffer {
  const width = 32;
  const height = 24;
  const data = crypto.randomBytes(width * height * 4);
  return Buffer.from(jpeg.encode({ data, width, height }, 80).data);
}

describe("s3-writer node (against s3rver)", function () {
  let s3: TestS3;
  let dataDir: string;
  let stored: Stored[];
  let statuses: Status[];
  let errors: string[];

  function flow(bucket = "faces", extra: Record<string, unknown> = {}) {
    return [
      { id: "bkt", type: "s3-bucket", endpoint: s3.endpoint, region: "us-east-1", bucket, forcePathStyle: true, checksums: "when-required" },
      { id: "w", type: "s3-writer", z: "tab", bucket: "bkt", device: "frontdoor", wires: [["out"]], ...extra },
      { id: "out", type: "helper", z: "tab" },
      { id: "tab", type: "tab" },
    ];
  }

  async function load(bucket = "faces", credentials = { accessKeyId: S3_ACCESS_KEY_ID, secretAccessKey: S3_SECRET_ACCESS_KEY }, extra = {}) {
    await helper.load(nodes, flow(bucket, extra) as Parameters<typeof helper.load>[1], { bkt: credentials });
    (helper.getNode("out") as unknown as Emitter).on("input", (msg: { payload: Stored }) => stored.push(msg.payload));
    const w = helper.getNode("w") as unknown as Emitter;
    w.on("call:status", (call: { args: [Status] }) => statuses.push(call.args[0]));
    w.on("call:error", (call: { args: [unknown] }) => errors.push(String(call.args[0])));
    return w;
  }

  function queued(): number {
    return (helper.getNode("w") as unknown as { outbox: { size: number } | null }).outbox?.size ?? -1;
  }

  /** Puts the node's retries on a FakeClock (before `load`); time moves only while no upload is in flight. */
  function fakeTime() {
    const clock = new FakeClock(Date.now());
    helper.settings({ pifogServices: testServices({ dataDir, clock, tuning: { s3PermanentRetryMs: 200, s3BackoffMaxMs: 500 } }) });
    const queue = () =>
      (helper.getNode("w") as unknown as { outbox: { snapshot(): { delivering: boolean; failures: number } } | null } | null)?.outbox?.snapshot();
    const pump = { stepMs: 10, busy: () => queue()?.delivering ?? false, timeoutMs: 30_000 };
    return {
      /** Lets the node's time pass until `test` holds. */
      until: (test: () => boolean, what: string) => advanceUntil(clock, test, what, pump),
      /** Lets `ms` of the node's time pass. */
      later: (ms: number) => advance(clock, ms, pump),
      /** Failed attempts in a row. */
      failures: () => queue()?.failures ?? 0,
    };
  }

  beforeEach(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-s3w-"));
    helper.settings({ pifogServices: testServices({ dataDir, tuning: { s3PermanentRetryMs: 200, s3BackoffMaxMs: 500 } }) });
    s3 = await TestS3.start(["faces"]);
    stored = [];
    statuses = [];
    errors = [];
  });
  afterEach(async () => {
    await helper.unload();
    await s3.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("stores a PNG and a JPEG byte for byte under the template's key, with content type and metadata", async () => {
    const w = await load();
    const jpg = aJpeg();
    const at = Date.UTC(2026, 10, 22, 19, 30, 12, 345);
    w.receive({ payload: PNG, timestamp: at, device: "cam/1", metadata: { Camera: "door", score: 0.93 }, face: { box: { x: 10.4, y: 20, width: 64, height: 80 }, score: 0.9876 } });
    w.receive({ payload: jpg, timestamp: new Date(at).toISOString() });
    await until(() => stored.length === 2, "two stored objects");

    const [a, b] = stored as [Stored, Stored];
    assert.match(a.key, /^faces\/cam_1\/2026\/11\/22\/193012-345-\d+\.png$/, "the default template, device made safe");
    assert.match(b.key, /^faces\/frontdoor\/2026\/11\/22\/193012-345-\d+\.png$/, "the node's device when msg.device is absent");
    assert.notEqual(a.key, b.key, "<n> keeps keys of the same millisecond apart");
    assert.equal(a.bucket, "faces");
    assert.equal(a.size, PNG.length);
    assert.ok(a.etag.length > 0);

    const gotPng = await s3.get(a.key);
    assert.ok(gotPng.body.equals(PNG), "the PNG comes back byte for byte");
    assert.equal(gotPng.contentType, "image/png");
    assert.deepEqual(gotPng.metadata, { camera: "door", score: "0.93", "face-box": "10,20,64,80", "face-score": "0.988" });
    const gotJpg = await s3.get(b.key);
    assert.ok(gotJpg.body.equals(jpg), "the JPEG comes back byte for byte");
    assert.equal(gotJpg.contentType, "image/jpeg");
    assert.equal(queued(), 0, "nothing left in the spool");
  });

  it("uses a custom template with <ext> and msg.contentType", async () => {
    const w = await load("faces", undefined, { keyTemplate: "snaps/<device>/<yyyy><mm><dd>-<hh>/<n>.<ext>" });
    w.receive({ payload: aJpeg(), timestamp: Date.UTC(2025, 0, 2, 3, 4, 5) });
    w.receive({ payload: Buffer.from("hello"), contentType: "text/plain", timestamp: Date.UTC(2025, 0, 2, 3, 4, 5) });
    await until(() => stored.length === 2, "two stored objects");
    assert.match(stored[0]!.key, /^snaps\/frontdoor\/20250102-03\/\d+\.jpg$/);
    assert.match(stored[1]!.key, /^snaps\/frontdoor\/20250102-03\/\d+\.bin$/);
    assert.equal((await s3.get(stored[1]!.key)).contentType, "text/plain");
  });

  it("delivers all 20 of a burst, none twice, when the server stops during it and comes back on the same port", async () => {
    const time = fakeTime();
    const w = await load();
    const sent: Buffer[] = [];
    for (let i = 0; i < 20; i++) {
      const body = Buffer.concat([PNG.subarray(0, 8), crypto.randomBytes(512)]);
      sent.push(body);
      w.receive({ payload: body, metadata: { i } });
      if (i === 5) {
        await time.until(() => stored.length >= 1, "a first object stored");
        await s3.stop();
      }
    }
    await time.until(() => queued() > 0 && statuses.some((s) => s.fill === "yellow"), "the outage shown");
    assert.equal(stored.length < 20, true);
    await time.until(() => time.failures() >= 3, "three failed attempts");
    await s3.resume();
    await time.until(() => stored.length >= 20 && queued() === 0, "all 20 stored");
    await time.later(5000); // ten times the longest backoff: anything more would be a duplicate
    assert.equal(stored.length, 20, "each object reported once");
    const keys = await s3.keys();
    assert.equal(keys.length, 20, "20 objects in the bucket, none twice");
    const bodies = await Promise.all(keys.map((k) => s3.get(k)));
    const got = new Set(bodies.map((o) => o.body.toString("hex")));
    for (const body of sent) assert.ok(got.has(body.toString("hex")), "every object arrived intact");
  });

  it("delivers what was queued before a restart of the node", async () => {
    await s3.stop();
    let w = await load();
    const bodies = [aJpeg(), aJpeg(), aJpeg()];
    for (const body of bodies) w.receive({ payload: body });
    await until(() => queued() === 3, "three queued");
    await helper.unload();
    await s3.resume();
    w = await load();
    await until(() => stored.length === 3 && queued() === 0, "the queued three stored after the restart");
    const got = await Promise.all((await s3.keys()).map((k) => s3.get(k)));
    assert.deepEqual(
      got.map((o) => o.body.toString("hex")).sort(),
      bodies.map((b) => b.toString("hex")).sort(),
    );
    assert.ok(w);
  });

  it("a missing bucket: red status and one error, nothing lost, delivered once the bucket exists", async () => {
    const time = fakeTime();
    const w = await load("later");
    for (let i = 0; i < 3; i++) w.receive({ payload: aJpeg() });
    await time.until(() => statuses.some((s) => s.fill === "red" && /NoSuchBucket/.test(s.text ?? "")), "a red NoSuchBucket status");
    await time.until(() => time.failures() >= 4, "three slow retries more");
    assert.equal(errors.length, 1, "the error is logged once, not per retry");
    assert.equal(queued(), 3, "nothing dropped");
    await s3.createBucket("later");
    await time.until(() => stored.length === 3 && queued() === 0, "delivered after the bucket was created");
    assert.equal((await s3.keys("later")).length, 3);
    assert.equal(statuses.at(-1)?.fill, "green");
  });

  it("wrong credentials (an unknown access key id; s3rver does not check the secret): red, kept, delivered after the fix", async () => {
    const time = fakeTime();
    let w = await load("faces", { accessKeyId: "NOT-A-KEY", secretAccessKey: "nope" });
    w.receive({ payload: PNG });
    w.receive({ payload: aJpeg() });
    await time.until(() => statuses.some((s) => s.fill === "red" && /InvalidAccessKeyId/.test(s.text ?? "")), "a red status");
    await time.until(() => time.failures() >= 3, "two retries more");
    assert.equal(errors.length, 1, "the error is logged once");
    assert.equal(queued(), 2, "nothing dropped");
    await helper.unload(); // redeploy with the right credentials
    w = await load();
    await time.until(() => stored.length === 2 && queued() === 0, "delivered with the right credentials");
    assert.ok((await s3.get(stored[0]!.key)).body.equals(PNG));
    assert.ok(w);
  });

  it("a payload that is not bytes fails the message (Catch sees it), nothing queued", async () => {
    const w = await load();
    const failed = new Promise<unknown>((resolve) => w.once("call:error", resolve));
    w.receive({ payload: { not: "bytes" } });
    await failed;
    assert.equal(queued(), 0);
  });

  it("uploads a body above the multipart threshold with lib-storage", async () => {
    helper.settings({ pifogServices: testServices({ dataDir, tuning: { s3PermanentRetryMs: 200, s3BackoffMaxMs: 500, s3MultipartAbove: 1024 } }) });
    const w = await load();
    const big = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), crypto.randomBytes(6 * 1024 * 1024)]);
    w.receive({ payload: big });
    await until(() => stored.length === 1, "the big object stored", 30_000);
    const got = await s3.get(stored[0]!.key);
    assert.ok(got.body.equals(big), "the multipart object round-trips");
    assert.equal(got.contentType, "image/jpeg");
  });
});

describe("s3 object helpers", () => {
  it("renders the key template in UTC and fills <n> later", () => {
    const key = renderKey("faces/<device>/<yyyy>/<mm>/<dd>/<time>-<n>.<ext>", {
      device: "../x",
      timestamp: Date.UTC(2024, 1, 29, 23, 59, 58, 7),
      contentType: "image/png",
    });
    assert.equal(key, "faces/.._x/2024/02/29/235958-007-<n>.png");
    assert.equal(withSequence(key, 42), "faces/.._x/2024/02/29/235958-007-42.png");
  });
  it("tells PNG and JPEG apart by their magic bytes", () => {
    assert.equal(sniffContentType(PNG), "image/png");
    assert.equal(sniffContentType(aJpeg()), "image/jpeg");
    assert.equal(sniffContentType(Buffer.from("GIF89a")), undefined);
  });
  it("makes metadata header-safe", () => {
    assert.deepEqual(metadataOf({ "Who Is": "Zoë", n: 1, skip: null }, { x: 1, y: 2, width: 3, height: 4, score: 0.5 }), {
      "who-is": "Zo%C3%AB",
      n: "1",
      "face-box": "1,2,3,4",
      "face-score": "0.500",
    });
  });
});
