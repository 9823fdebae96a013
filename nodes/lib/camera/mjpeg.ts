// A clip's frames, one JPEG at a time: split out of an MJPEG file, or out of an MP4 (MJPEG inside) through
// `ffmpeg -c copy -f mjpeg` (no re-encode). What the viewer API's `/play` paces to the browser.
import { spawn } from "node:child_process";
import type { Readable } from "node:stream";

const SOI = Buffer.from([0xff, 0xd8]);
const EOI = Buffer.from([0xff, 0xd9]);

/** The JPEGs of an MJPEG byte stream (SOI … EOI), at most `maxFrameBytes` each (a longer one ends the stream). */
export async function* splitMjpeg(source: AsyncIterable<Buffer | Uint8Array>, maxFrameBytes = 8 * 1024 * 1024): AsyncGenerator<Buffer> {
  let pending = Buffer.alloc(0);
  for await (const chunk of source) {
    pending = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, Buffer.from(chunk)]);
    for (;;) {
      const start = pending.indexOf(SOI);
      if (start < 0) {
        pending = pending.subarray(Math.max(0, pending.length - 1));
        break;
      }
      const end = pending.indexOf(EOI, start + 2);
      if (end < 0) {
        pending = pending.subarray(start);
        if (pending.length > maxFrameBytes) throw new Error(`an MJPEG frame over ${maxFrameBytes} bytes`);
        break;
      }
      yield Buffer.from(pending.subarray(start, end + 2));
      pending = pending.subarray(end + 2);
    }
  }
}

/** The JPEGs of an MP4 file whose video is MJPEG (a camera Pi's remux), through ffmpeg. */
export async function* mp4Frames(file: string, ffmpeg = "ffmpeg"): AsyncGenerator<Buffer> {
  const child = spawn(ffmpeg, ["-hide_banner", "-loglevel", "error", "-i", file, "-map", "0:v:0", "-c", "copy", "-f", "mjpeg", "pipe:1"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-500)));
  const exited = new Promise<number | null>((resolve) => {
    child.once("error", (err) => {
      stderr += err.message;
      resolve(-1);
    });
    child.once("close", (code) => resolve(code));
  });
  let finished = false;
  try {
    yield* splitMjpeg(child.stdout as Readable);
    const code = await exited;
    finished = true;
    if (code !== 0) throw new Error(`ffmpeg could not read the clip (${code}): ${stderr.trim()}`);
  } finally {
    if (!finished && child.exitCode === null) child.kill("SIGKILL");
  }
}
