// The camera stream's drivers: the MJPEG splitter, and the Pi's rpicam-vid driver run for real against a fake
// rpicam-vid / libcamera-vid on PATH (a script printing JPEG-shaped frames): one process for two users, a restart
// after it dies, the fallback to libcamera-vid, and its kill when the last user leaves.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { MjpegSplitter, splitMjpeg } from "../../nodes/lib/camera/mjpeg";
import type { Frame } from "../../nodes/lib/camera/types";
import { systemClock } from "../../nodes/lib/clock";
import { piDrivers } from "../../nodes/lib/drivers/factory";
import { videoArgs } from "../../nodes/lib/drivers/pi/camera-stream";
import { DeviceHardware } from "../../nodes/lib/drivers/shared";
import type { StreamState } from "../../nodes/lib/drivers/types";

const FAKE = path.resolve(__dirname, "..", "..", "..", "test", "fixtures", "fake-camera", "fake-vid");
const jpegOf = (text: string) => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xfe, 0x00, text.length + 2]), Buffer.from(text), Buffer.from([0xff, 0x00, 0xff, 0xd9])]);

interface Logged {
  program: string;
  pid: number;
  args: string[];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("MJPEG splitter", () => {
  it("cuts a stream into its JPEGs whatever the chunks, skipping bytes between frames", () => {
    const frames = ["one", "two\u00ff", "three"].map(jpegOf);
    const stream = Buffer.concat([Buffer.from("junk"), frames[0]!, Buffer.from("\r\n--boundary\r\n\r\n"), frames[1]!, frames[2]!]);
    assert.deepEqual(splitMjpeg(stream), frames);
    for (const size of [1, 2, 3, 7, 64]) {
      const out: Buffer[] = [];
      const s = new MjpegSplitter((f) => out.push(f));
      for (let i = 0; i < stream.length; i += size) s.push(stream.subarray(i, i + size));
      assert.deepEqual(out, frames, `chunks of ${size} bytes`);
      assert.equal(s.pending, 0);
    }
  });

  it("bounds what it holds: a frame that never ends is dropped and the next one still comes out", () => {
    const out: Buffer[] = [];
    const s = new MjpegSplitter((f) => out.push(f), 1000);
    s.push(Buffer.from([0xff, 0xd8]));
    for (let i = 0; i < 10; i++) s.push(Buffer.alloc(300, 1));
    assert.ok(s.pending <= 1000, `holds ${s.pending} bytes`);
    s.push(jpegOf("next"));
    assert.deepEqual(out, [jpegOf("next")]);
    assert.ok(s.dropped >= 2000);
  });
});

describe("Pi camera stream (rpicam-vid, a fake one on PATH)", function () {
  this.timeout(30_000);
  let dir: string;
  let log: string;
  const oldLog = process.env.FAKE_VID_LOG;
  const oldFrames = process.env.FAKE_VID_FRAMES;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-vid-"));
    log = path.join(dir, "log.jsonl");
    process.env.FAKE_VID_LOG = log;
    delete process.env.FAKE_VID_FRAMES;
  });
  afterEach(() => {
    if (oldLog === undefined) delete process.env.FAKE_VID_LOG;
    else process.env.FAKE_VID_LOG = oldLog;
    if (oldFrames === undefined) delete process.env.FAKE_VID_FRAMES;
    else process.env.FAKE_VID_FRAMES = oldFrames;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const install = (program: string) => fs.symlinkSync(FAKE, path.join(dir, program));
  const started = (): Logged[] => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Logged) : []);
  const hardware = () => new DeviceHardware(piDrivers(systemClock, () => undefined, "/nonexistent", { video: { path: `${dir}:${path.dirname(process.execPath)}`, restartMs: 100, killGraceMs: 2000 } }));
  const format = { width: 640, height: 480, fps: 20, rotation: 180 as const };

  it("runs one rpicam-vid for two users with the asked-for arguments, and kills it when the last one leaves", async () => {
    install("rpicam-vid");
    install("libcamera-vid");
    const hw = hardware();
    const a = hw.for("camera-stream a").cameraStream(format);
    const b = hw.for("camera-stream b").cameraStream({ ...format, width: 320 });
    assert.equal(a, b, "one stream per device");
    const got = { a: [] as Frame[], b: [] as Frame[] };
    const offA = a.subscribe((f) => got.a.push(f));
    const offB = b.subscribe((f) => got.b.push(f));
    await until("frames for both", () => got.a.length >= 3 && got.b.length >= 3);
    const runs = started();
    assert.equal(runs.length, 1, "one process");
    assert.equal(runs[0]!.program, "rpicam-vid");
    assert.deepEqual(runs[0]!.args, videoArgs(format));
    assert.deepEqual(runs[0]!.args, ["--codec", "mjpeg", "-t", "0", "--width", "640", "--height", "480", "--framerate", "20", "-n", "--hflip", "--vflip", "-o", "-"]);
    assert.match(got.a[0]!.jpeg.toString("latin1"), /frame \d+ of/);
    assert.deepEqual([got.a[0]!.width, got.a[0]!.height], [640, 480]);
    assert.ok(got.a.every((f, i) => i === 0 || f.seq === got.a[i - 1]!.seq + 1), "seq counts up");
    offA();
    assert.ok(alive(runs[0]!.pid), "still running for the other user");
    offB();
    await until("the process gone", () => !alive(runs[0]!.pid));
    assert.equal(a.state.state, "stopped");
  });

  it("starts rpicam-vid again after it dies (the state says failing, then running), seq going on", async () => {
    install("rpicam-vid");
    process.env.FAKE_VID_FRAMES = "3";
    const stream = hardware().for("n").cameraStream(format);
    const frames: Frame[] = [];
    const states: StreamState[] = [];
    stream.onState((s) => states.push(s));
    const off = stream.subscribe((f) => frames.push(f));
    await until("two runs' frames", () => frames.length >= 6 && started().length >= 2);
    off();
    const failing = states.find((s) => s.state === "failing");
    assert.ok(failing && failing.state === "failing" && /rpicam-vid stopped \(exit code 3\)/.test(failing.message), JSON.stringify(states));
    assert.deepEqual(frames.slice(0, 6).map((f) => f.seq), [1, 2, 3, 4, 5, 6]);
    const pids = started().map((r) => r.pid);
    assert.equal(new Set(pids).size, pids.length, "a new process each time");
  });

  it("falls back to libcamera-vid where rpicam-vid is not installed, and says so when neither is", async () => {
    install("libcamera-vid");
    const stream = hardware().for("n").cameraStream(format);
    const frames: Frame[] = [];
    const off = stream.subscribe((f) => frames.push(f));
    await until("frames", () => frames.length >= 2);
    off();
    assert.equal(started()[0]!.program, "libcamera-vid");

    fs.unlinkSync(path.join(dir, "libcamera-vid"));
    const none = hardware().for("n").cameraStream(format);
    const states: StreamState[] = [];
    none.onState((s) => states.push(s));
    const offNone = none.subscribe(() => undefined);
    await until("a failing state", () => states.some((s) => s.state === "failing"));
    offNone();
    const s = states.find((x) => x.state === "failing")!;
    assert.match((s as { message: string }).message, /neither rpicam-vid nor libcamera-vid is installed/);
  });
});
