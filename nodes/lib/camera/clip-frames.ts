// A stored clip's frames, one JPEG at a time: split out of an MJPEG file (mjpeg.ts's splitter), or out of an MP4
// (MJPEG inside) through `ffmpeg -c copy -f mjpeg` (no re-encode). What the viewer API's `/play` paces to the browser.
import { spawn } from "node:child_process";
import type { Readable } from "node:stream";
import { DEFAULT_MAX_FRAME_BYTES, MjpegSplitter } from "./mjpeg";

/** The JPEGs of an MJPEG byte stream, in order; a frame over `maxFrameBytes` is dropped. */
export async function* mjpegFrames(source: AsyncIterable<Buffer | Uint8Array>, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): AsyncGenerator<Buffer> {
  const ready: Buffer[] = [];
  const splitter = new MjpegSplitter((jpeg) => ready.push(jpeg), maxFrameBytes);
  for await (const chunk of source) {
    splitter.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    while (ready.length > 0) yield ready.shift()!;
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
    yield* mjpegFrames(child.stdout as Readable);
    const code = await exited;
    finished = true;
    if (code !== 0) throw new Error(`ffmpeg could not read the clip (${code}): ${stderr.trim()}`);
  } finally {
    if (!finished && child.exitCode === null) child.kill("SIGKILL");
  }
}
