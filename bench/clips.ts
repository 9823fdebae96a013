// `npm run bench -- clips`: the clip writer's CPU per minute of 640×480 10 fps video: recording (frames through the
// pre-roll ring and appended to the spool's .mjpeg, thumbnail, hash, the item's JSON) measured in this process, plus
// the remux to MP4 (ffmpeg's own CPU, from its -benchmark line) when ffmpeg is installed. The frames are the camera's
// stock scenes at 640×480 (JPEG, as rpicam-vid's MJPEG would be), each made distinct with a JPEG comment; they are
// made before the clock starts. `measureClipWriting` is exported for the motion benchmark to print beside its figures.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ClipRecorder } from "../nodes/lib/camera/clip-recorder";
import { findFfmpeg } from "../nodes/lib/camera/ffmpeg";
import { Spool } from "../nodes/lib/camera/spool";
import { DEFAULT_CAMERA_SETTINGS, type SpoolItem } from "../nodes/lib/camera/types";
import { systemClock } from "../nodes/lib/clock";
import { decodePng, encodeJpeg, resizeToFill } from "../nodes/lib/image/image";
import type { BenchContext } from "./run";
import { table, tempDir } from "./support";

export interface ClipWritingOptions {
  /** The repository root (the scenes are in nodes/camera/scenes). */
  root: string;
  /** A folder to write the spool in (emptied by the caller). */
  dir: string;
  seconds?: number;
  fps?: number;
  width?: number;
  height?: number;
  /** false: MJPEG only, even with ffmpeg installed. */
  remux?: boolean;
}

export interface ClipWriting {
  frames: number;
  videoSeconds: number;
  /** Mean JPEG size of a frame, bytes. */
  frameBytes: number;
  format: SpoolItem["format"];
  mediaBytes: number;
  /** CPU of this process for the recording (frames in, clip finished and put), ms. */
  recordCpuMs: number;
  /** ffmpeg's CPU for the remux, ms; null without ffmpeg (or remux off). */
  remuxCpuMs: number | null;
  /** Both, per minute of video, ms. */
  cpuMsPerMinute: number;
  /** Wall time from the clip's end to its item in the spool, ms. */
  finishMs: number;
}

/** The camera's stock scenes as width×height JPEGs (made once; jpeg-js, as slow as it is, before any clock runs). */
export function sceneFrames(root: string, width: number, height: number): Buffer[] {
  const dir = path.join(root, "nodes", "camera", "scenes");
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".png"))
    .sort()
    .map((f) => encodeJpeg(resizeToFill(decodePng(fs.readFileSync(path.join(dir, f))), width, height), 80));
}

/** `jpeg` with a COM segment naming `n`: a distinct JPEG per frame. */
function tagged(jpeg: Buffer, n: number): Buffer {
  const text = Buffer.from(`frame ${n}`, "latin1");
  const head = Buffer.alloc(4);
  head.writeUInt16BE(0xfffe, 0);
  head.writeUInt16BE(text.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), head, text, jpeg.subarray(2)]);
}

/** Records one clip of `seconds` (motion all along, pre-roll frames first) and measures its CPU. */
export async function measureClipWriting(o: ClipWritingOptions): Promise<ClipWriting> {
  const seconds = o.seconds ?? 60;
  const fps = o.fps ?? 10;
  const width = o.width ?? 640;
  const height = o.height ?? 480;
  const scenes = sceneFrames(o.root, width, height);
  const frameMs = 1000 / fps;
  const pre = DEFAULT_CAMERA_SETTINGS.preSeconds;
  const total = Math.round((pre + seconds) * fps);
  const frames = Array.from({ length: total }, (_, i) => tagged(scenes[Math.floor(i / fps) % scenes.length]!, i));
  const ffmpeg = o.remux === false ? null : findFfmpeg().ffmpeg;
  let item: SpoolItem | null = null;
  let remuxCpuMs: number | null = null;
  const recorder = new ClipRecorder({
    spool: new Spool(o.dir),
    device: "bench",
    clock: systemClock,
    ffmpeg,
    settings: { ...DEFAULT_CAMERA_SETTINGS, preSeconds: pre, postSeconds: 0, maxClipSeconds: seconds + pre + 1, fps },
    onClip: (i) => {
      item = i;
    },
    onProblem: (err, kept) => {
      if (!kept) throw err;
      console.error(`  bench clips: ${err.message}`);
    },
    onRemuxCpu: (ms) => {
      remuxCpuMs = ms;
    },
  });
  const t0 = 1_700_000_000_000;
  const cpu0 = process.cpuUsage();
  frames.forEach((jpeg, i) => {
    // the pre-roll still, then motion: the clip opens with the pre-roll and goes on to the end
    const active = i >= pre * fps;
    recorder.frame({ jpeg, at: t0 + Math.round(i * frameMs), seq: i, width, height, device: "bench", score: active ? 5 : 0, active });
  });
  const ended = performance.now();
  recorder.end("closing");
  await recorder.idle();
  const finishMs = performance.now() - ended;
  const cpu = process.cpuUsage(cpu0);
  const done = item as SpoolItem | null;
  if (!done) throw new Error("the clip did not reach the spool");
  const recordCpuMs = (cpu.user + cpu.system) / 1000;
  const videoSeconds = done.durationMs / 1000;
  return {
    frames: done.frames,
    videoSeconds,
    frameBytes: Math.round(frames.reduce((n, f) => n + f.length, 0) / frames.length),
    format: done.format,
    mediaBytes: done.bytes,
    recordCpuMs,
    remuxCpuMs,
    cpuMsPerMinute: ((recordCpuMs + (remuxCpuMs ?? 0)) * 60) / videoSeconds,
    finishMs,
  };
}

/** 1.5 s of CPU per minute of video (2.5 % of one core here): a Pi Zero W, about ten times slower, keeps most of its core. */
const TARGET_CPU_MS_PER_MINUTE = 1500;

export async function runClips(ctx: BenchContext): Promise<void> {
  const scope = ctx.scope();
  try {
    const rows: string[][] = [];
    const results: Array<[string, ClipWriting]> = [];
    const variants: Array<[string, boolean]> = findFfmpeg().ffmpeg ? [["MP4 (remux)", true], ["MJPEG only", false]] : [["MJPEG only", false]];
    if (!findFfmpeg().ffmpeg) console.log("  ffmpeg is not installed: MJPEG only (sudo apt install ffmpeg for the remux's figures)");
    for (const [name, remux] of variants) {
      const dir = tempDir(scope, "pifog-bench-clips-");
      const r = await measureClipWriting({ root: ctx.root, dir, remux });
      results.push([name, r]);
      rows.push([
        name,
        String(r.frames),
        `${r.videoSeconds.toFixed(1)} s`,
        `${(r.frameBytes / 1024).toFixed(0)} KiB`,
        `${(r.mediaBytes / 2 ** 20).toFixed(1)} MiB`,
        `${r.recordCpuMs.toFixed(0)} ms`,
        r.remuxCpuMs === null ? "–" : `${r.remuxCpuMs} ms`,
        `${r.cpuMsPerMinute.toFixed(0)} ms`,
        `${r.finishMs.toFixed(0)} ms`,
      ]);
    }
    console.log(`  one clip of 60 s + 5 s pre-roll, 640×480 at 10 fps, the camera's scenes as JPEG (${os.cpus()[0]?.model.trim() ?? "cpu"})`);
    console.log(table(["clip", "frames", "video", "frame", "file", "record CPU", "remux CPU", "CPU / min of video", "end → spool"], rows));
    for (const [name, r] of results) {
      ctx.target({
        target: `clip writing (${name}) ≤ ${TARGET_CPU_MS_PER_MINUTE} ms CPU per minute of 640×480 10 fps video`,
        measured: `${r.cpuMsPerMinute.toFixed(0)} ms (${((r.cpuMsPerMinute / 60_000) * 100).toFixed(2)} % of one core)`,
        pass: r.cpuMsPerMinute <= TARGET_CPU_MS_PER_MINUTE,
      });
    }
  } finally {
    await scope.close();
  }
}
