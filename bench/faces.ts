// `npm run bench -- faces`: face detection ms per 640×480 frame on the camera's fixture scenes (scaled to
// 640×480 and sent as JPEG, as the camera sends them): decode + detection + crops, p50/p99 over RUNS frames per
// scene, and faces found vs expected. Target: ≤ 50 ms per frame (p50) with every fixture face found and none
// where there is none.
import fs from "node:fs";
import path from "node:path";
import jpeg from "jpeg-js";
import { loadFaceApi } from "../nodes/lib/faces/backend";
import { DEFAULT_FACE_OPTIONS, detectFaces } from "../nodes/lib/faces/face-detector";
import { decodeImage, resizeImage } from "../nodes/lib/faces/image";
import type { BenchContext } from "./run";
import { ms, stats, table } from "./support";

const RUNS = 30;
const WARMUP = 3;
const TARGET_MS = 50;

export async function runFaces(ctx: BenchContext): Promise<void> {
  const scenesDir = path.join(ctx.root, "nodes", "camera", "scenes");
  const scenes = fs
    .readdirSync(scenesDir)
    .filter((f) => /\.(png|jpe?g)$/i.test(f))
    .sort()
    .map((file) => {
      const still = resizeImage(decodeImage(fs.readFileSync(path.join(scenesDir, file))), 640, 480);
      const frame = jpeg.encode({ data: Buffer.from(still.data), width: 640, height: 480 }, 90).data;
      return { file, frame, expected: file.startsWith("visitor-") ? 1 : 0 };
    });

  const loadStart = Date.now();
  const { backend } = await loadFaceApi();
  const o = DEFAULT_FACE_OPTIONS;
  console.log(
    `  face-api ${o.model} detector, input ${o.inputSize}, min confidence ${o.minConfidence}, crops ${o.crop}; ` +
      `backend ${backend}; models loaded in ${Date.now() - loadStart} ms`,
  );
  console.log("  baseline: none at hand (no OpenCV/Haar cascade package installed)");

  const rows: string[][] = [];
  const all: number[] = [];
  let allFound = true;
  for (const s of scenes) {
    for (let i = 0; i < WARMUP; i++) await detectFaces(s.frame);
    const times: number[] = [];
    let found = -1;
    for (let i = 0; i < RUNS; i++) {
      const r = await detectFaces(s.frame);
      times.push(r.ms);
      if (found === -1) found = r.faces.length;
      else if (found !== r.faces.length) found = Math.max(found, r.faces.length); // not expected: deterministic
    }
    const st = stats(times);
    all.push(...times);
    if (found !== s.expected) allFound = false;
    rows.push([s.file, String(st.n), ms(st.p50), ms(st.p99), ms(st.mean), `${found} / ${s.expected}`]);
  }
  const total = stats(all);
  rows.push(["all scenes", String(total.n), ms(total.p50), ms(total.p99), ms(total.mean), allFound ? "all" : "MISSED"]);
  console.log(table(["640×480 JPEG frame", "n", "p50", "p99", "mean", "faces found / expected"], rows));
  ctx.target({
    target: `face detection ≤ ${TARGET_MS} ms per 640×480 frame (p50) with every fixture face found and none extra`,
    measured: `p50 ${ms(total.p50)}, p99 ${ms(total.p99)} (${backend}); ${allFound ? "faces as expected" : "faces NOT as expected"}`,
    pass: total.p50 <= TARGET_MS && allFound,
  });
}
