// The Pi camera's MJPEG stream: `rpicam-vid --codec mjpeg -t 0 … -o -` (Bookworm and later) or, where it is not
// installed, `libcamera-vid` (Bullseye), its stdout cut into JPEGs. A process that dies is started again after a
// backoff (1 s doubling to 30 s; back to 1 s once one has delivered frames); closing kills it (SIGTERM, then SIGKILL).
import { spawn, type ChildProcess } from "node:child_process";
import type { Clock } from "../../clock";
import { MjpegSplitter } from "../../camera/mjpeg";
import type { StreamFormat } from "../../camera/types";
import { onPath } from "./camera";
import type { MjpegCamera, MjpegSink } from "../types";

export const VIDEO_PROGRAMS = ["rpicam-vid", "libcamera-vid"] as const;

export interface PiVideoOptions {
  /** PATH the programs are looked up on and run with (the process's by default). */
  path?: string;
  /** The first wait before a restart; it doubles up to `maxRestartMs`. */
  restartMs?: number;
  maxRestartMs?: number;
  /** How long a killed process has to exit before SIGKILL. */
  killGraceMs?: number;
  warn?: (message: string) => void;
}

/**
 * The command line for one stream. libcamera's transform can flip but not transpose, so 180° is a horizontal and
 * a vertical flip, and 90/270 cannot be done by the camera (the frames come unrotated; the node warns).
 */
export function videoArgs(format: StreamFormat): string[] {
  const args = [
    "--codec", "mjpeg",
    "-t", "0",
    "--width", String(format.width),
    "--height", String(format.height),
    "--framerate", String(format.fps),
    "-n",
  ];
  if (format.rotation === 180) args.push("--hflip", "--vflip");
  args.push("-o", "-");
  return args;
}

export class PiMjpegCamera implements MjpegCamera {
  constructor(
    private readonly clock: Clock,
    private readonly options: PiVideoOptions = {},
  ) {}

  /** The program a start uses now: the first of VIDEO_PROGRAMS on PATH, or null. */
  program(): string | null {
    const pathVar = this.options.path ?? process.env.PATH ?? "";
    return VIDEO_PROGRAMS.find((p) => onPath(p, pathVar)) ?? null;
  }

  start(format: StreamFormat, sink: MjpegSink): { close(): Promise<void> } {
    const restartMs = this.options.restartMs ?? 1000;
    const maxRestartMs = this.options.maxRestartMs ?? 30_000;
    const grace = this.options.killGraceMs ?? 2000;
    let backoff = restartMs;
    let closed = false;
    let child: ChildProcess | null = null;
    let exited: Promise<void> = Promise.resolve();
    let timer: unknown = null;

    const retry = (message: string) => {
      if (closed) return;
      sink.state({ state: "failing", message, retryInMs: backoff });
      timer = this.clock.setTimeout(() => {
        timer = null;
        launch();
      }, backoff);
      backoff = Math.min(maxRestartMs, backoff * 2);
    };

    const launch = () => {
      if (closed) return;
      const program = this.program();
      if (!program) {
        retry(`camera not available: neither ${VIDEO_PROGRAMS.join(" nor ")} is installed`);
        return;
      }
      const env = this.options.path === undefined ? process.env : { ...process.env, PATH: this.options.path };
      let proc: ChildProcess;
      try {
        proc = spawn(program, videoArgs(format), { env, stdio: ["ignore", "pipe", "pipe"], windowsHide: true });
      } catch (err) {
        retry(`${program} could not start: ${(err as Error).message}`);
        return;
      }
      child = proc;
      let frames = 0;
      let lastError = "";
      const splitter = new MjpegSplitter((jpeg) => {
        if (closed) return;
        if (frames++ === 0) {
          backoff = restartMs;
          sink.state({ state: "running", program });
        }
        sink.frame(jpeg);
      });
      proc.stdout!.on("data", (chunk: Buffer) => splitter.push(chunk));
      proc.stderr!.on("data", (chunk: Buffer) => {
        const line = chunk.toString("utf8").trim().split("\n").at(-1);
        if (line) lastError = line.slice(0, 200);
      });
      exited = new Promise<void>((resolve) => {
        let spawnError: Error | null = null;
        proc.once("error", (err) => {
          spawnError = err;
        });
        proc.once("close", (code, signal) => {
          if (child === proc) child = null;
          resolve();
          if (closed) return;
          const why = spawnError ? spawnError.message : signal ? `killed by ${signal}` : `exit code ${String(code)}`;
          retry(`${program} stopped (${why})${lastError ? `: ${lastError}` : ""}`);
        });
      });
    };

    launch();
    return {
      close: async () => {
        closed = true;
        if (timer !== null) this.clock.clearTimeout(timer);
        const proc = child;
        if (proc && proc.exitCode === null && proc.signalCode === null) {
          proc.kill("SIGTERM");
          const kill = this.clock.setTimeout(() => proc.kill("SIGKILL"), grace);
          await exited;
          this.clock.clearTimeout(kill);
        } else await exited;
      },
    };
  }
}
