// A JPEG encoder to keep: jpeg-js's `encode()` builds a new encoder for every image, and building one (its Huffman,
// category and colour tables, about 65 000 entries each) costs 50..150 ms, many times what encoding a small frame
// costs. A stream encodes frame after frame, so it keeps one of these and reuses its tables.
import { readFileSync } from "node:fs";
import * as jpeg from "jpeg-js";
import type { Rgba } from "./image";

interface JsEncoder {
  encode(image: { data: Uint8Array; width: number; height: number }, quality: number): Buffer;
}
type JsEncoderClass = new (quality: number) => JsEncoder;

/** jpeg-js's encoder class: its module exports only `encode`, so the class is taken from its source (null if not). */
function encoderClass(): JsEncoderClass | null {
  try {
    const source = readFileSync(require.resolve("jpeg-js/lib/encoder.js"), "utf8");
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
