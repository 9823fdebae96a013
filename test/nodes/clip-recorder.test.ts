// The clip-recorder node on the camera Pi, fed frames the test makes (10 fps on the fake clock, motion where the test
// says): pre-roll and post-roll, the length cap, MP4 that ffprobe can read (or MJPEG without ffmpeg), the thumbnail,
// the recording window, the sweep at start, live settings, and bad input.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import clipRecorder from "../../nodes/clip-recorder/clip-recorder";
import { findFfmpeg, probe } from "../../nodes/lib/camera/ffmpeg";
import { isWholeJpeg } from "../../nodes/lib/camera/frame-input";
import { sha256 } from "../../nodes/lib/camera/media-file";
import { Spool, spoolDir } from "../../nodes/lib/camera/spool";
import { DEFAULT_CAMERA_SETTINGS, type CameraSettings, type SettingsMessage, type SpoolItem } from "../../nodes/lib/camera/types";
import { DeadLetterFile } from "../../nodes/lib/dead-letter";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import { frameJpeg, frameMessage, jpegFrame, type FrameOptions } from "../support/camera-frames";
import { FakeClock } from "../support/fake-clock";
import { translated } from "../support/messages";
import { deviceNode, helper, loadUntilOnline, startHarness, type Harness } from "../support/node-harness";
import { until } from "../support/until";

// with the nodes' own message catalogs, as the editor and the log show them
const nodes = translated([pifogDevice, clipRecorder]);
const FRAME_MS = 100;
const tools = findFfmpeg();

function flow(url: string, node: Record<string, unknown> = {}) {
  return [
    deviceNode("cam1", url, { role: "camerapi" }),
    { id: "rec", type: "clip-recorder", z: "tab", device: "cfg-cam1", wires: [["out"]], ...node },
    { id: "out", type: "helper", z: "tab" },
    { id: "catcher", type: "catch", z: "tab", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper", z: "tab" },
    { id: "tab", type: "tab" },
  ];
}

type Motion = FrameOptions["motion"];

describe("clip-recorder node", function () {
  this.timeout(30_000);
  let h: Harness;
  let clock: FakeClock;
  let clips: SpoolItem[];
  let caught: Array<{ error: { message: string } }>;
  let seq: number;

  beforeEach(async () => {
    h = await startHarness();
    clock = new FakeClock(Date.UTC(2026, 2, 28, 12, 0, 0));
    h.useServices({ clock });
    clips = [];
    caught = [];
    seq = 0;
  });
  afterEach(async () => {
    await h.close();
  });

  async function load(node: Record<string, unknown> = {}): Promise<void> {
    await loadUntilOnline(h, nodes, flow(h.url, node), "cam1");
    (helper.getNode("out") as unknown as NodeJS.EventEmitter).on("input", (m: { payload: SpoolItem }) => clips.push(m.payload));
    (helper.getNode("caught") as unknown as NodeJS.EventEmitter).on("input", (m: { error: { message: string } }) => caught.push(m));
  }

  const rec = () => helper.getNode("rec")!;
  const spool = () => new Spool(spoolDir(h.dataDir, "cam1"));

  /** `seconds` of frames at 10 fps, each at the clock's now, motion from `motion` (by frame time); their times. */
  function feed(seconds: number, motion: Motion | ((at: number) => Motion), extra: FrameOptions = {}): number[] {
    const ats: number[] = [];
    for (let i = 0; i < Math.round((seconds * 1000) / FRAME_MS); i++) {
      const at = clock.now();
      const m = typeof motion === "function" ? motion(at) : motion;
      rec().receive(frameMessage(at, seq++, { ...extra, motion: m }) as never);
      ats.push(at);
      clock.tick(FRAME_MS);
    }
    return ats;
  }

  function settings(s: Partial<CameraSettings>): void {
    const msg: SettingsMessage = { topic: "camera/settings", settings: { ...DEFAULT_CAMERA_SETTINGS, ...s } };
    rec().receive(msg as never);
  }

  const clipsOf = (n: number) => until(() => clips.length >= n, `${n} clip(s)`, 20_000, () => clips.map((c) => c.id));
  const still = { active: false, score: 0.2 };
  const moving = { active: true, score: 5 };

  it("a clip starts preSeconds before the motion and ends postSeconds after it, as MP4 with the top-score frame as thumbnail", async function () {
    if (!tools.ffmpeg) {
      console.log("      (ffmpeg is not installed here: the MP4 part is skipped; `sudo apt install ffmpeg`)");
      this.skip();
    }
    await load();
    feed(8, still);
    const eventStart = clock.now();
    let i = 0;
    const event = feed(3, () => ({ active: true, score: ++i === 17 ? 42 : 5 }));
    assert.equal(event.length, 30);
    const eventEnd = clock.now();
    feed(8, still);
    await clipsOf(1);
    const clip = clips[0]!;
    assert.equal(clip.kind, "clip");
    assert.equal(clip.device, "cam1");
    assert.equal(clip.id, `clip-${clip.start}`);
    const pre = eventStart - clip.start;
    assert.ok(pre >= 5000 - FRAME_MS && pre <= 5000, `pre-roll ${pre} ms`);
    const post = clip.end - eventEnd;
    assert.ok(post >= 5000 - FRAME_MS && post <= 5000, `post-roll ${post} ms`);
    assert.equal(clip.frames, (clip.end - clip.start) / FRAME_MS + 1);
    assert.equal(clip.durationMs, clip.frames * FRAME_MS);
    assert.equal(clip.score, 42);
    assert.equal(clip.format, "mp4");
    assert.equal(clip.media, `${clip.id}.mp4`);
    const dir = spoolDir(h.dataDir, "cam1");
    const media = fs.readFileSync(path.join(dir, clip.media));
    assert.equal(clip.sha256, sha256(media));
    assert.equal(clip.bytes, media.length);
    assert.ok(!fs.existsSync(path.join(dir, `${clip.id}.mjpeg`)), "the MJPEG is gone after the remux");
    // the thumbnail is the frame that had score 42: the event's 17th
    const thumb = fs.readFileSync(path.join(dir, clip.thumbnail));
    const seqOf17th = 80 + 16;
    assert.ok(thumb.equals(frameJpeg(seqOf17th)), "the thumbnail is the top-score frame");
    assert.deepEqual(spool().list().map((c) => c.id), [clip.id], "in the spool, complete");

    if (!tools.ffprobe) {
      console.log("      (ffprobe is not installed here: the playability check is skipped)");
      return;
    }
    const p = await probe(tools.ffprobe, path.join(dir, clip.media));
    assert.equal(p.codec, "mjpeg");
    assert.match(p.format, /mp4/);
    assert.deepEqual([p.width, p.height], [64, 48]);
    assert.equal(p.frames, clip.frames);
    assert.ok(Math.abs(p.durationSeconds - clip.durationMs / 1000) < 0.05, `ffprobe says ${p.durationSeconds} s, the item ${clip.durationMs} ms`);
  });

  it("motion again inside the post-roll extends the clip; the cap splits a long event into clips that follow each other", async () => {
    await load({ container: "mjpeg" });
    settings({ preSeconds: 2, postSeconds: 3, maxClipSeconds: 10 });
    feed(3, still);
    const start = clock.now();
    feed(2, moving);
    feed(2, still); // inside the 3 s post-roll
    feed(20, moving); // long: cut at 10 s
    const end = clock.now();
    feed(5, still);
    await clipsOf(3);
    await new Promise((r) => setImmediate(r));
    assert.equal(clips.length, 3, clips.map((c) => c.id).join());
    const [a, b, c] = clips as [SpoolItem, SpoolItem, SpoolItem];
    assert.equal(start - a.start, 2000, "2 s of pre-roll");
    for (const clip of clips) assert.ok(clip.end - clip.start < 10_000, `${clip.id} is ${clip.end - clip.start} ms long`);
    assert.equal(b.start, a.end + FRAME_MS, "the next clip starts with the next frame");
    assert.equal(c.start, b.end + FRAME_MS);
    assert.equal(c.end - end, 3000, "the last one ends 3 s after the motion");
    assert.equal(a.frames + b.frames + c.frames, (c.end - a.start) / FRAME_MS + 1, "no frame lost or twice");
    for (const clip of clips) assert.equal(clip.format, "mjpeg");
  });

  it("without ffmpeg on PATH a clip is an .mjpeg file of the frames as they came", async () => {
    const saved = process.env.PATH;
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-nopath-"));
    process.env.PATH = empty;
    try {
      await load();
    } finally {
      process.env.PATH = saved;
      fs.rmSync(empty, { recursive: true, force: true });
    }
    settings({ preSeconds: 1, postSeconds: 1 });
    feed(2, still);
    const ats = feed(1, moving);
    feed(2, still);
    await clipsOf(1);
    const clip = clips[0]!;
    assert.equal(clip.format, "mjpeg");
    assert.equal(clip.media, `${clip.id}.mjpeg`);
    const bytes = fs.readFileSync(path.join(spoolDir(h.dataDir, "cam1"), clip.media));
    // the frames back to back: pre-roll (1 s) + event (1 s) + post-roll (1 s, from the first still frame)
    const firstSeq = 20 - 10;
    const expected = Buffer.concat(Array.from({ length: clip.frames }, (_, i) => frameJpeg(firstSeq + i)));
    assert.ok(bytes.equals(expected), "the MJPEG is the frames, concatenated");
    assert.equal(clip.frames, 10 + ats.length + 11);
    assert.ok(isWholeJpeg(fs.readFileSync(path.join(spoolDir(h.dataDir, "cam1"), clip.thumbnail))));
  });

  it("records nothing outside the recording window, and cuts a clip at the window's end", async () => {
    await load({ container: "mjpeg" });
    // the window is in the Pi's local time: from 2 minutes after now to 3 minutes after
    const local = (ms: number) => new Date(ms).toTimeString().slice(0, 5);
    const from = clock.now() + 2 * 60_000;
    const to = clock.now() + 3 * 60_000;
    settings({ preSeconds: 5, postSeconds: 5, recordingWindow: { from: local(from), to: local(to) } });
    feed(10, moving); // before the window
    clock.tick(from - clock.now() - 3000);
    feed(3, still); // the last 3 s before the window
    feed(6, moving); // motion starts right at the window's start
    clock.tick(to - clock.now() - 2000);
    feed(4, moving); // motion over the window's end
    feed(10, moving); // after it
    await clipsOf(2);
    await new Promise((r) => setImmediate(r));
    assert.equal(clips.length, 2);
    const [a, b] = clips as [SpoolItem, SpoolItem];
    assert.equal(a.start, from, "no pre-roll from before the window");
    assert.ok(b.end < to && b.end >= to - FRAME_MS, "cut at the window's end");
    assert.deepEqual(spool().list().length, 2);
  });

  it("sweeps a crash's half-written clip (media without JSON) at start, keeps complete items, and only at start", async () => {
    const dir = spoolDir(h.dataDir, "cam1");
    const s = new Spool(dir);
    fs.writeFileSync(path.join(dir, "clip-1774690000000.mjpeg"), Buffer.concat([jpegFrame(1), jpegFrame(2).subarray(0, 100)]));
    fs.writeFileSync(path.join(dir, "clip-1774690000000.jpg"), jpegFrame(1));
    fs.writeFileSync(path.join(dir, "still-1774699100000.jpg"), jpegFrame(3));
    s.put({ id: "still-1774699100000", kind: "still", device: "cam1", start: 1774699100000, end: 1774699100000, durationMs: 0, score: 0, media: "still-1774699100000.jpg", format: "jpeg", thumbnail: "still-1774699100000.jpg", sha256: sha256(jpegFrame(3)), bytes: jpegFrame(3).length, frames: 1 });
    await load({ container: "mjpeg" });
    assert.deepEqual(fs.readdirSync(dir).sort(), ["still-1774699100000.jpg", "still-1774699100000.json"]);
    assert.ok(helper.log().args.some((a) => JSON.stringify(a).includes("clip-1774690000000.mjpeg")), "the sweep is logged");
    // a clip being written now is not swept by anything while the node runs
    settings({ preSeconds: 1, postSeconds: 1 });
    feed(1, moving);
    assert.ok(fs.readdirSync(dir).some((f) => f.endsWith(".mjpeg")));
    feed(2, still);
    await clipsOf(1);
    assert.deepEqual(spool().list().map((i) => i.kind), ["still", "clip"]);
  });

  it("takes new pre/post seconds at once", async () => {
    await load({ container: "mjpeg" });
    feed(6, still);
    let start = clock.now();
    feed(1, moving);
    let end = clock.now();
    feed(6, still);
    await clipsOf(1);
    assert.equal(start - clips[0]!.start, 5000);
    assert.equal(clips[0]!.end - end, 5000);
    settings({ preSeconds: 1, postSeconds: 2 });
    feed(3, still);
    start = clock.now();
    feed(1, moving);
    end = clock.now();
    feed(3, still);
    await clipsOf(2);
    assert.equal(start - clips[1]!.start, 1000);
    assert.equal(clips[1]!.end - end, 2000);
  });

  it("finishes the open clip when it is stopped (a deploy or shutdown), before it says it has closed", async () => {
    await load();
    feed(1, still);
    const ats = feed(2, moving);
    await helper.unload();
    const items = spool().list();
    assert.equal(items.length, 1);
    assert.equal(items[0]!.end, ats.at(-1));
    assert.equal(items[0]!.format, tools.ffmpeg ? "mp4" : "mjpeg");
  });

  it("ends a clip when the stream goes silent", async () => {
    await load({ container: "mjpeg" });
    feed(1, still);
    feed(2, moving);
    const last = clock.now() - FRAME_MS;
    clock.tick(10_000);
    await clipsOf(1);
    assert.equal(clips[0]!.end, last);
  });

  it("fails bad input (not a JPEG, no frame info, another device, bad settings) with a dead letter each, and goes on recording", async () => {
    await load({ container: "mjpeg" });
    rec().receive({ payload: Buffer.from("hello, not a jpeg") } as never);
    rec().receive({ payload: jpegFrame(1) } as never);
    rec().receive(frameMessage(clock.now(), 1, { device: "other" }) as never);
    rec().receive({ payload: jpegFrame(1), frame: { at: "noon", seq: 1, width: 64, height: 48, device: "cam1" } } as never);
    rec().receive({ topic: "camera/settings", settings: { ...DEFAULT_CAMERA_SETTINGS, postSeconds: -1 } } as never);
    await until(() => caught.length >= 5, "5 errors", 5000, () => caught.map((c) => c.error.message));
    const messages = caught.map((c) => c.error.message);
    assert.match(messages[0]!, /not a JPEG/);
    assert.match(messages[1]!, /no msg\.frame/);
    assert.match(messages[2]!, /from device "other", not this node's cam1/);
    assert.match(messages[3]!, /msg\.frame\.at must be clock ms/);
    assert.match(messages[4]!, /postSeconds must be a number 0\.\.600/);
    assert.equal(new DeadLetterFile(h.dataDir).read().length, 5);
    settings({ preSeconds: 1, postSeconds: 1 });
    feed(2, still);
    feed(1, moving);
    feed(2, still);
    await clipsOf(1);
    assert.equal(clips[0]!.frames, 10 + 10 + 11, "1 s before, 1 s of motion, 1 s after");
  });
});
