// The baseline beside face-api in `npm run bench -- faces`: OpenCV's Haar cascade (Viola–Jones) face detector,
// through OpenCV.js (@techstark/opencv-js, a devDependency) with the cascade from Debian's opencv-data. Only the
// benchmark uses it; PiFog's nodes do not.
import fs from "node:fs";
import sharp from "sharp";

export const HAAR_CASCADE = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";

/** OpenCV's usual face-detection settings (its facedetect sample: equalised grayscale, scale step 1.1). */
export const HAAR_SETTINGS = { scaleFactor: 1.1, minNeighbors: 5, minSize: 40 };

export interface HaarBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface HaarDetector {
  /** "OpenCV.js 4.12.0, haarcascade_frontalface_default.xml" */
  name: string;
  /** Faces in a JPEG/PNG frame: decoding to grayscale (sharp) and detection, at the frame's full size. */
  detect(image: Buffer): Promise<HaarBox[]>;
  close(): void;
}

interface CvMat {
  delete(): void;
}
interface CvRectVector {
  size(): number;
  get(i: number): HaarBox;
  delete(): void;
}
interface CvCascade {
  load(file: string): boolean;
  detectMultiScale(image: CvMat, faces: CvRectVector, scale: number, neighbours: number, flags: number, min: object, max: object): void;
  delete(): void;
}
/** The part of OpenCV.js used here (its bundled typings are not checked in this build). */
interface Cv {
  CV_8UC1: number;
  matFromArray(rows: number, cols: number, type: number, data: ArrayLike<number>): CvMat;
  equalizeHist(src: CvMat, dst: CvMat): void;
  RectVector: new () => CvRectVector;
  Size: new (width: number, height: number) => object;
  CascadeClassifier: new () => CvCascade;
  FS_createDataFile(parent: string, name: string, data: Uint8Array, read: boolean, write: boolean, own: boolean): void;
  getBuildInformation(): string;
}

/** The Haar detector, or why there is none here (a sentence to print). */
export async function loadHaar(cascadeFile = HAAR_CASCADE): Promise<HaarDetector | string> {
  if (!fs.existsSync(cascadeFile)) {
    return `no Haar cascade at ${cascadeFile}: install Debian's opencv-data (apt-get install opencv-data) for the OpenCV baseline`;
  }
  let cv: Cv;
  try {
    ({ cv } = await openCv());
  } catch (err) {
    return `OpenCV.js (@techstark/opencv-js, a devDependency) did not load: ${(err as Error).message}`;
  }
  cv.FS_createDataFile("/", "face.xml", fs.readFileSync(cascadeFile), true, false, false);
  const cascade = new cv.CascadeClassifier();
  if (!cascade.load("face.xml")) return `OpenCV.js could not read the cascade ${cascadeFile}`;
  const version = /OpenCV\s+(\d+\.\d+\.\d+)/.exec(cv.getBuildInformation())?.[1] ?? "?";
  const { scaleFactor, minNeighbors, minSize } = HAAR_SETTINGS;
  return {
    name: `OpenCV.js ${version}, ${cascadeFile.split("/").pop()}`,
    async detect(image) {
      const { data, info } = await sharp(image).greyscale().raw().toBuffer({ resolveWithObject: true });
      const gray = cv.matFromArray(info.height, info.width, cv.CV_8UC1, data);
      const found = new cv.RectVector();
      try {
        cv.equalizeHist(gray, gray);
        cascade.detectMultiScale(gray, found, scaleFactor, minNeighbors, 0, new cv.Size(minSize, minSize), new cv.Size(0, 0));
        const boxes: HaarBox[] = [];
        for (let i = 0; i < found.size(); i++) {
          const { x, y, width, height } = found.get(i);
          boxes.push({ x, y, width, height });
        }
        return boxes;
      } finally {
        found.delete();
        gray.delete();
      }
    },
    close: () => cascade.delete(),
  };
}

/** OpenCV.js is an Emscripten module: a promise in some builds, in others a "thenable" module that resolves
 * to itself — awaited or returned from an async function it would loop forever, hence the box around it. */
async function openCv(): Promise<{ cv: Cv }> {
  const mod = require("@techstark/opencv-js") as unknown;
  if (mod instanceof Promise) return { cv: (await mod) as Cv };
  const m = mod as Partial<Cv> & { Mat?: unknown; then?: (ready: () => void) => unknown; onRuntimeInitialized?: () => void };
  if (typeof m.Mat !== "function") {
    await new Promise<void>((resolve) => {
      if (typeof m.then === "function") m.then(() => resolve());
      else m.onRuntimeInitialized = resolve;
    });
  }
  return { cv: m as Cv };
}
