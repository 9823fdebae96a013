// An MJPEG byte stream (rpicam-vid's stdout, an HTTP multipart body) cut into its JPEGs: each frame runs from an SOI
// marker (FF D8) to the EOI marker (FF D9) after it. Chunks may end anywhere, inside a marker too. Inside a baseline
// JPEG's entropy-coded data a 0xFF byte is always stuffed (FF 00) or a restart marker (FF D0..D7), so FF D9 ends
// the frame; an embedded thumbnail (EXIF) would end early, and neither rpicam-vid nor libcamera-vid write one.

/** A 640×480 frame is some 30-80 KB; a 4K MJPEG frame stays under this. */
export const DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024;

export class MjpegSplitter {
  private chunks: Buffer[] = [];
  private held = 0;
  /** Whether the bytes held begin with an SOI (else we are looking for one). */
  private inFrame = false;
  /** Where the search for EOI resumes in the bytes held (all before it were searched already). */
  private resume = 0;
  /** Bytes thrown away: garbage between frames, or a frame over the limit. */
  dropped = 0;

  constructor(
    private readonly onFrame: (jpeg: Buffer) => void,
    private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
  ) {}

  /** Feeds the next chunk; calls onFrame for every frame it completes. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    // the marker may straddle chunks: keep the last held byte in view by joining what we hold with the chunk
    let data = this.held > 0 ? Buffer.concat([...this.chunks, chunk]) : chunk;
    this.chunks = [];
    this.held = 0;
    let start = 0;
    let scan = this.resume;
    this.resume = 0;
    for (;;) {
      if (!this.inFrame) {
        const soi = indexOfMarker(data, 0xd8, scan);
        if (soi < 0) {
          // keep a trailing FF: it may be the start of an SOI
          const keep = data.length > 0 && data[data.length - 1] === 0xff ? 1 : 0;
          this.dropped += data.length - start - keep;
          data = keep ? data.subarray(data.length - 1) : Buffer.alloc(0);
          start = 0;
          break;
        }
        this.dropped += soi - start;
        start = soi;
        scan = soi + 2;
        this.inFrame = true;
      }
      const eoi = indexOfMarker(data, 0xd9, scan);
      if (eoi < 0) {
        if (data.length - start > this.maxFrameBytes) {
          // a frame that never ends: drop it and look for the next SOI
          this.dropped += data.length - start;
          this.inFrame = false;
          data = data.subarray(data.length - 1);
          start = 0;
          scan = 0;
          continue;
        }
        data = data.subarray(start);
        start = 0;
        this.resume = Math.max(2, data.length - 1);
        break;
      }
      const end = eoi + 2;
      if (end - start <= this.maxFrameBytes) this.onFrame(Buffer.from(data.subarray(start, end)));
      else this.dropped += end - start;
      this.inFrame = false;
      start = end;
      scan = end;
    }
    if (data.length > 0) {
      this.chunks = [data];
      this.held = data.length;
    }
  }

  /** Bytes held for a frame not yet complete. */
  get pending(): number {
    return this.held;
  }

  reset(): void {
    this.chunks = [];
    this.held = 0;
    this.inFrame = false;
    this.resume = 0;
  }
}

function indexOfMarker(data: Buffer, marker: number, from: number): number {
  let i = data.indexOf(0xff, from);
  while (i >= 0 && i + 1 < data.length) {
    if (data[i + 1] === marker) return i;
    i = data.indexOf(0xff, i + 1);
  }
  return -1;
}

/** Every frame of a whole MJPEG buffer (a recording). */
export function splitMjpeg(data: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  const splitter = new MjpegSplitter((f) => frames.push(f));
  splitter.push(data);
  return frames;
}
