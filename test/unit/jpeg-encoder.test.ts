// The kept JPEG encoder (the simulated camera's): the very bytes jpeg-js's own encode() gives, frame after frame,
// small and large (its byte array grows past its first 64 KiB), so the stream's frames are what they always were.
import assert from "node:assert/strict";
import * as jpeg from "jpeg-js";
import { JpegEncoder, jpegJsPatchesFit } from "../../nodes/lib/image/jpeg-encoder";

function image(width: number, height: number, seed: number): { data: Buffer; width: number; height: number } {
  const data = Buffer.alloc(width * height * 4);
  let x = seed;
  for (let i = 0; i < data.length; i++) {
    // noise (a large JPEG) over a gradient
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = i % 4 === 3 ? 255 : (((i >> 2) % width) + (x >>> 26)) & 255;
  }
  return { data, width, height };
}

describe("the kept JPEG encoder", () => {
  it("fits the installed jpeg-js (its byte array and bit-code table patched: a camera's heap about 14 MB smaller)", () => {
    assert.equal(jpegJsPatchesFit(), true, "a pattern of jpeg-encoder.ts's PATCHES no longer fits jpeg-js/lib/encoder.js");
  });

  it("gives jpeg-js's own bytes for image after image, small and large", () => {
    const encoder = new JpegEncoder(75);
    for (const [w, h, seed] of [[16, 16, 1], [640, 480, 2], [32, 8, 3], [640, 480, 4], [320, 240, 5]] as const) {
      const rgba = image(w, h, seed);
      const ours = encoder.encode(rgba);
      const theirs = jpeg.encode(rgba, 75).data;
      assert.ok(ours.equals(theirs), `${w}×${h}: ${ours.length} bytes vs jpeg-js's ${theirs.length}`);
      assert.ok(ours.length > 0 && ours[0] === 0xff && ours[1] === 0xd8);
    }
    assert.ok(jpeg.encode(image(640, 480, 2), 75).data.length > 65536, "the large frames pass the first 64 KiB of the byte array");
  });

  it("hands out a buffer of its own each time (a later frame does not change an earlier one)", () => {
    const encoder = new JpegEncoder(75);
    const first = encoder.encode(image(64, 64, 7));
    const copy = Buffer.from(first);
    encoder.encode(image(640, 480, 8));
    assert.ok(first.equals(copy));
  });
});
