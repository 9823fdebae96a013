// A camera's MJPEG stream shared by every user: the first subscriber starts the camera (one process on a Pi), the
// last one's unsubscribe stops it, and a new format restarts it while its subscribers stay subscribed.
import type { Clock } from "../clock";
import type { CameraStream, MjpegCamera, StreamState } from "../drivers/types";
import type { Frame, StreamFormat } from "./types";

export const ROTATIONS: readonly StreamFormat["rotation"][] = [0, 90, 180, 270];

/** A format a user can act on, or an Error saying what is wrong. */
export function checkFormat(format: StreamFormat): StreamFormat {
  const { width, height, fps, rotation } = format;
  if (!Number.isInteger(width) || width < 32 || width > 4056 || width % 2 !== 0) throw new Error(`width ${String(width)} is not an even number of pixels 32..4056`);
  if (!Number.isInteger(height) || height < 32 || height > 3040 || height % 2 !== 0) throw new Error(`height ${String(height)} is not an even number of pixels 32..3040`);
  if (!Number.isFinite(fps) || fps < 0.2 || fps > 60) throw new Error(`frame rate ${String(fps)} is not 0.2..60 fps`);
  if (!ROTATIONS.includes(rotation)) throw new Error(`rotation ${String(rotation)} is not 0, 90, 180 or 270`);
  return { width, height, fps, rotation };
}

const sameFormat = (a: StreamFormat, b: StreamFormat) => a.width === b.width && a.height === b.height && a.fps === b.fps && a.rotation === b.rotation;

export class SharedCameraStream implements CameraStream {
  private readonly listeners = new Set<(frame: Frame) => void>();
  private readonly stateListeners = new Set<(state: StreamState) => void>();
  private running: { close(): Promise<void> } | null = null;
  private current: StreamFormat;
  private seq = 0;
  private stateNow: StreamState = { state: "stopped" };
  /** The stop of a previous run: a new run waits for it (a Pi camera cannot be opened twice). */
  private stopping: Promise<void> = Promise.resolve();
  private generation = 0;

  constructor(
    private readonly camera: MjpegCamera,
    private readonly clock: Clock,
    format: StreamFormat,
  ) {
    this.current = checkFormat(format);
  }

  get format(): StreamFormat {
    return { ...this.current };
  }

  get state(): StreamState {
    return this.stateNow;
  }

  /** How many subscribers the stream has now. */
  get subscribers(): number {
    return this.listeners.size;
  }

  subscribe(listener: (frame: Frame) => void): () => void {
    // a listener subscribed twice still gets one frame each time, and each unsubscribe drops one use
    const own = (frame: Frame) => listener(frame);
    this.listeners.add(own);
    if (this.listeners.size === 1) this.start();
    let subscribed = true;
    return () => {
      if (!subscribed) return;
      subscribed = false;
      this.listeners.delete(own);
      if (this.listeners.size === 0) this.stop();
    };
  }

  onState(listener: (state: StreamState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  setFormat(format: StreamFormat): void {
    const next = checkFormat(format);
    if (sameFormat(next, this.current)) return;
    this.current = next;
    if (this.running) {
      this.stop();
      this.start();
    }
  }

  /** Resolves once the camera has stopped (after the last unsubscribe). */
  stopped(): Promise<void> {
    return this.stopping;
  }

  private start(): void {
    const generation = ++this.generation;
    const format = this.format;
    let handle: { close(): Promise<void> } | null = null;
    let cancelled = false;
    const sink = {
      frame: (jpeg: Buffer) => {
        if (generation !== this.generation) return;
        const frame: Frame = { jpeg, at: this.clock.now(), seq: ++this.seq, width: format.width, height: format.height };
        for (const l of [...this.listeners]) {
          try {
            l(frame);
          } catch {
            // one failing user never stops the others' frames
          }
        }
      },
      state: (state: StreamState) => {
        if (generation !== this.generation) return;
        this.setState(state);
      },
    };
    const run = {
      close: async () => {
        cancelled = true;
        await handle?.close();
      },
    };
    this.running = run;
    // the previous run's camera is released before this one opens it
    this.stopping.then(() => {
      if (!cancelled) handle = this.camera.start(format, sink);
    });
  }

  private stop(): void {
    const run = this.running;
    this.running = null;
    this.generation++;
    if (!run) return;
    const previous = this.stopping;
    this.stopping = previous.then(() => run.close()).catch(() => undefined);
    this.setState({ state: "stopped" });
  }

  private setState(state: StreamState): void {
    this.stateNow = state;
    for (const l of [...this.stateListeners]) l(state);
  }
}
