// Still images in and out of the face detector: JPEG/PNG Buffers to pixels, the frame scaled to the model's
// input, and face crops back to grayscale PNG (as PiFog's CameraPi sent them) or JPEG. sharp (libvips, prebuilt
// in its npm package) decodes, scales and writes JPEG crops; where sharp cannot load, jpeg-js does, some 25 ms
// slower per 640×480 JPEG. PNG crops are pngjs's either way.
import jpeg from "jpeg-js";
import { pngCodec, type PngCodec } from "../image/png-codec";

export interface RgbaImage {
  width: number;
  height: number;
  /** width × height × 4 bytes, RGBA. */
  data: Uint8Array;
}

/** 8-bit pixels row by row, 3 (RGB) or 4 (RGBA) bytes each. */
export interface Pixels {
  width: number;
  height: number;
  channels: 3 | 4;
  data: Uint8Array;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export type CropFormat = "png" | "jpeg";

/** What the detector needs done to images; `sharpCodec()` or, without sharp, `jsCodec`. */
export interface ImageCodec {
  name: "sharp" | "js";
  /** Decodes a JPEG or PNG (throws ImageDecodeError). */
  read(bytes: Buffer): Promise<Pixels>;
  /** The image scaled so that its longer side is `size` (the JS codec leaves that to TensorFlow.js). */
  scale(image: Pixels, size: number): Promise<Pixels>;
  /** The box's pixels as an encoded grayscale image (ITU-R BT.601 luma). */
  crop(image: Pixels, box: Box, format: CropFormat, jpegQuality: number): Promise<Buffer>;
}

/** Large enough for a 1900×1200 high-res still several times over, small enough to refuse a bomb. */
const MAX_MEMORY_MB = 512;
const MAX_PIXELS = 50_000_000;

export class ImageDecodeError extends Error {}

export function imageKind(bytes: Buffer): "png" | "jpeg" | null {
  if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.readUInt32BE(4) === 0x0d0a1a0a) return "png";
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "jpeg";
  return null;
}

function checkKind(bytes: Buffer): "png" | "jpeg" {
  const kind = imageKind(bytes);
  if (!kind) throw new ImageDecodeError("the payload is not a JPEG or PNG image");
  return kind;
}

const decodeFailed = (kind: string, err: unknown) =>
  new ImageDecodeError(`the ${kind.toUpperCase()} image could not be decoded: ${(err as Error).message}`);

/** Pure-JS decoding to RGBA (synchronous; the JS codec and tests use it). */
export function decodeImage(bytes: Buffer): RgbaImage {
  const kind = checkKind(bytes);
  try {
    if (kind === "png") {
      const png = pngCodec().sync.read(bytes);
      return { width: png.width, height: png.height, data: png.data };
    }
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: MAX_MEMORY_MB });
    return { width: img.width, height: img.height, data: img.data };
  } catch (err) {
    throw decodeFailed(kind, err);
  }
}

/** The RGB values as int32, row-major (the layout tf.tensor3d wants for [height, width, 3]). */
export function rgbValues(image: Pixels): Int32Array {
  const out = new Int32Array(image.width * image.height * 3);
  const d = image.data;
  const step = image.channels;
  for (let i = 0, j = 0; i < d.length; i += step) {
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

/** The box's luma (ITU-R BT.601), one byte a pixel. */
export function cropLuma(image: Pixels, box: Box): Buffer {
  const out = Buffer.alloc(box.width * box.height);
  const step = image.channels;
  const d = image.data;
  for (let y = 0, o = 0; y < box.height; y++) {
    let s = ((box.y + y) * image.width + box.x) * step;
    for (let x = 0; x < box.width; x++, s += step) {
      out[o++] = Math.round(0.299 * d[s]! + 0.587 * d[s + 1]! + 0.114 * d[s + 2]!);
    }
  }
  return out;
}

/** A grayscale PNG (colour type 0). pngjs even beside sharp: on face-sized crops it is quicker than libvips
 * and its filter choice gives files half the size. */
function pngCrop(gray: Buffer, width: number, height: number): Buffer {
  return pngCodec().sync.write({ width, height, data: gray } as InstanceType<PngCodec>, { colorType: 0, inputColorType: 0, inputHasAlpha: false });
}

/** jpeg-js and pngjs: no native code, slower. */
export const jsCodec: ImageCodec = {
  name: "js",
  async read(bytes) {
    const image = decodeImage(bytes);
    return { ...image, channels: 4 };
  },
  async scale(image) {
    return image;
  },
  async crop(image, box, format, jpegQuality) {
    const gray = cropLuma(image, box);
    if (format === "png") return pngCrop(gray, box.width, box.height);
    const rgba = Buffer.alloc(gray.length * 4);
    for (let i = 0, o = 0; i < gray.length; i++, o += 4) {
      rgba[o] = rgba[o + 1] = rgba[o + 2] = gray[i]!;
      rgba[o + 3] = 255;
    }
    return jpeg.encode({ data: rgba, width: box.width, height: box.height }, jpegQuality).data;
  },
};

type Sharp = typeof import("sharp");

function sharpCodecOf(sharp: Sharp): ImageCodec {
  const raw = (image: Pixels) => ({ raw: { width: image.width, height: image.height, channels: image.channels } });
  return {
    name: "sharp",
    async read(bytes) {
      const kind = checkKind(bytes);
      try {
        // "truncated": a frame cut short is refused, as jpeg-js/pngjs refused it; lesser warnings pass
        const { data, info } = await sharp(bytes, { failOn: "truncated", limitInputPixels: MAX_PIXELS })
          .removeAlpha()
          .toColourspace("srgb")
          .raw({ depth: "uchar" })
          .toBuffer({ resolveWithObject: true });
        if (info.channels !== 3) throw new Error(`${info.channels} channels after conversion to RGB`);
        return { width: info.width, height: info.height, channels: 3, data };
      } catch (err) {
        throw decodeFailed(kind, err);
      }
    },
    async scale(image, size) {
      const factor = size / Math.max(image.width, image.height);
      const width = Math.max(1, Math.round(image.width * factor));
      const height = Math.max(1, Math.round(image.height * factor));
      if (width === image.width && height === image.height) return image;
      const { data, info } = await sharp(image.data, raw(image))
        .resize(width, height, { fit: "fill" })
        .removeAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
      return { width: info.width, height: info.height, channels: 3, data };
    },
    async crop(image, box, format, jpegQuality) {
      const gray = cropLuma(image, box);
      if (format === "png") return pngCrop(gray, box.width, box.height);
      return sharp(gray, { raw: { width: box.width, height: box.height, channels: 1 } }).jpeg({ quality: jpegQuality }).toBuffer();
    },
  };
}

let codec: ImageCodec | undefined;

/** sharp's codec when sharp loads here, else the JS one (decided once per process). */
export function imageCodec(): ImageCodec {
  if (!codec) {
    try {
      codec = sharpCodecOf(require("sharp") as Sharp);
    } catch {
      codec = jsCodec;
    }
  }
  return codec;
}
