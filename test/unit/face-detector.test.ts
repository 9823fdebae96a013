// The face detector on the camera's fixture scenes: the visitor's face where it is, nothing in the empty scenes.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { PNG } from "pngjs";
import jpeg from "jpeg-js";
import { DEFAULT_FACE_OPTIONS, detectFaces, normaliseFaceOptions } from "../../nodes/lib/faces/face-detector";
import { ImageDecodeError, decodeImage } from "../../nodes/lib/faces/image";

const SCENES = path.resolve(__dirname, "..", "..", "..", "nodes", "camera", "scenes");
const scene = (name: string) => fs.readFileSync(path.join(SCENES, name));

describe("face detector", function () {
  this.timeout(60_000);

  it("finds the astronaut's face in the upper middle of the still, with a grayscale PNG crop of the box", async () => {
    const result = await detectFaces(scene("visitor-astronaut.png"));
    assert.deepEqual(result.image, { width: 512, height: 512 });
    assert.equal(result.faces.length, 1);
    const [face] = result.faces;
    const { x, y, width, height } = face!.box;
    assert.ok(face!.score >= DEFAULT_FACE_OPTIONS.minConfidence, `score ${face!.score}`);
    // the face lies in x 140..330, y 20..240; the box must sit mostly inside and be face-sized
    const overlapW = Math.min(x + width, 330) - Math.max(x, 140);
    const overlapH = Math.min(y + height, 240) - Math.max(y, 20);
    assert.ok(overlapW > 0.8 * width && overlapH > 0.8 * height, `box ${JSON.stringify(face!.box)}`);
    assert.ok(width >= 60 && width <= 200 && height >= 60 && height <= 220, `box ${JSON.stringify(face!.box)}`);

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

  for (const empty of ["empty-cat.png", "empty-coffee.png"]) {
    it(`finds no face in ${empty}`, async () => {
      const result = await detectFaces(scene(empty));
      assert.deepEqual(result.faces.map((f) => f.box), []);
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

  it("rejects bytes that are not an image, and a truncated PNG", async () => {
    await assert.rejects(detectFaces(Buffer.from("not a picture")), ImageDecodeError);
    await assert.rejects(detectFaces(scene("visitor-astronaut.png").subarray(0, 200)), ImageDecodeError);
  });

  it("refuses options out of range", () => {
    assert.throws(() => normaliseFaceOptions({ minConfidence: 1.5 }), /0\.\.1/);
    assert.throws(() => normaliseFaceOptions({ inputSize: 300 }), /input size/);
    assert.throws(() => normaliseFaceOptions({ model: "haar" as never }), /tiny or ssd/);
  });
});
