// Face detection on JPEG/PNG stills: face-api's Tiny Face Detector (default) or SSD MobileNet v1 on the WASM
// backend, models loaded once per process on first use. One frame at a time: the backend is shared, and a
// frame's time is then its own.
import { performance } from "node:perf_hooks";
import { loadFaceApi } from "./backend";
import { clipBox, imageCodec, rgbValues, type Box, type CropFormat, type ImageCodec, type Pixels, type RgbaImage } from "./image";

export type FaceModel = "tiny" | "ssd";

/** The Tiny Face Detector's input sizes (multiples of 32). */
export const TINY_INPUT_SIZES = [128, 160, 224, 320, 416, 512, 608] as const;

export interface FaceDetectOptions {
  model: FaceModel;
  /** 0..1; faces scored below it are dropped. */
  minConfidence: number;
  /** The tiny model's input size: larger finds smaller faces, slower. */
  inputSize: number;
  crop: CropFormat;
  jpegQuality: number;
}

/** Chosen on the fixture scenes as the camera frames them (bench/faces.ts): tiny at 320 finds both visitors at
 * 500×281, 640×480 and 1900×1200 (lowest score 0.59: the astronaut's face half out of the 500×281 still) and
 * nothing in the empty scenes; at 224 that half face scores 0.36 and is missed. SSD MobileNet takes the cat's
 * face for a human one at 0.92. */
export const DEFAULT_FACE_OPTIONS: FaceDetectOptions = {
  model: "tiny",
  minConfidence: 0.5,
  inputSize: 320,
  crop: "png",
  jpegQuality: 90,
};

export interface DetectedFace {
  /** Whole pixels, clipped to the image. */
  box: Box;
  score: number;
  /** The box's pixels, grayscale, encoded as `crop`. */
  crop: Buffer;
}

export interface FaceDetection {
  image: { width: number; height: number };
  faces: DetectedFace[];
  /** Wall time of this frame: decode, detection and crops. */
  ms: number;
  backend: string;
}

/** Validates and completes options (throws with a message a user can act on). */
export function normaliseFaceOptions(o: Partial<FaceDetectOptions>): FaceDetectOptions {
  const d = DEFAULT_FACE_OPTIONS;
  const model = o.model ?? d.model;
  if (model !== "tiny" && model !== "ssd") throw new Error(`model "${model}" is not tiny or ssd`);
  const minConfidence = o.minConfidence ?? d.minConfidence;
  if (!Number.isFinite(minConfidence) || minConfidence < 0 || minConfidence > 1) {
    throw new Error(`minimum confidence ${minConfidence} is not 0..1`);
  }
  const inputSize = o.inputSize ?? d.inputSize;
  if (!(TINY_INPUT_SIZES as readonly number[]).includes(inputSize)) {
    throw new Error(`input size ${inputSize} is not one of ${TINY_INPUT_SIZES.join(", ")}`);
  }
  const crop = o.crop ?? d.crop;
  if (crop !== "png" && crop !== "jpeg") throw new Error(`crop format "${crop}" is not png or jpeg`);
  const jpegQuality = o.jpegQuality ?? d.jpegQuality;
  if (!Number.isInteger(jpegQuality) || jpegQuality < 1 || jpegQuality > 100) {
    throw new Error(`JPEG quality ${jpegQuality} is not 1..100`);
  }
  return { model, minConfidence, inputSize, crop, jpegQuality };
}

let queue: Promise<unknown> = Promise.resolve();

/** Finds the faces in a JPEG or PNG still. Rejects with ImageDecodeError when the bytes are not one. */
export function detectFaces(bytes: Buffer, options: FaceDetectOptions = DEFAULT_FACE_OPTIONS): Promise<FaceDetection> {
  const run = queue.then(async () => {
    const { backend } = await loadFaceApi();
    const started = performance.now();
    const codec = imageCodec();
    const result = await detectIn(codec, await codec.read(bytes), options);
    return { ...result, backend, ms: performance.now() - started };
  });
  queue = run.catch(() => undefined);
  return run;
}

/** Detection on decoded pixels (no queueing: callers run one frame at a time). */
export async function detectInImage(image: RgbaImage, options: FaceDetectOptions): Promise<Omit<FaceDetection, "ms">> {
  return detectIn(imageCodec(), { ...image, channels: 4 }, options);
}

/** SSD MobileNet v1 sees every frame at 512×512. */
const SSD_INPUT_SIZE = 512;

async function detectIn(codec: ImageCodec, image: Pixels, options: FaceDetectOptions): Promise<Omit<FaceDetection, "ms">> {
  const { api, backend } = await loadFaceApi();
  // face-api pads the frame square and scales it to the model's input; scaling it first (libvips) is cheaper
  // than building a full-size tensor, and leaves face-api only the padding
  const input = await codec.scale(image, options.model === "ssd" ? SSD_INPUT_SIZE : options.inputSize);
  const tensor = api.tf.tensor3d(rgbValues(input), [input.height, input.width, 3], "int32");
  let found;
  try {
    const detectorOptions =
      options.model === "ssd"
        ? new api.SsdMobilenetv1Options({ minConfidence: options.minConfidence })
        : new api.TinyFaceDetectorOptions({ inputSize: options.inputSize, scoreThreshold: options.minConfidence });
    found = await api.detectAllFaces(tensor, detectorOptions);
  } finally {
    tensor.dispose();
  }
  const sx = image.width / input.width;
  const sy = image.height / input.height;
  const faces: DetectedFace[] = [];
  for (const d of found.filter((f) => f.score >= options.minConfidence).sort((a, b) => b.score - a.score)) {
    const { x, y, width, height } = d.box;
    const box = clipBox({ x: x * sx, y: y * sy, width: width * sx, height: height * sy }, image.width, image.height);
    if (!box) continue;
    faces.push({ box, score: d.score, crop: await codec.crop(image, box, options.crop, options.jpegQuality) });
  }
  return { image: { width: image.width, height: image.height }, faces, backend };
}
