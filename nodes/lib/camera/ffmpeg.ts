// Debian's ffmpeg and ffprobe, when installed: found on PATH, run niced (the camera keeps its frames coming while a
// clip is remuxed), never asked to re-encode. A clip's MJPEG stream goes into an MP4 as it is (`-c:v copy`), at the
// frame rate measured over the clip, with the index in front (`+faststart`) so a player can start before the end.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** The tools found (absolute paths), or null for each one missing. */
export interface FfmpegTools {
  ffmpeg: string | null;
  ffprobe: string | null;
}

/** The first executable `name` on `PATH` (as the environment gives it), or null. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return null;
}

export function findFfmpeg(env: NodeJS.ProcessEnv = process.env): FfmpegTools {
  return { ffmpeg: findOnPath("ffmpeg", env), ffprobe: findOnPath("ffprobe", env) };
}

/** How far the remux steps back for the camera: 10 is `nice`'s own default. */
export const REMUX_NICENESS = 10;
/** A remux that takes longer is stopped (the clip stays an MJPEG): a minute of 640×480 takes well under a second. */
export const REMUX_TIMEOUT_MS = 120_000;

export interface RemuxOptions {
  /** The measured frames per second (> 0). */
  fps: number;
  timeoutMs?: number;
  /** Ask ffmpeg for its own CPU time (the bench): `cpuMs` in the result. */
  measureCpu?: boolean;
}

export interface RemuxResult {
  /** ffmpeg's user + system CPU, ms, when `measureCpu` was asked. */
  cpuMs: number | null;
}

/** `-framerate` as ffmpeg reads it: a rational with three decimals (9.87 → "9870/1000"). */
export function framerateArg(fps: number): string {
  if (!Number.isFinite(fps) || fps <= 0) throw new Error(`not a frame rate: ${fps}`);
  return `${Math.max(1, Math.round(fps * 1000))}/1000`;
}

/** Puts the MJPEG file `input` into the MP4 `output`, no re-encode, niced. Rejects with ffmpeg's last words. */
export function remuxToMp4(ffmpeg: string, input: string, output: string, options: RemuxOptions): Promise<RemuxResult> {
  const args = [
    "-hide_banner",
    "-nostdin",
    "-nostats",
    "-loglevel",
    options.measureCpu ? "info" : "error",
    ...(options.measureCpu ? ["-benchmark"] : []),
    "-f",
    "mjpeg",
    "-framerate",
    framerateArg(options.fps),
    "-i",
    input,
    "-c:v",
    "copy",
    "-movflags",
    "+faststart",
    "-f",
    "mp4",
    "-y",
    output,
  ];
  return new Promise((resolve, reject) => {
    const child = execFile(
      ffmpeg,
      args,
      { timeout: options.timeoutMs ?? REMUX_TIMEOUT_MS, maxBuffer: 1024 * 1024, windowsHide: true },
      (err, _stdout, stderr) => {
        if (err) {
          const said = String(stderr).trim().split("\n").slice(-3).join(" / ");
          reject(new Error(`ffmpeg could not remux ${path.basename(input)}: ${said || err.message}`));
          return;
        }
        resolve({ cpuMs: options.measureCpu ? benchmarkCpuMs(String(stderr)) : null });
      },
    );
    if (child.pid !== undefined) {
      try {
        os.setPriority(child.pid, REMUX_NICENESS);
      } catch {
        // gone already, or not allowed: it runs at the camera's priority
      }
    }
  });
}

/** ffmpeg's `-benchmark` line "bench: utime=0.012s stime=0.004s rtime=…" as ms of CPU, or null. */
export function benchmarkCpuMs(stderr: string): number | null {
  const m = /bench: utime=([\d.]+)s stime=([\d.]+)s/.exec(stderr);
  return m ? Math.round((Number(m[1]) + Number(m[2])) * 1000) : null;
}

/** What ffprobe says of a video file's first video stream. */
export interface Probe {
  codec: string;
  width: number;
  height: number;
  /** Frames counted by decoding the packets (exact, not the header's claim). */
  frames: number;
  durationSeconds: number;
  format: string;
}

export function probe(ffprobe: string, file: string, timeoutMs = 30_000): Promise<Probe> {
  const args = [
    "-v",
    "error",
    "-count_packets",
    "-select_streams",
    "v:0",
    "-show_entries",
    "stream=codec_name,width,height,nb_read_packets,duration:format=duration,format_name",
    "-of",
    "json",
    file,
  ];
  return new Promise((resolve, reject) => {
    execFile(ffprobe, args, { timeout: timeoutMs, maxBuffer: 1024 * 1024, windowsHide: true }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`ffprobe could not read ${path.basename(file)}: ${String(stderr).trim() || err.message}`));
        return;
      }
      try {
        const out = JSON.parse(String(stdout)) as {
          streams?: Array<{ codec_name?: string; width?: number; height?: number; nb_read_packets?: string; duration?: string }>;
          format?: { duration?: string; format_name?: string };
        };
        const stream = out.streams?.[0];
        if (!stream) throw new Error("no video stream");
        resolve({
          codec: stream.codec_name ?? "",
          width: stream.width ?? 0,
          height: stream.height ?? 0,
          frames: Number(stream.nb_read_packets ?? 0),
          durationSeconds: Number(stream.duration ?? out.format?.duration ?? 0),
          format: out.format?.format_name ?? "",
        });
      } catch (parseErr) {
        reject(new Error(`ffprobe's answer about ${path.basename(file)}: ${(parseErr as Error).message}`));
      }
    });
  });
}
