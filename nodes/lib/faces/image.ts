// Still images in and out of the face detector: JPEG/PNG Buffers to RGBA pixels, and face crops back to
// grayscale PNG (as PiFog's CameraPi sent them) or JPEG. Pure JS (jpeg-js, pngjs).
import jpeg from "jpeg-js";
import { PNG } from "pngjs";

export interface RgbaImage {
  width: number;
  height: number;
  /** width × height × 4 bytes, RGBA. */
  data: Uint8Array;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export type CropFormat = "png" | "jpeg";

/** Large enough for a 1900×1200 high-res still several times over, small enough to refuse a bomb. */
const MAX_MEMORY_MB = 512;

export class ImageDecodeError extends Error {}

export function imageKind(bytes: Buffer): "png" | "jpeg" | null {
  if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.readUInt32BE(4) === 0x0d0a1a0a) return "png";
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "jpeg";
  return null;
}

export function decodeImage(bytes: Buffer): RgbaImage {
  const kind = imageKind(bytes);
  if (!kind) throw new ImageDecodeError("the payload is not a JPEG or PNG image");
  try {
    if (kind === "png") {
      const png = PNG.sync.read(bytes);
      return { width: png.width, height: png.height, data: png.data };
    }
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: MAX_MEMORY_MB });
    return { width: img.width, height: img.height, data: img.data };
  } catch (err) {
    throw new ImageDecodeError(`the ${kind.toUpperCase()} image could not be decoded: ${(err as Error).message}`);
  }
}

/** The RGB values as int32, row-major (the layout tf.tensor3d wants for [height, width, 3]). */
export function rgbValues(image: RgbaImage): Int32Array {
  const out = new Int32Array(image.width * image.height * 3);
  const d = image.data;
  for (let i = 0, j = 0; i < d.length; i += 4) {
    out[j++] = d[i]!;
    out[j++] = d[i + 1]!;
    out[j++] = d[i + 2]!;
  }
  return out;
}

/** A box rounded to whole pixels and clipped to the image (null when nothing of it is inside). */
export function clipBox(box: Box, width: number, height: number): Box | null {
  const x0 = Math.max(0, Math.floor(box.x));
  const y0 = Math.max(0, Math.floor(box.y));
  const x1 = Math.min(width, Math.ceil(box.x + box.width));
  const y1 = Math.min(height, Math.ceil(box.y + box.height));
  if (x1 <= x0 || y1 <= y0) return null;
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** The box's pixels as an encoded grayscale image (ITU-R BT.601 luma). */
export function encodeCrop(image: RgbaImage, box: Box, format: CropFormat, jpegQuality = 90): Buffer {
  const rgba = Buffer.alloc(box.width * box.height * 4);
  for (let y = 0; y < box.height; y++) {
    let src = ((box.y + y) * image.width + box.x) * 4;
    let dst = y * box.width * 4;
    for (let x = 0; x < box.width; x++, src += 4, dst += 4) {
      const gray = Math.round(0.299 * image.data[src]! + 0.587 * image.data[src + 1]! + 0.114 * image.data[src + 2]!);
      rgba[dst] = gray;
      rgba[dst + 1] = gray;
      rgba[dst + 2] = gray;
      rgba[dst + 3] = 255;
    }
  }
  if (format === "jpeg") return jpeg.encode({ data: rgba, width: box.width, height: box.height }, jpegQuality).data;
  const png = new PNG({ width: box.width, height: box.height, colorType: 0, inputColorType: 6, bitDepth: 8 });
  rgba.copy(png.data);
  return PNG.sync.write(png, { colorType: 0, inputColorType: 6 });
}

/** Nearest-neighbour rescale (the benchmark brings every fixture to 640×480). */
export function resizeImage(image: RgbaImage, width: number, height: number): RgbaImage {
  const out = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(image.height - 1, Math.floor(((y + 0.5) * image.height) / height));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(image.width - 1, Math.floor(((x + 0.5) * image.width) / width));
      const s = (sy * image.width + sx) * 4;
      const d = (y * width + x) * 4;
      out[d] = image.data[s]!;
      out[d + 1] = image.data[s + 1]!;
      out[d + 2] = image.data[s + 2]!;
      out[d + 3] = image.data[s + 3]!;
    }
  }
  return { width, height, data: out };
}
