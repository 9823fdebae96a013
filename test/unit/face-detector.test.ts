// The face detector on the camera's fixture scenes: each visitor's face where it is, nothing in the empty scenes,
// on the stills themselves and on the frames the camera makes of them.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { PNG } from "pngjs";
import jpeg from "jpeg-js";
import { DEFAULT_FACE_OPTIONS, detectFaces, detectInImage, normaliseFaceOptions } from "../../nodes/lib/faces/face-detector";
import { ImageDecodeError, decodeImage, imageCodec, jsCodec, type Box } from "../../nodes/lib/faces/image";
import { CAMERA_PRESETS } from "../../nodes/lib/drivers/types";
import { encodeJpeg, resizeToFill } from "../../nodes/lib/image/image";

const SCENES = path.resolve(__dirname, "..", "..", "..", "nodes", "camera", "scenes");
const scene = (name: string) => fs.readFileSync(path.join(SCENES, name));
const sceneFiles = fs.readdirSync(SCENES).filter((f) => f.endsWith(".png")).sort();

/** Where each visitor's face is in its still (x0..x1, y0..y1), with room around it. */
const FACES: Record<string, { size: [number, number]; x: [number, number]; y: [number, number] }> = {
  "visitor-astronaut.png": { size: [512, 512], x: [140, 330], y: [20, 240] },
  "visitor-hopper.png": { size: [416, 488], x: [100, 330], y: [80, 310] },
};

function assertInside(box: Box, where: { x: [number, number]; y: [number, number] }): void {
  const { x, y, width, height } = box;
  const overlapW = Math.min(x + width, where.x[1]) - Math.max(x, where.x[0]);
  const overlapH = Math.min(y + height, where.y[1]) - Math.max(y, where.y[0]);
  assert.ok(overlapW > 0.8 * width && overlapH > 0.8 * height, `box ${JSON.stringify(box)}`);
  assert.ok(width >= 60 && width <= 250 && height >= 60 && height <= 250, `face-sized box ${JSON.stringify(box)}`);
}

/** A still as the camera sends it: scaled to fill the preset's frame, the middle kept, JPEG. */
const cameraFrame = (file: string, width: number, height: number) => {
  const still = decodeImage(scene(file));
  return encodeJpeg(resizeToFill({ ...still, data: Buffer.from(still.data) }, width, height));
};

describe("face detector", function () {
  this.timeout(60_000);

  it("decodes with sharp here (the pure-JS codec is only the fallback)", () => {
    assert.equal(imageCodec().name, "sharp");
  });

  it("has visitor and empty scenes, and knows where every visitor's face is", () => {
    assert.ok(sceneFiles.filter((f) => f.startsWith("empty-")).length >= 2, sceneFiles.join());
    assert.deepEqual(sceneFiles.filter((f) => f.startsWith("visitor-")), Object.keys(FACES).sort());
  });

  it("finds the astronaut's face in the upper middle of the still, with a grayscale PNG crop of the box", async () => {
    const result = await detectFaces(scene("visitor-astronaut.png"));
    assert.deepEqual(result.image, { width: 512, height: 512 });
    assert.equal(result.faces.length, 1);
    const [face] = result.faces;
    const { x, y, width, height } = face!.box;
    assert.ok(face!.score >= DEFAULT_FACE_OPTIONS.minConfidence, `score ${face!.score}`);
    assertInside(face!.box, FACES["visitor-astronaut.png"]!);

    const crop = PNG.sync.read(face!.crop);
    assert.equal(crop.width, width);
    assert.equal(crop.height, height);
    const header = face!.crop.subarray(16, 26); // IHDR: width, height, bit depth, colour type
    assert.equal(header[9], 0, "colour type 0 (grayscale)");
    // and the crop holds that part of the still: its mean luma matches the still's box
    const still = decodeImage(scene("visitor-astronaut.png"));
    let stillSum = 0;
    let cropSum = 0;
    for (let row = 0; row < height; row++) {
      for (let col = 0; col < width; col++) {
        const s = ((y + row) * still.width + x + col) * 4;
        stillSum += 0.299 * still.data[s]! + 0.587 * still.data[s + 1]! + 0.114 * still.data[s + 2]!;
        cropSum += crop.data[(row * width + col) * 4]!;
      }
    }
    assert.ok(Math.abs(stillSum - cropSum) / (width * height) < 1, "crop luma matches the still");
  });

  it("finds Grace Hopper's face under her cap, and only hers", async () => {
    const result = await detectFaces(scene("visitor-hopper.png"));
    assert.deepEqual(result.image, { width: 416, height: 488 });
    assert.equal(result.faces.length, 1);
    assertInside(result.faces[0]!.box, FACES["visitor-hopper.png"]!);
  });

  for (const empty of sceneFiles.filter((f) => f.startsWith("empty-"))) {
    it(`finds no face in ${empty}`, async () => {
      const result = await detectFaces(scene(empty));
      assert.deepEqual(result.faces.map((f) => f.box), []);
    });
  }

  for (const [preset, { width, height }] of Object.entries(CAMERA_PRESETS)) {
    it(`finds one face in each visitor scene and none in the empty ones as the camera frames them (${preset}, ${width}×${height} JPEG)`, async () => {
      const found: Record<string, number> = {};
      for (const file of sceneFiles) {
        const result = await detectFaces(cameraFrame(file, width, height));
        assert.deepEqual(result.image, { width, height });
        found[file] = result.faces.length;
      }
      const expected = Object.fromEntries(sceneFiles.map((f) => [f, f.startsWith("visitor-") ? 1 : 0]));
      assert.deepEqual(found, expected);
    });
  }

  it("reads JPEG stills too and crops as JPEG when asked", async () => {
    const still = decodeImage(scene("visitor-astronaut.png"));
    const asJpeg = jpeg.encode({ data: Buffer.from(still.data), width: still.width, height: still.height }, 90).data;
    const result = await detectFaces(asJpeg, normaliseFaceOptions({ crop: "jpeg" }));
    assert.equal(result.faces.length, 1);
    const crop = jpeg.decode(result.faces[0]!.crop);
    assert.equal(crop.width, result.faces[0]!.box.width);
    assert.equal(crop.height, result.faces[0]!.box.height);
  });

  it("detects on decoded pixels too (detectInImage), at the same place", async () => {
    const fromBytes = await detectFaces(scene("visitor-hopper.png"));
    const fromPixels = await detectInImage(decodeImage(scene("visitor-hopper.png")), DEFAULT_FACE_OPTIONS);
    assert.deepEqual(fromPixels.faces.map((f) => f.box), fromBytes.faces.map((f) => f.box));
  });

  it("without sharp, the pure-JS codec reads the same pixels and writes the same PNG crops", async () => {
    const bytes = scene("visitor-hopper.png");
    const [a, b] = [await imageCodec().read(bytes), await jsCodec.read(bytes)];
    assert.deepEqual([b.width, b.height], [a.width, a.height]);
    for (let i = 0, j = 0; i < a.data.length; i += a.channels, j += b.channels) {
      if (a.data[i] !== b.data[j] || a.data[i + 1] !== b.data[j + 1] || a.data[i + 2] !== b.data[j + 2]) assert.fail(`pixel ${i / 3} differs`);
    }
    const box = { x: 120, y: 120, width: 180, height: 160 };
    assert.deepEqual(await jsCodec.crop(b, box, "png", 90), await imageCodec().crop(a, box, "png", 90));
    const jpegCrop = jpeg.decode(await jsCodec.crop(b, box, "jpeg", 90));
    assert.deepEqual([jpegCrop.width, jpegCrop.height], [180, 160]);
  });

  it("rejects bytes that are not an image, a truncated PNG and a truncated JPEG", async () => {
    await assert.rejects(detectFaces(Buffer.from("not a picture")), ImageDecodeError);
    await assert.rejects(detectFaces(scene("visitor-astronaut.png").subarray(0, 200)), ImageDecodeError);
    const frame = cameraFrame("visitor-astronaut.png", 640, 480);
    await assert.rejects(detectFaces(frame.subarray(0, frame.length >> 1)), /JPEG image could not be decoded/);
  });

  it("refuses options out of range", () => {
    assert.throws(() => normaliseFaceOptions({ minConfidence: 1.5 }), /0\.\.1/);
    assert.throws(() => normaliseFaceOptions({ inputSize: 300 }), /input size/);
    assert.throws(() => normaliseFaceOptions({ model: "haar" as never }), /tiny or ssd/);
  });
});
