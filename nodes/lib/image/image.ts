// Small, dependency-light image helpers for the camera: PNG in, RGBA resized to fill a frame, JPEG out,
// and the size a JPEG says it is (read from its frame header, without decoding it).
import * as jpeg from "jpeg-js";
import { pngCodec } from "./png-codec";

/** 8-bit RGBA pixels, row by row. */
export interface Rgba {
  width: number;
  height: number;
  data: Buffer;
}

export function decodePng(png: Buffer): Rgba {
  const image = pngCodec().sync.read(png);
  return { width: image.width, height: image.height, data: image.data };
}

/**
 * Scales `src` bilinearly to exactly `width`×`height`, cropping the middle of whichever side is too long
 * (a camera fills its frame; nothing is stretched and there are no bars).
 */
export function resizeToFill(src: Rgba, width: number, height: number): Rgba {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`cannot resize to ${width}×${height}`);
  }
  const scale = Math.max(width / src.width, height / src.height);
  const offsetX = (src.width - width / scale) / 2;
  const offsetY = (src.height - height / scale) / 2;
  const out = Buffer.alloc(width * height * 4);
  const sd = src.data;
  const maxX = src.width - 1;
  const maxY = src.height - 1;
  for (let y = 0; y < height; y++) {
    const sy = Math.min(maxY, Math.max(0, offsetY + (y + 0.5) / scale - 0.5));
    const y0 = Math.floor(sy);
    const y1 = Math.min(maxY, y0 + 1);
    const fy = sy - y0;
    for (let x = 0; x < width; x++) {
      const sx = Math.min(maxX, Math.max(0, offsetX + (x + 0.5) / scale - 0.5));
      const x0 = Math.floor(sx);
      const x1 = Math.min(maxX, x0 + 1);
      const fx = sx - x0;
      const a = (y0 * src.width + x0) * 4;
      const b = (y0 * src.width + x1) * 4;
      const c = (y1 * src.width + x0) * 4;
      const d = (y1 * src.width + x1) * 4;
      const o = (y * width + x) * 4;
      for (let k = 0; k < 4; k++) {
        const top = sd[a + k]! + (sd[b + k]! - sd[a + k]!) * fx;
        const bottom = sd[c + k]! + (sd[d + k]! - sd[c + k]!) * fx;
        out[o + k] = Math.round(top + (bottom - top) * fy);
      }
    }
  }
  return { width, height, data: out };
}

export function encodeJpeg(image: Rgba, quality = 85): Buffer {
  return jpeg.encode({ width: image.width, height: image.height, data: image.data }, quality).data;
}

export function isJpeg(data: Buffer): boolean {
  return data.length > 4 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff;
}

/** Width and height from a JPEG's first frame header (SOF0..SOF15 but DHT, JPG and DAC), or null. */
export function jpegSize(data: Buffer): { width: number; height: number } | null {
  if (!isJpeg(data)) return null;
  let i = 2;
  while (i + 9 < data.length) {
    if (data[i] !== 0xff) return null;
    const marker = data[i + 1]!;
    if (marker === 0xff) {
      i++;
      continue;
    }
    const length = data.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: data.readUInt16BE(i + 5), width: data.readUInt16BE(i + 7) };
    }
    i += 2 + length;
  }
  return null;
}
