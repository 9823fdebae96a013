// `npm run bench -- motion`: frames per CPU-second of decode + motion detection at 640×480 over a recorded simulated
// MJPEG stream (a person crossing), beside Debian's `motion` daemon on the SAME stream in the same run: the stream is
// served over loopback HTTP as multipart MJPEG at 10 fps, motion's netcam_url points at it, and its CPU time comes
// from /proc/<pid>/stat as ours does (/proc/self/stat: all of this process's threads). One core: our frames go
// through one at a time, and sharp (libvips) is held to one thread with sharp.concurrency(1). motion's frames are
// counted, not assumed: the server counts the frames the kernel took from it during the window (a frame is sent
// only when the previous one has left; one that would queue behind a slow reader is dropped, and counted as such).
// Target ≥ 30 fps on the path motion-detect uses on this machine (sharp where it loads, else jpeg-js).
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { MotionDetector, fastGrayDecoder, grayFromJpeg, jsGrayDecoder, type GrayDecoder } from "../nodes/lib/camera/motion";
import { FakeClock } from "../test/support/fake-clock";
import { simDrivers } from "../nodes/lib/drivers/factory";
import type { BenchContext } from "./run";
import { stopChild, table, tempDir } from "./support";

const W = 640;
const H = 480;
const FPS = 10;
const SECONDS = 16;
const TARGET_FPS = 30;
const MOTION_SECONDS = 20;
const TICKS = 100; // USER_HZ

/** utime + stime of a process, seconds. */
function cpuSeconds(pid: number | "self"): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / TICKS;
}

/** The person script recorded at 640×480, 10 fps. */
function record(): Buffer[] {
  const clock = new FakeClock(Date.UTC(2026, 5, 1));
  const bus = { device: "bench", subscribe: () => () => undefined, publish: () => undefined, warn: () => undefined };
  const stream = simDrivers(bus, clock, Math.random, { motionScript: "person" }).cameraStream({ width: W, height: H, fps: FPS, rotation: 0 });
  const frames: Buffer[] = [];
  const off = stream.subscribe((f) => frames.push(f.jpeg));
  return Object.assign(frames, { play: () => undefined, off, clock });
}

async function ours(frames: Buffer[], decoder: GrayDecoder, rounds: number): Promise<{ fps: number; events: number }> {
  const detector = new MotionDetector("bench", { settleMs: 1000 });
  let events = 0;
  const cpu0 = cpuSeconds("self");
  let n = 0;
  for (let r = 0; r < rounds; r++) {
    for (const [i, jpeg] of frames.entries()) {
      const gray = decoder.name === "jpeg-js" ? grayFromJpeg(jpeg) : await decoder.decode(jpeg, W, H);
      const at = (r * frames.length + i) * (1000 / FPS);
      if (detector.feed(gray, { at, seq: n++, width: W, height: H }).event) events++;
    }
  }
  return { fps: n / (cpuSeconds("self") - cpu0), events };
}

/** What the MJPEG server has handed over: frames the kernel took (their write completed), and frames dropped
 * because the one before had not left yet (the reader was behind). */
interface Served {
  delivered: number;
  dropped: number;
  clients: number;
}

function serveMjpeg(frames: Buffer[], served: Served): Promise<http.Server> {
  const server = http.createServer((_req, res) => {
    served.clients++;
    res.writeHead(200, { "Content-Type": "multipart/x-mixed-replace; boundary=frame" });
    let i = 0;
    let inFlight = false;
    const timer = setInterval(() => {
      if (inFlight || res.writableNeedDrain) {
        served.dropped++;
        return;
      }
      const f = frames[i++ % frames.length]!;
      inFlight = true;
      res.write(`--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ${f.length}\r\n\r\n`);
      res.write(f);
      res.write("\r\n", () => {
        inFlight = false;
        served.delivered++;
      });
    }, 1000 / FPS);
    res.on("close", () => clearInterval(timer));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

export async function runMotion(ctx: BenchContext): Promise<void> {
  const scope = ctx.scope();
  const recording = record() as Buffer[] & { clock: FakeClock; off: () => void };
  await Promise.resolve();
  recording.clock.tick(SECONDS * 1000);
  recording.off();
  const frames = [...recording];
  const bytes = frames.reduce((n, f) => n + f.length, 0);
  console.log(`  recorded: ${frames.length} frames of the simulated "person" script at ${W}×${H}, ${(bytes / frames.length / 1024).toFixed(1)} KiB a frame`);

  const rows: string[][] = [];
  const js = await ours(frames, jsGrayDecoder, 1);
  rows.push(["PiFog motion-detect, jpeg-js (portable)", js.fps.toFixed(1), String(js.events)]);
  // the decoder motion-detect picks on this machine (nodes/motion-detect: fastGrayDecoder())
  const used = fastGrayDecoder();
  let usedFps = js.fps;
  if (used.name === "sharp") {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const sharp = require("sharp") as typeof import("sharp");
    const threads = sharp.concurrency();
    sharp.concurrency(1); // one core: libvips may use one thread, and frames go through one at a time
    console.log(`  sharp: libvips held to 1 thread (sharp.concurrency(1); it would use ${threads})`);
    const s = await ours(frames, used, 3);
    rows.push(["PiFog motion-detect, sharp (shrink on load, 1 thread)", s.fps.toFixed(1), String(s.events)]);
    usedFps = s.fps;
  }

  if (!fs.existsSync("/usr/bin/motion")) {
    rows.push(["motion (Debian)", "–", "not installed: sudo apt-get install motion"]);
  } else {
    const served: Served = { delivered: 0, dropped: 0, clients: 0 };
    const server = await serveMjpeg(frames, served);
    scope.defer("stop the MJPEG server", () => new Promise<void>((r) => server.close(() => r())));
    const dir = tempDir(scope, "pifog-bench-motion-");
    const port = (server.address() as AddressInfo).port;
    const conf = path.join(dir, "motion.conf");
    fs.writeFileSync(
      conf,
      [
        "daemon off",
        "setup_mode off",
        `target_dir ${dir}`,
        `log_file ${path.join(dir, "motion.log")}`,
        `pid_file ${path.join(dir, "motion.pid")}`,
        `netcam_url http://127.0.0.1:${port}/`,
        `width ${W}`,
        `height ${H}`,
        `framerate ${FPS}`,
        "threshold 1500",
        "picture_output off",
        "movie_output off",
        "webcontrol_port 0",
        "stream_port 0",
        "",
      ].join("\n"),
    );
    const child = spawn("/usr/bin/motion", ["-n", "-c", conf], { stdio: "ignore" });
    scope.defer("stop motion", () => stopChild(child), () => child.kill("SIGKILL"));
    await new Promise((r) => setTimeout(r, 3000)); // it connects and starts its loop
    const cpu0 = cpuSeconds(child.pid!);
    const before = { ...served };
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, MOTION_SECONDS * 1000));
    const cpu = cpuSeconds(child.pid!) - cpu0;
    const seconds = (Date.now() - t0) / 1000;
    const took = served.delivered - before.delivered;
    const dropped = served.dropped - before.dropped;
    await stopChild(child);
    if (served.clients === 0 || took === 0) {
      rows.push(["motion (Debian)", "–", `read no frames (${served.clients} connections): see ${path.join(dir, "motion.log")}`]);
    } else {
      console.log(
        `  motion: took ${took} frames in ${seconds.toFixed(1)} s (${(took / seconds).toFixed(1)} fps offered ${FPS}), ${dropped} dropped behind it, ` +
          `${cpu.toFixed(2)} CPU-seconds, ${served.clients} connection(s)`,
      );
      rows.push(["motion (Debian 4.5.1, netcam over loopback HTTP; frames counted at the server)", (took / Math.max(cpu, 1e-6)).toFixed(1), "–"]);
    }
  }
  console.log(table(["decode + motion detection, 640×480", "frames per CPU-second", "events"], rows));
  ctx.target({
    target: `decode + motion detection ≥ ${TARGET_FPS} fps at 640×480 on one core, on the path motion-detect uses here (${used.name})`,
    measured: `${usedFps.toFixed(1)} fps with ${used.name}${used.name === "sharp" ? ` (1 thread); jpeg-js, the portable path (a Pi Zero's): ${js.fps.toFixed(1)} fps${js.fps < TARGET_FPS ? ", under the target" : ""}` : ""}`,
    pass: usedFps >= TARGET_FPS,
  });
  await scope.close();
}
