// A JPEG encoder to keep: jpeg-js's `encode()` builds a new encoder for every image, and building one (its Huffman,
// category and colour tables, about 65 000 entries each) costs 50..150 ms, many times what encoding a small frame
// costs. A stream encodes frame after frame, so it keeps one of these and reuses its tables.
//
// Its output too: jpeg-js collects an image's bytes in a JS array, one push a byte, a new one every image: for a
// 640×480 frame about a megabyte of arrays (8 bytes an element) in V8's large-object space, ten times a second, which
// the old generation keeps until a full collection: a camera Pi's heap grew by tens of megabytes. The kept encoder
// writes into one byte array that grows when it must, and builds its 65,534-entry bit-code table as typed arrays
// (the same bytes out; where a pattern below does not fit, jpeg-js as it is).
import { readFileSync } from "node:fs";
import * as jpeg from "jpeg-js";
import type { Rgba } from "./image";

interface JsEncoder {
  encode(image: { data: Uint8Array; width: number; height: number }, quality: number): Buffer;
}
type JsEncoderClass = new (quality: number) => JsEncoder;

/** Patches of jpeg-js's source (see above): [pattern, replacement, how many times it must be found]. */
const PATCHES: ReadonlyArray<[RegExp, string, number]> = [
  // the bytes of an image: one Uint8Array, kept and grown
  [/var byteout = \[\];/g, "var byteout = new Uint8Array(65536); var byteCount = 0;", 1],
  [/byteout\.push\(value\);/g, "if (byteCount === byteout.length) { var grown = new Uint8Array(byteout.length * 2); grown.set(byteout); byteout = grown; } byteout[byteCount++] = value;", 1],
  [/byteout = new Array\(\);/g, "byteCount = 0;", 1],
  [/return Buffer\.from\(byteout\);/g, "return Buffer.from(byteout.subarray(0, byteCount));", 1],
  // its bit-code table: 65,534 two-element arrays (about 13 MB of heap) → two typed arrays, and the pairs the
  // images need made when first used (a few hundred)
  [/var bitcode = new Array\(65535\);/g, "var bitcode = new Array(65535); var bitValue = new Int32Array(65535); var bitLength = new Int32Array(65535);", 1],
  [/bitcode\[32767\+nr\] = \[\];\s*bitcode\[32767\+nr\]\[1\] = cat;\s*bitcode\[32767\+nr\]\[0\] = nr;/g, "bitValue[32767+nr] = nr; bitLength[32767+nr] = cat;", 1],
  [
    /bitcode\[32767\+nrneg\] = \[\];\s*bitcode\[32767\+nrneg\]\[1\] = cat;\s*bitcode\[32767\+nrneg\]\[0\] = nrupper-1\+nrneg;/g,
    "bitValue[32767+nrneg] = nrupper-1+nrneg; bitLength[32767+nrneg] = cat;",
    1,
  ],
  [/writeBits\(bitcode\[pos\]\);/g, "writeBits(bitcode[pos] || (bitcode[pos] = [bitValue[pos], bitLength[pos]]));", 2],
];

/** Whether every patch fits the installed jpeg-js (a test holds this true, so an upgrade that moves them is seen). */
export function jpegJsPatchesFit(): boolean {
  const source = readFileSync(require.resolve("jpeg-js/lib/encoder.js"), "utf8");
  return patched(source) !== source;
}

/** The source with PATCHES applied, or as it is when one does not fit (another jpeg-js version). */
function patched(source: string): string {
  let out = source;
  for (const [pattern, replacement, times] of PATCHES) {
    if ((source.match(pattern) ?? []).length !== times) return source;
    out = out.replace(pattern, replacement);
  }
  return out;
}

/** jpeg-js's encoder class: its module exports only `encode`, so the class is taken from its source (null if not). */
function encoderClass(): JsEncoderClass | null {
  try {
    const source = patched(readFileSync(require.resolve("jpeg-js/lib/encoder.js"), "utf8"));
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    const make = new Function("module", "require", `${source}\n;return JPEGEncoder;`) as (m: object, r: NodeJS.Require) => unknown;
    const cls = make({ exports: {} }, require);
    return typeof cls === "function" ? (cls as JsEncoderClass) : null;
  } catch {
    return null;
  }
}

export class JpegEncoder {
  private readonly encoder: JsEncoder | null;

  constructor(private readonly quality: number) {
    const cls = encoderClass();
    this.encoder = cls ? new cls(quality) : null;
  }

  /** RGBA in, a baseline JPEG out (the same bytes jpeg-js's `encode()` gives). */
  encode(image: Rgba): Buffer {
    if (!this.encoder) return jpeg.encode({ data: image.data, width: image.width, height: image.height }, this.quality).data;
    return this.encoder.encode({ data: image.data, width: image.width, height: image.height }, this.quality);
  }
}
