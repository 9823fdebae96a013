// The pre-roll: the last `spanMs` of frames, held in memory until motion starts a clip. Bounded twice: by time (the
// settings' preSeconds) and by bytes, so a large frame size or a long pre-roll cannot take a 512 MB Pi Zero's memory
// (the oldest frames go first; the clip then has a shorter pre-roll).

export interface RingFrame {
  jpeg: Buffer;
  at: number;
  score: number;
}

/** 16 MiB: 5 s of 640×480 at 10 fps is about 2 MiB, 10 s of 1280×720 at 15 fps about 15 MiB. */
export const DEFAULT_RING_BYTES = 16 * 1024 * 1024;

export class FrameRing {
  private frames: RingFrame[] = [];
  private head = 0;
  private held = 0;

  constructor(
    private spanMs: number,
    readonly maxBytes: number = DEFAULT_RING_BYTES,
  ) {
    if (!(maxBytes > 0)) throw new Error(`ring buffer: ${maxBytes} bytes is no room`);
  }

  /** Bytes of JPEG held now. */
  get bytes(): number {
    return this.held;
  }

  get length(): number {
    return this.frames.length - this.head;
  }

  /** A new pre-roll length: applies at once (a shorter one drops what is now too old). */
  setSpan(spanMs: number): void {
    this.spanMs = Math.max(0, spanMs);
    const newest = this.frames[this.frames.length - 1];
    if (newest) this.trim(newest.at);
  }

  push(frame: RingFrame): void {
    this.frames.push(frame);
    this.held += frame.jpeg.length;
    this.trim(frame.at);
  }

  /** The pre-roll of an event starting at `at`: the frames held from `at - span` and before `at`, oldest first, and
   * only those after `after` (frames already in a clip stay out of the next one). */
  preRoll(at: number, after: number): RingFrame[] {
    const from = at - this.spanMs;
    return this.frames.slice(this.head).filter((f) => f.at > after && f.at >= from && f.at < at);
  }

  clear(): void {
    this.frames = [];
    this.head = 0;
    this.held = 0;
  }

  private trim(newestAt: number): void {
    const oldest = newestAt - this.spanMs;
    while (this.head < this.frames.length) {
      const f = this.frames[this.head]!;
      if (f.at < oldest || this.held > this.maxBytes) {
        this.held -= f.jpeg.length;
        this.frames[this.head] = undefined as unknown as RingFrame;
        this.head++;
      } else break;
    }
    if (this.head > 64 && this.head * 2 > this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.head = 0;
    }
  }
}
