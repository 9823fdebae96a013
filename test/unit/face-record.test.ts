import assert from "node:assert/strict";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { readFaceRecord, withFaceRecord, type FaceRecord } from "../../nodes/lib/face-record";

function grayPng(width: number, height: number): Buffer {
  const png = new PNG({ width, height, colorType: 0, inputColorType: 0, inputHasAlpha: false });
  const data = Buffer.alloc(width * height);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 256;
  png.data = data;
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false });
}

function smallJpeg(width: number, height: number): Buffer {
  const data = Buffer.alloc(width * height * 4, 128);
  return jpeg.encode({ data, width, height }, 90).data;
}

const record: FaceRecord = {
  device: "camerapi",
  takenAt: "2026-11-22T10:00:00.000Z",
  box: { x: 180, y: 60, width: 90, height: 110 },
  score: 0.87,
  index: 0,
  count: 1,
};

describe("face record: box and score inside the crop's bytes", () => {
  it("writes the record into a PNG that still decodes to the same pixels, and reads it back", () => {
    const crop = grayPng(20, 10);
    const tagged = withFaceRecord(crop, record);
    assert.deepEqual(readFaceRecord(tagged), record);
    const before = PNG.sync.read(crop);
    const after = PNG.sync.read(tagged);
    assert.equal(after.width, 20);
    assert.ok(after.data.equals(before.data), "the pixels are untouched");
  });

  it("writes the record into a JPEG as a comment that decoders skip", () => {
    const crop = smallJpeg(16, 16);
    const tagged = withFaceRecord(crop, record);
    assert.deepEqual(readFaceRecord(tagged), record);
    const decoded = jpeg.decode(tagged);
    assert.equal(decoded.width, 16);
    assert.deepEqual(decoded.data, jpeg.decode(crop).data);
  });

  it("reads null from crops without a record, from other bytes and from broken records", () => {
    assert.equal(readFaceRecord(grayPng(4, 4)), null);
    assert.equal(readFaceRecord(smallJpeg(8, 8)), null);
    assert.equal(readFaceRecord(Buffer.from("not an image")), null);
    assert.equal(readFaceRecord(Buffer.alloc(0)), null);
    const broken = withFaceRecord(grayPng(4, 4), { ...record, score: "high" as unknown as number });
    assert.equal(readFaceRecord(broken), null);
    const truncated = withFaceRecord(grayPng(4, 4), record).subarray(0, 40);
    assert.equal(readFaceRecord(truncated), null);
  });

  it("leaves bytes that are neither PNG nor JPEG as they are", () => {
    const bytes = Buffer.from("GIF89a……");
    assert.equal(withFaceRecord(bytes, record), bytes);
  });
});
