// The Pi's camera through its command-line programs: rpicam-still (Bookworm and later), libcamera-still
// (Bullseye), raspistill (the legacy stack PiFog's picamera used). The JPEG comes back on stdout (`-o -`).
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { isJpeg, jpegSize } from "../../image/image";
import { CAMERA_PRESETS, HardwareUnavailableError, type Camera, type CameraOptions, type CameraPreset, type Picture } from "../types";

/** Runs a program and resolves with its stdout; rejects with the child_process error (code ENOENT, killed…). */
export type CommandRunner = (file: string, args: string[], options: { timeoutMs: number }) => Promise<Buffer>;

/** The programs tried, in order. */
export const CAMERA_PROGRAMS = ["rpicam-still", "libcamera-still", "raspistill"] as const;
export type CameraProgram = (typeof CAMERA_PROGRAMS)[number];

/** How long the camera runs before the still, so exposure and white balance settle. */
export const SETTLE_MS = 1000;
const QUALITY = 85;
/** A 1900×1200 JPEG is well under this. */
const MAX_JPEG_BYTES = 32 * 1024 * 1024;

export const execFileRunner: CommandRunner = (file, args, { timeoutMs }) =>
  new Promise((resolve, reject) => {
    execFile(file, args, { encoding: "buffer", timeout: timeoutMs, maxBuffer: MAX_JPEG_BYTES, windowsHide: true }, (err, stdout, stderr) => {
      if (err) {
        const detail = stderr.toString("utf8").trim().split("\n").at(-1);
        if (detail) err.message = `${err.message.split("\n")[0]}: ${detail}`;
        reject(err);
      } else resolve(stdout);
    });
  });

/** Whether a program is an executable file somewhere on PATH. */
export function onPath(program: string, pathVar = process.env.PATH ?? ""): boolean {
  return pathVar
    .split(path.delimiter)
    .filter(Boolean)
    .some((dir) => {
      try {
        fs.accessSync(path.join(dir, program), fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/** The command line of one program for one still. */
export function cameraArgs(program: CameraProgram, preset: CameraPreset, options: Pick<CameraOptions, "rotation">): string[] {
  const { width, height } = CAMERA_PRESETS[preset];
  if (program === "raspistill") {
    return ["-n", "-t", String(SETTLE_MS), "-w", String(width), "-h", String(height), "-rot", String(options.rotation), "-e", "jpg", "-q", String(QUALITY), "-o", "-"];
  }
  return [
    "-n",
    "-t", String(SETTLE_MS),
    "--width", String(width),
    "--height", String(height),
    "--rotation", String(options.rotation),
    "-e", "jpg",
    "-q", String(QUALITY),
    "-o", "-",
  ];
}

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException | null)?.code === "ENOENT";

export class PiCamera implements Camera {
  /** The programs still worth trying; a missing one (ENOENT) is dropped for good. */
  private programs: CameraProgram[];
  /** One still at a time: the camera cannot be opened twice. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly options: CameraOptions,
    private readonly run: CommandRunner = execFileRunner,
    programs: readonly CameraProgram[] = CAMERA_PROGRAMS,
  ) {
    if (options.rotation !== 0 && options.rotation !== 180) throw new Error(`rotation ${String(options.rotation)} is not 0 or 180`);
    this.programs = [...programs];
    if (this.programs.length === 0) throw new HardwareUnavailableError(`no camera program (${CAMERA_PROGRAMS.join(", ")})`);
  }

  capture(preset: CameraPreset): Promise<Picture> {
    if (!Object.hasOwn(CAMERA_PRESETS, preset)) return Promise.reject(new Error(`unknown camera preset "${String(preset)}"`));
    const next = this.queue.then(() => this.take(preset));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async take(preset: CameraPreset): Promise<Picture> {
    if (this.closed) throw new Error("camera closed");
    while (this.programs.length > 0) {
      const program = this.programs[0]!;
      let jpeg: Buffer;
      try {
        jpeg = await this.run(program, cameraArgs(program, preset, this.options), { timeoutMs: this.options.timeoutMs });
      } catch (err) {
        if (isMissing(err)) {
          this.programs.shift();
          continue;
        }
        const e = err as NodeJS.ErrnoException & { killed?: boolean };
        if (e.killed) throw new Error(`${program} timed out after ${this.options.timeoutMs / 1000} s`);
        throw new Error(`${program} failed: ${e.message}`);
      }
      if (!isJpeg(jpeg)) throw new Error(`${program} gave no JPEG (${jpeg.length} bytes)`);
      const size = jpegSize(jpeg) ?? CAMERA_PRESETS[preset];
      return { jpeg, width: size.width, height: size.height, preset };
    }
    throw new HardwareUnavailableError(`camera not available: none of ${CAMERA_PROGRAMS.join(", ")} is installed`);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
  }
}
