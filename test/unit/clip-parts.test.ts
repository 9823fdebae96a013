// The recording pieces on their own: the pre-roll ring's memory bound, the recording window, the time-lapse grid, the
// frame checks, ffmpeg's frame-rate argument and its lookup on PATH.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ClipRecorder } from "../../nodes/lib/camera/clip-recorder";
import { benchmarkCpuMs, findOnPath, framerateArg } from "../../nodes/lib/camera/ffmpeg";
import { frameOf, isWholeJpeg, recordingSettingsOf } from "../../nodes/lib/camera/frame-input";
import { FrameRing } from "../../nodes/lib/camera/frame-ring";
import { inWindow } from "../../nodes/lib/camera/recording-window";
import { Spool } from "../../nodes/lib/camera/spool";
import { nextSlot, TimelapseSchedule } from "../../nodes/lib/camera/timelapse";
import { DEFAULT_CAMERA_SETTINGS, type SpoolItem } from "../../nodes/lib/camera/types";
import { frameJpeg, frameMessage, tagged } from "../support/camera-frames";
import { FakeClock } from "../support/fake-clock";

/** Local clock ms of `hh:mm` on 28 March 2026 (the window and the grid are in the Pi's local time). */
const localAt = (hh: number, mm: number, ss = 0) => new Date(2026, 2, 28, hh, mm, ss).getTime();

describe("clip recording parts", () => {
  describe("the pre-roll ring", () => {
    it("never holds more bytes than its bound, whatever the frames' size or the pre-roll's length", () => {
      const ring = new FrameRing(60_000, 100_000);
      let peak = 0;
      for (let i = 0; i < 2000; i++) {
        const size = 1000 + ((i * 7919) % 30_000); // 1..31 kB
        ring.push({ jpeg: Buffer.alloc(size), at: i * 100, score: 0 });
        peak = Math.max(peak, ring.bytes);
        assert.ok(ring.bytes <= 100_000, `frame ${i}: ${ring.bytes} bytes held`);
      }
      assert.ok(peak > 60_000, "it does fill up to near its bound");
      const held = ring.preRoll(2000 * 100, -Infinity);
      assert.equal(held.at(-1)!.at, 1999 * 100, "the newest frames are the ones kept");
      assert.equal(held.reduce((n, f) => n + f.jpeg.length, 0), ring.bytes);
    });

    it("holds preSeconds of frames, shortened at once when the setting shrinks", () => {
      const ring = new FrameRing(5000);
      for (let i = 0; i <= 100; i++) ring.push({ jpeg: Buffer.alloc(10), at: i * 100, score: 0 });
      assert.deepEqual([ring.preRoll(10_100, -Infinity)[0]!.at, ring.length], [5100, 51]);
      ring.setSpan(1000);
      assert.equal(ring.length, 11);
      assert.equal(ring.preRoll(10_100, 9500).length, 5, "after a clip's last frame only");
    });

    it("a recorder's clip gets a shorter pre-roll when the bound is reached, and its memory stays in it", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-ring-"));
      try {
        const clock = new FakeClock();
        const clips: SpoolItem[] = [];
        const jpeg = frameJpeg(0);
        const frameBytes = jpeg.length;
        const recorder = new ClipRecorder({
          spool: new Spool(dir),
          device: "cam1",
          clock,
          ffmpeg: null,
          ringBytes: 20 * frameBytes + 10,
          settings: { ...DEFAULT_CAMERA_SETTINGS, preSeconds: 5, postSeconds: 0 },
          onClip: (item) => clips.push(item),
          onProblem: (err) => assert.fail(err.message),
        });
        for (let i = 0; i < 200; i++) {
          const f = frameOf(frameMessage(clock.now(), i, { jpeg, motion: { active: i >= 100 && i < 110 } }), "cam1");
          recorder.frame(f);
          assert.ok(recorder.ringBytes <= 20 * frameBytes + 10);
          clock.tick(100);
        }
        await recorder.idle();
        assert.equal(clips.length, 1);
        // 20 frames of pre-roll (2 s, not 5), 10 of motion, the first still frame (post-roll 0)
        assert.equal(clips[0]!.frames, 20 + 10 + 1);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("the recording window", () => {
    it("is [from, to) in local time; from after to spans midnight; null and from = to are always", () => {
      const w = { from: "08:00", to: "18:30" };
      assert.equal(inWindow(w, localAt(7, 59, 59)), false);
      assert.equal(inWindow(w, localAt(8, 0)), true);
      assert.equal(inWindow(w, localAt(18, 29, 59)), true);
      assert.equal(inWindow(w, localAt(18, 30)), false);
      const night = { from: "22:00", to: "06:00" };
      assert.equal(inWindow(night, localAt(23, 0)), true);
      assert.equal(inWindow(night, localAt(3, 0)), true);
      assert.equal(inWindow(night, localAt(12, 0)), false);
      assert.equal(inWindow(null, localAt(12, 0)), true);
      assert.equal(inWindow({ from: "10:00", to: "10:00" }, localAt(3, 0)), true);
    });
  });

  describe("the time-lapse grid", () => {
    it("falls on local multiples of the interval; a slot passed outside the window is skipped", () => {
      assert.equal(nextSlot(localAt(10, 7, 30), 15 * 60_000), localAt(10, 15));
      assert.equal(nextSlot(localAt(10, 15), 15 * 60_000), localAt(10, 30));
      let now = localAt(9, 58);
      const s = new TimelapseSchedule(() => now);
      s.setMinutes(5);
      const window = { from: "10:00", to: "10:12" };
      const taken: number[] = [];
      for (let at = localAt(9, 58); at < localAt(10, 30); at += 10_000) {
        now = at;
        if (s.take(at, window)) taken.push(at);
      }
      assert.deepEqual(taken, [localAt(10, 0), localAt(10, 5), localAt(10, 10)]);
    });
  });

  describe("frame input", () => {
    it("takes a JPEG with its frame info; motion is optional", () => {
      const f = frameOf(frameMessage(1000, 7, { motion: { active: true, score: 3 } }), "cam1");
      assert.deepEqual([f.at, f.seq, f.width, f.height, f.score, f.active], [1000, 7, 64, 48, 3, true]);
      const g = frameOf(frameMessage(1000, 7), "cam1");
      assert.deepEqual([g.score, g.active], [0, false]);
    });

    it("refuses what is not a whole JPEG, missing or bad frame info, bad motion", () => {
      const jpeg = frameJpeg(1);
      assert.ok(isWholeJpeg(jpeg) && isWholeJpeg(tagged(jpeg, 3)));
      assert.equal(isWholeJpeg(jpeg.subarray(0, jpeg.length - 10)), false, "a torn JPEG");
      assert.throws(() => frameOf({ payload: "x" }, "cam1"), /must be a JPEG Buffer, not string/);
      assert.throws(() => frameOf({ payload: Buffer.from("GIF89a....") }, "cam1"), /not a JPEG/);
      assert.throws(() => frameOf({ payload: jpeg }, "cam1"), /no msg\.frame/);
      assert.throws(() => frameOf({ payload: jpeg, frame: { at: 1, seq: 1, width: 0, height: 48, device: "cam1" } }, "cam1"), /whole pixels/);
      assert.throws(() => frameOf({ ...frameMessage(1, 1), motion: { score: "high", active: true } }, "cam1"), /msg\.motion/);
      const m = frameMessage(1, 1);
      assert.throws(() => frameOf({ ...m, frame: { ...m.frame, width: 640 } }, "cam1"), /msg\.frame says 640×48, the JPEG is 64×48/);
    });

    it("checks the settings' recording fields", () => {
      const ok = recordingSettingsOf({ topic: "camera/settings", settings: { ...DEFAULT_CAMERA_SETTINGS, recordingWindow: { from: "22:00", to: "06:00" } } });
      assert.deepEqual(ok.recordingWindow, { from: "22:00", to: "06:00" });
      assert.throws(
        () => recordingSettingsOf({ topic: "camera/settings", settings: { ...DEFAULT_CAMERA_SETTINGS, recordingWindow: { from: "8am", to: "18:00" } } }),
        /"8am" is not a time HH:MM/,
      );
      assert.throws(() => recordingSettingsOf({ topic: "camera/settings", settings: { ...DEFAULT_CAMERA_SETTINGS, maxClipSeconds: 0 } }), /maxClipSeconds/);
    });
  });

  describe("ffmpeg", () => {
    it("gets the measured frame rate as a rational and its CPU from -benchmark", () => {
      assert.equal(framerateArg(10), "10000/1000");
      assert.equal(framerateArg(9.8765), "9877/1000");
      assert.throws(() => framerateArg(0));
      assert.equal(benchmarkCpuMs("…\nbench: utime=0.120s stime=0.030s rtime=0.200s\n"), 150);
    });

    it("is looked up on PATH: an executable file, not a folder or a plain file", () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-path-"));
      try {
        fs.mkdirSync(path.join(dir, "ffprobe"));
        fs.writeFileSync(path.join(dir, "ffmpeg"), "#!/bin/sh\n", { mode: 0o644 });
        assert.equal(findOnPath("ffmpeg", { PATH: dir }), null);
        assert.equal(findOnPath("ffprobe", { PATH: dir }), null);
        fs.chmodSync(path.join(dir, "ffmpeg"), 0o755);
        assert.equal(findOnPath("ffmpeg", { PATH: `/nonexistent${path.delimiter}${dir}` }), path.join(dir, "ffmpeg"));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
