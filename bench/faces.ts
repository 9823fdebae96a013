// `npm run bench -- faces`: face detection ms per 640×480 frame on the camera's fixture scenes, framed as the
// simulated camera frames them (scaled to fill the frame, the middle kept) and sent as JPEG: decode + detection
// + crops, p50/p99 over RUNS frames per scene, faces found vs expected; beside it OpenCV's Haar cascade on the
// same frames (bench/haar.ts). Then the tiny detector's input sizes 224 and 320 on the camera's own presets
// too, which is what the default input size was chosen on. Target: ≤ 50 ms per 640×480 frame (p50) with every
// fixture face found and none where there is none.
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { CAMERA_PRESETS } from "../nodes/lib/drivers/types";
import { loadFaceApi } from "../nodes/lib/faces/backend";
import { DEFAULT_FACE_OPTIONS, detectFaces, normaliseFaceOptions, type FaceDetectOptions } from "../nodes/lib/faces/face-detector";
import { decodeImage, imageCodec } from "../nodes/lib/faces/image";
import { encodeJpeg, resizeToFill, type Rgba } from "../nodes/lib/image/image";
import { HAAR_SETTINGS, loadHaar } from "./haar";
import type { BenchContext } from "./run";
import { ms, stats, table } from "./support";

const RUNS = 30;
const HAAR_RUNS = 10;
const SIZE_RUNS = 10;
const WARMUP = 3;
const TARGET_MS = 50;
const INPUT_SIZES = [224, 320];

interface Scene {
  file: string;
  /** Faces in the scene: one in visitor-*, none in empty-*. */
  expected: number;
  still: Rgba;
}

/** A still as the camera sends it: scaled to fill width×height, JPEG. */
const frameOf = (scene: Scene, width: number, height: number) => encodeJpeg(resizeToFill(scene.still, width, height));

/** "1", or "0–1" when runs disagreed (they should not: detection is deterministic). */
const countText = (counts: number[]) => {
  const lo = Math.min(...counts);
  const hi = Math.max(...counts);
  return lo === hi ? String(lo) : `${lo}–${hi}`;
};

export async function runFaces(ctx: BenchContext): Promise<void> {
  const scenesDir = path.join(ctx.root, "nodes", "camera", "scenes");
  const scenes: Scene[] = fs
    .readdirSync(scenesDir)
    .filter((f) => /\.(png|jpe?g)$/i.test(f))
    .sort()
    .map((file) => {
      const image = decodeImage(fs.readFileSync(path.join(scenesDir, file)));
      const still = { ...image, data: Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength) };
      return { file, expected: file.startsWith("visitor-") ? 1 : 0, still };
    });
  const frames = scenes.map((s) => frameOf(s, 640, 480));

  const loadStart = Date.now();
  const { backend } = await loadFaceApi();
  const o = DEFAULT_FACE_OPTIONS;
  console.log(
    `  face-api: ${o.model} detector, input ${o.inputSize}, min confidence ${o.minConfidence}, crops ${o.crop}; ` +
      `TensorFlow.js ${backend}, images by ${imageCodec().name}; models loaded in ${Date.now() - loadStart} ms`,
  );
  const haar = await loadHaar();
  if (typeof haar === "string") console.log(`  baseline: none — ${haar}`);
  else {
    const { scaleFactor, minNeighbors, minSize } = HAAR_SETTINGS;
    console.log(
      `  baseline: ${haar.name} (Debian opencv-data), equalised grayscale of the whole frame, scale step ${scaleFactor}, ` +
        `min neighbours ${minNeighbors}, min face ${minSize} px; decode (sharp) + detection, ${HAAR_RUNS} frames a scene`,
    );
  }

  const rows: string[][] = [];
  const all: number[] = [];
  const haarAll: number[] = [];
  let allFound = true;
  let haarAllFound = true;
  for (const [i, s] of scenes.entries()) {
    const frame = frames[i]!;
    for (let w = 0; w < WARMUP; w++) await detectFaces(frame);
    const times: number[] = [];
    const counts: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const result = await detectFaces(frame);
      times.push(result.ms);
      counts.push(result.faces.length);
    }
    const st = stats(times);
    all.push(...times);
    if (counts.some((c) => c !== s.expected)) allFound = false;
    const row = [s.file, String(s.expected), ms(st.p50), ms(st.p99), countText(counts)];
    if (typeof haar !== "string") {
      await haar.detect(frame);
      const haarTimes: number[] = [];
      const haarCounts: number[] = [];
      for (let r = 0; r < HAAR_RUNS; r++) {
        const started = performance.now();
        const boxes = await haar.detect(frame);
        haarTimes.push(performance.now() - started);
        haarCounts.push(boxes.length);
      }
      const hs = stats(haarTimes);
      haarAll.push(...haarTimes);
      if (haarCounts.some((c) => c !== s.expected)) haarAllFound = false;
      row.push(ms(hs.p50), ms(hs.p99), countText(haarCounts));
    }
    rows.push(row);
  }
  const total = stats(all);
  const totalRow = ["all scenes", "", ms(total.p50), ms(total.p99), allFound ? "as expected" : "NOT as expected"];
  const header = ["640×480 JPEG frame", "faces", "face-api p50", "p99", "found"];
  if (typeof haar !== "string") {
    const h = stats(haarAll);
    totalRow.push(ms(h.p50), ms(h.p99), haarAllFound ? "as expected" : "NOT as expected");
    header.push("Haar p50", "p99", "found");
    haar.close();
  }
  rows.push(totalRow);
  console.log(table(header, rows));

  await compareInputSizes(scenes, frames);

  ctx.target({
    target: `face detection ≤ ${TARGET_MS} ms per 640×480 frame (p50) with every fixture face found and none extra`,
    measured: `p50 ${ms(total.p50)}, p99 ${ms(total.p99)} (${backend}); ${allFound ? "faces as expected" : "faces NOT as expected"}`,
    pass: total.p50 <= TARGET_MS && allFound,
  });
}

/** The tiny detector at each input size on the camera's frames: 500×281 (low), 640×480, 1900×1200 (high). */
async function compareInputSizes(scenes: Scene[], frames640: Buffer[]): Promise<void> {
  const framings = [
    { name: "500×281 (low)", frames: scenes.map((s) => frameOf(s, CAMERA_PRESETS.low.width, CAMERA_PRESETS.low.height)) },
    { name: "640×480", frames: frames640 },
    { name: "1900×1200 (high)", frames: scenes.map((s) => frameOf(s, CAMERA_PRESETS.high.width, CAMERA_PRESETS.high.height)) },
  ];
  const rows: string[][] = [];
  for (const inputSize of INPUT_SIZES) {
    const options: FaceDetectOptions = normaliseFaceOptions({ inputSize });
    const times: number[] = [];
    for (const frame of frames640) {
      for (let r = 0; r < SIZE_RUNS; r++) times.push((await detectFaces(frame, options)).ms);
    }
    const row = [`input ${inputSize}${inputSize === DEFAULT_FACE_OPTIONS.inputSize ? " (default)" : ""}`, ms(stats(times).p50)];
    for (const framing of framings) {
      const missed: string[] = [];
      let lowest = 1;
      for (const [i, s] of scenes.entries()) {
        const found = (await detectFaces(framing.frames[i]!, options)).faces;
        if (found.length !== s.expected) missed.push(`${s.file} ${found.length}/${s.expected}`);
        for (const f of found) lowest = Math.min(lowest, f.score);
      }
      row.push(missed.length === 0 ? `yes, scores ≥ ${lowest.toFixed(2)}` : `NO: ${missed.join(", ")}`);
    }
    rows.push(row);
  }
  console.log(`\n  the tiny detector's input size (min confidence ${DEFAULT_FACE_OPTIONS.minConfidence}) on the camera's frames:`);
  console.log(table(["", "p50 640×480", ...framings.map((f) => `as expected at ${f.name}`)], rows));
}
