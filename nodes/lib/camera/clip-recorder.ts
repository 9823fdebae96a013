// Motion clips with pre-roll, into the Pi's spool. Every frame goes through a ring buffer (the last preSeconds, bounded
// by bytes too); when motion becomes active a clip opens with the ring's frames and goes on through the event and
// postSeconds after it ends (motion again inside the post-roll extends it), cut at maxClipSeconds (a new clip starts
// at once if motion is still on). Frames are appended to `<id>.mjpeg` as they come: a clip is never held in memory,
// only its best frame (the thumbnail). When it ends it is finished off the frame path, one clip at a time: the
// thumbnail written, the MJPEG remuxed to MP4 when ffmpeg is there (no re-encode), hashed, and put in the spool
// (its JSON last, so a crash leaves only files the next start sweeps).
import fs from "node:fs";
import { PayloadError } from "../contract";
import type { Clock } from "../clock";
import { PRIVATE_FILE } from "../runtime/file-modes";
import { remuxToMp4 } from "./ffmpeg";
import { DEFAULT_RING_BYTES, FrameRing } from "./frame-ring";
import type { InputFrame, RecordingSettings } from "./frame-input";
import { hashFile, writeDurable } from "./media-file";
import { inWindow } from "./recording-window";
import type { Spool } from "./spool";
import type { SpoolItem } from "./types";

/** A clip whose stream stops sending frames ends this long after the last one. */
export const STREAM_STALL_MS = 10_000;

export type ClipSettings = Pick<RecordingSettings, "preSeconds" | "postSeconds" | "maxClipSeconds" | "recordingWindow" | "fps">;

export interface ClipRecorderOptions {
  spool: Spool;
  device: string;
  settings: ClipSettings;
  clock: Clock;
  /** Path of ffmpeg (remux to MP4), or null: clips stay MJPEG. */
  ffmpeg: string | null;
  /** The ring buffer's byte bound. */
  ringBytes?: number;
  /** A finished clip, in the spool. */
  onClip(item: SpoolItem): void;
  /** A clip lost (disk full…) or kept as MJPEG because the remux failed (`kept`): the recorder goes on. */
  onProblem(err: Error, kept: boolean): void;
  /** The remux's own CPU, ms (the bench). */
  onRemuxCpu?(ms: number): void;
}

/** Why a clip ended (the node's status says it). */
export type EndReason = "post-roll" | "cap" | "window" | "size" | "stalled" | "closing";

interface OpenClip {
  id: string;
  fd: number;
  start: number;
  last: number;
  frames: number;
  width: number;
  height: number;
  best: { jpeg: Buffer; score: number };
  /** The first inactive frame after the event (its end), or null while motion is on. */
  endedAt: number | null;
}

/** fsync then close, in the thread pool; the descriptor is closed whatever happens. */
async function flushAndClose(fd: number): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
  } finally {
    await new Promise<void>((resolve) => fs.close(fd, () => resolve()));
  }
}

export class ClipRecorder {
  private settings: ClipSettings;
  private readonly ring: FrameRing;
  private clip: OpenClip | null = null;
  /** The last frame of the last clip: the next clip's pre-roll starts after it. */
  private lastClipEnd = -Infinity;
  private lastAt = -Infinity;
  /** The stream's frame size: when it changes (new settings), the pre-roll of the old size is dropped. */
  private size = "";
  private stall: unknown = null;
  private finishing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly o: ClipRecorderOptions) {
    this.settings = { ...o.settings };
    this.ring = new FrameRing(o.settings.preSeconds * 1000, o.ringBytes ?? DEFAULT_RING_BYTES);
  }

  /** Whether a clip is open. */
  get recording(): boolean {
    return this.clip !== null;
  }

  /** Bytes the pre-roll holds now. */
  get ringBytes(): number {
    return this.ring.bytes;
  }

  get ringFrames(): number {
    return this.ring.length;
  }

  /** New settings, at once: the pre-roll is trimmed now, the rest applies from the next frame. */
  apply(settings: ClipSettings): void {
    this.settings = { ...settings };
    this.ring.setSpan(settings.preSeconds * 1000);
  }

  /** Takes a frame; returns why a clip ended on it, if one did. Throws a PayloadError for a frame older than the last. */
  frame(f: InputFrame): { started: boolean; ended: EndReason | null } {
    if (this.closed) return { started: false, ended: null };
    if (f.at < this.lastAt) throw new PayloadError(`frame: at ${f.at} is older than the frame before (${this.lastAt})`);
    this.lastAt = f.at;
    const size = `${f.width}x${f.height}`;
    if (size !== this.size) this.ring.clear();
    this.size = size;
    const s = this.settings;
    let ended: EndReason | null = null;
    if (!inWindow(s.recordingWindow, f.at)) {
      if (this.clip) ended = this.end("window");
      this.ring.clear();
      return { started: false, ended };
    }
    const ringFrame = { jpeg: f.jpeg, at: f.at, score: f.score };
    let started = false;
    const clip = this.clip;
    if (clip) {
      if (f.width !== clip.width || f.height !== clip.height) ended = this.end("size");
      else if (f.at - clip.start >= s.maxClipSeconds * 1000) ended = this.end("cap");
      else {
        if (f.active) clip.endedAt = null;
        else if (clip.endedAt === null) clip.endedAt = f.at;
        if (clip.endedAt !== null && f.at > clip.endedAt + s.postSeconds * 1000) ended = this.end("post-roll");
        else this.append(clip, ringFrame);
      }
    }
    if (!this.clip && f.active && ended !== "post-roll") {
      // motion starts (or goes on past a cut): a new clip, with the frames the last one did not have as pre-roll
      started = this.open(f, this.ring.preRoll(f.at, this.lastClipEnd));
    }
    this.ring.push(ringFrame);
    if (this.clip) this.watchStall();
    return { started, ended };
  }

  /** Ends the open clip now (it is finished in the background; `idle()` waits for it). */
  end(reason: EndReason): EndReason {
    const clip = this.clip;
    if (!clip) return reason;
    this.clip = null;
    this.lastClipEnd = clip.last;
    this.clearStall();
    // flushed and closed off the frame path (an SD card's fsync can take a while): the finisher does it
    this.finishing = this.finishing
      .then(() => flushAndClose(clip.fd))
      .then(() => this.finish(clip))
      .catch((err: Error) => {
        this.removeFiles(clip.id);
        this.o.onProblem(new Error(`clip ${clip.id}: ${err.message}`), false);
      });
    return reason;
  }

  /** Resolves when every ended clip is in the spool (or reported lost). */
  idle(): Promise<void> {
    return this.finishing;
  }

  /** Ends the open clip, finishes it and every other one; takes no more frames. */
  async close(): Promise<void> {
    this.closed = true;
    this.end("closing");
    this.ring.clear();
    await this.finishing;
  }

  private open(f: InputFrame, preRoll: Array<{ jpeg: Buffer; at: number; score: number }>): boolean {
    const start = preRoll[0]?.at ?? f.at;
    const id = this.freeId(start);
    let fd: number;
    try {
      fd = fs.openSync(this.o.spool.file(`${id}.mjpeg`), "wx", PRIVATE_FILE);
    } catch (err) {
      this.o.onProblem(new Error(`clip ${id}: could not open: ${(err as Error).message}`), false);
      return false;
    }
    const first = preRoll[0] ?? { jpeg: f.jpeg, at: f.at, score: f.score };
    const clip: OpenClip = { id, fd, start, last: start, frames: 0, width: f.width, height: f.height, best: { jpeg: first.jpeg, score: -Infinity }, endedAt: null };
    this.clip = clip;
    for (const p of preRoll) if (!this.append(clip, p)) return false;
    return this.append(clip, { jpeg: f.jpeg, at: f.at, score: f.score });
  }

  private append(clip: OpenClip, f: { jpeg: Buffer; at: number; score: number }): boolean {
    try {
      let off = 0;
      while (off < f.jpeg.length) off += fs.writeSync(clip.fd, f.jpeg, off, f.jpeg.length - off);
    } catch (err) {
      // a full or failing disk: this clip is lost, the next motion tries again
      this.clip = null;
      this.lastClipEnd = clip.last;
      this.clearStall();
      try {
        fs.closeSync(clip.fd);
      } catch {
        // closed anyway
      }
      this.removeFiles(clip.id);
      this.o.onProblem(new Error(`clip ${clip.id}: could not write: ${(err as Error).message}`), false);
      return false;
    }
    clip.frames++;
    clip.last = f.at;
    if (f.score > clip.best.score) clip.best = { jpeg: f.jpeg, score: f.score };
    return true;
  }

  /** `clip-<start>`, or `clip-<start>-<n>` when a file of that name is in the spool already. */
  private freeId(start: number): string {
    const taken = (id: string) => ["json", "mjpeg", "mp4", "jpg"].some((ext) => fs.existsSync(this.o.spool.file(`${id}.${ext}`)));
    let id = `clip-${Math.round(start)}`;
    for (let n = 1; taken(id) && n < 10_000; n++) id = `clip-${Math.round(start)}-${n}`;
    return id;
  }

  private async finish(clip: OpenClip): Promise<void> {
    const spool = this.o.spool;
    const spanMs = clip.last - clip.start;
    const fps = clip.frames > 1 && spanMs > 0 ? ((clip.frames - 1) * 1000) / spanMs : this.settings.fps;
    const thumbnail = `${clip.id}.jpg`;
    writeDurable(spool.file(thumbnail), clip.best.jpeg);
    let media = `${clip.id}.mjpeg`;
    let format: SpoolItem["format"] = "mjpeg";
    if (this.o.ffmpeg) {
      const mp4 = `${clip.id}.mp4`;
      try {
        const { cpuMs } = await remuxToMp4(this.o.ffmpeg, spool.file(media), spool.file(mp4), { fps, measureCpu: !!this.o.onRemuxCpu });
        if (cpuMs !== null) this.o.onRemuxCpu?.(cpuMs);
        await flushAndClose(fs.openSync(spool.file(mp4), "r"));
        fs.rmSync(spool.file(media), { force: true });
        media = mp4;
        format = "mp4";
      } catch (err) {
        fs.rmSync(spool.file(mp4), { force: true });
        this.o.onProblem(new Error(`clip ${clip.id} kept as MJPEG: ${(err as Error).message}`), true);
      }
    }
    const { sha256, bytes } = await hashFile(spool.file(media));
    const item: SpoolItem = {
      id: clip.id,
      kind: "clip",
      device: this.o.device,
      start: clip.start,
      end: clip.last,
      durationMs: Math.round((clip.frames * 1000) / fps),
      score: Math.max(0, clip.best.score),
      media,
      format,
      thumbnail,
      sha256,
      bytes,
      frames: clip.frames,
    };
    spool.put(item);
    this.o.onClip(item);
  }

  private removeFiles(id: string): void {
    for (const ext of ["mjpeg", "mp4", "jpg"]) fs.rmSync(this.o.spool.file(`${id}.${ext}`), { force: true });
  }

  private watchStall(): void {
    this.clearStall();
    this.stall = this.o.clock.setTimeout(() => {
      this.stall = null;
      if (this.clip && !this.closed) this.end("stalled");
    }, STREAM_STALL_MS);
  }

  private clearStall(): void {
    if (this.stall !== null) this.o.clock.clearTimeout(this.stall);
    this.stall = null;
  }
}
