// A client of a multipart/x-mixed-replace JPEG stream (GET /api/cameras/<device>/live): the frames it has read, and
// a wait for the next ones.
import { LIVE_BOUNDARY } from "../../nodes/lib/camera/live-http";

export class MjpegReader {
  readonly frames: Buffer[] = [];
  private buffer = Buffer.alloc(0);
  private waiters: Array<{ count: number; resolve: () => void }> = [];
  private readonly done: Promise<void>;
  ended = false;

  constructor(readonly response: Response, private readonly abort: AbortController) {
    const reader = response.body!.getReader();
    this.done = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          this.take(Buffer.from(value));
        }
      } catch {
        // aborted
      } finally {
        this.ended = true;
      }
    })();
  }

  /** Opens the stream; the answer's status tells whether it was served. */
  static async open(url: string, headers: Record<string, string>): Promise<MjpegReader> {
    const abort = new AbortController();
    const response = await fetch(url, { headers, signal: abort.signal });
    return new MjpegReader(response, abort);
  }

  /** Resolves once `count` frames in all have been read. */
  until(count: number, timeoutMs = 10_000): Promise<void> {
    if (this.frames.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.frames.length} frames read, waited for ${count}`)), timeoutMs);
      this.waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** Hangs up, as a browser leaving the page does. */
  async close(): Promise<void> {
    this.abort.abort();
    await this.done;
  }

  private take(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const start = this.buffer.indexOf(`--${LIVE_BOUNDARY}\r\n`);
      if (start < 0) return;
      const headEnd = this.buffer.indexOf("\r\n\r\n", start);
      if (headEnd < 0) return;
      const head = this.buffer.subarray(start, headEnd).toString("latin1");
      const length = Number(/Content-Length: (\d+)/i.exec(head)?.[1]);
      const bodyStart = headEnd + 4;
      if (this.buffer.length < bodyStart + length + 2) return;
      this.frames.push(Buffer.from(this.buffer.subarray(bodyStart, bodyStart + length)));
      this.buffer = this.buffer.subarray(bodyStart + length + 2);
      this.waiters = this.waiters.filter((w) => {
        if (this.frames.length < w.count) return true;
        w.resolve();
        return false;
      });
    }
  }
}
