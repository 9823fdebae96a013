// pngjs, loaded when a PNG is first read or written: most roles never do, and a Pi Zero's memory is small.
import type { PNG } from "pngjs";

export type PngCodec = typeof PNG;

export function pngCodec(): PngCodec {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require("pngjs") as { PNG: PngCodec }).PNG;
}
