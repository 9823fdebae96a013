// The hub's live video relay (issue 13): any number of viewers of a camera share ONE upstream subscription to its
// `camera/live/frame` topic. The first viewer makes the hub ask the Pi for the stream (retained LiveControl
// {stream: true}, with a lease it refreshes while someone watches); `graceMs` after the last viewer leaves it says
// {stream: false} and drops the subscription (a viewer who comes back within the grace finds the stream running).
// A camera serves at most `maxViewersPerCamera`; each viewer is offered every frame and keeps at most one waiting.
import type { Clock } from "../clock";
import { isJpeg } from "../image/image";
import type { LiveControl } from "./types";

/** What the relay needs of the hub's MQTT link. */
export interface LiveUpstream {
  /** Follows a camera's live frames (raw JPEG payloads); returns the function that stops following. */
  frames(device: string, onFrame: (payload: Buffer) => void): () => void;
  /** Publishes the camera's retained LiveControl. */
  control(device: string, control: LiveControl): Promise<void>;
}

/** One person watching: offered each frame, never buffering more than one. */
export interface LiveViewer {
  frame(jpeg: Buffer): void;
  /** The relay is closing: end the answer. */
  end(): void;
}

export interface LiveRelayOptions {
  clock: Clock;
  /** The most viewers one camera serves at once (4). */
  maxViewersPerCamera?: number;
  /** How long after the last viewer leaves the stream is stopped, ms (10 000). */
  graceMs?: number;
  /** The lease sent with {stream: true}, ms (60 000); it is refreshed every third of it. */
  leaseMs?: number;
  /** Frames larger than this are dropped, bytes (2 MiB). */
  maxFrameBytes?: number;
  /** A control that could not be published, a frame that is not a JPEG. */
  onProblem?: (device: string, problem: string) => void;
  /** Someone started or stopped watching, or a stream started or stopped. */
  onChange?: () => void;
}

export const LIVE_DEFAULTS = { maxViewersPerCamera: 4, graceMs: 10_000, leaseMs: 60_000, maxFrameBytes: 2 * 1024 * 1024 } as const;

export type WatchResult = { ok: true; leave: () => void } | { ok: false; reason: string };

interface CameraState {
  readonly viewers: Set<LiveViewer>;
  stopFrames: () => void;
  refresh: unknown;
  stopTimer: unknown;
  /** The newest frame, for a viewer who joins a running stream. */
  last: Buffer | null;
  frames: number;
  dropped: number;
}

export class LiveRelay {
  private readonly cameras = new Map<string, CameraState>();
  private readonly o: Required<Omit<LiveRelayOptions, "onProblem" | "onChange">> & Pick<LiveRelayOptions, "onProblem" | "onChange">;
  private closed = false;

  constructor(private readonly upstream: LiveUpstream, options: LiveRelayOptions) {
    this.o = { ...LIVE_DEFAULTS, ...options };
  }

  get maxViewersPerCamera(): number {
    return this.o.maxViewersPerCamera;
  }

  /** Adds a viewer of `device`: starts the stream for the first one; refused when the camera serves its most. */
  watch(device: string, viewer: LiveViewer): WatchResult {
    if (this.closed) return { ok: false, reason: "the live relay is stopping" };
    let cam = this.cameras.get(device);
    if (cam && cam.viewers.size >= this.o.maxViewersPerCamera) {
      return { ok: false, reason: `camera "${device}" has ${cam.viewers.size} viewers, the most it serves at once` };
    }
    if (!cam) cam = this.start(device);
    if (cam.stopTimer !== null) {
      this.o.clock.clearTimeout(cam.stopTimer);
      cam.stopTimer = null;
    }
    cam.viewers.add(viewer);
    if (cam.last) viewer.frame(cam.last);
    this.o.onChange?.();
    const state = cam;
    let left = false;
    return {
      ok: true,
      leave: () => {
        if (left) return;
        left = true;
        state.viewers.delete(viewer);
        this.o.onChange?.();
        if (state.viewers.size === 0 && this.cameras.get(device) === state && state.stopTimer === null) {
          state.stopTimer = this.o.clock.setTimeout(() => this.stop(device, state), this.o.graceMs);
        }
      },
    };
  }

  /** How many watch `device` now. */
  viewers(device: string): number {
    return this.cameras.get(device)?.viewers.size ?? 0;
  }

  /** Whether the relay follows `device`'s stream now (someone watches, or the grace after the last has not passed). */
  streaming(device: string): boolean {
    return this.cameras.has(device);
  }

  /** Every camera streamed now, with its viewers. */
  summary(): Array<{ device: string; viewers: number }> {
    return [...this.cameras].map(([device, cam]) => ({ device, viewers: cam.viewers.size }));
  }

  /** Frames relayed and dropped (not a JPEG, too large) for `device` since its stream started. */
  counts(device: string): { frames: number; dropped: number } {
    const cam = this.cameras.get(device);
    return { frames: cam?.frames ?? 0, dropped: cam?.dropped ?? 0 };
  }

  /**
   * A camera's retained control as the broker kept it from before this relay started (a hub that crashed while
   * someone watched leaves {stream: true}): unless this relay streams that camera now, it says {stream: false}, so
   * the Pi stops at once instead of when the old lease runs out. Returns whether it did.
   */
  stale(device: string, control: LiveControl): boolean {
    if (this.closed || !control.stream || this.cameras.has(device)) return false;
    void this.control(device, { stream: false, at: this.o.clock.now() });
    return true;
  }

  /** Ends every viewer and says {stream: false} to every camera it streams. */
  async close(): Promise<void> {
    this.closed = true;
    const stopping: Promise<void>[] = [];
    for (const [device, cam] of this.cameras) {
      for (const viewer of cam.viewers) viewer.end();
      cam.viewers.clear();
      stopping.push(this.stop(device, cam));
    }
    await Promise.all(stopping);
  }

  private start(device: string): CameraState {
    const cam: CameraState = { viewers: new Set(), stopFrames: () => undefined, refresh: null, stopTimer: null, last: null, frames: 0, dropped: 0 };
    this.cameras.set(device, cam);
    cam.stopFrames = this.upstream.frames(device, (payload) => this.relay(device, cam, payload));
    const ask = () => this.control(device, { stream: true, at: this.o.clock.now(), leaseMs: this.o.leaseMs });
    void ask();
    cam.refresh = this.o.clock.setInterval(() => void ask(), Math.max(1000, Math.floor(this.o.leaseMs / 3)));
    return cam;
  }

  private stop(device: string, cam: CameraState): Promise<void> {
    if (this.cameras.get(device) !== cam) return Promise.resolve();
    this.cameras.delete(device);
    if (cam.stopTimer !== null) this.o.clock.clearTimeout(cam.stopTimer);
    this.o.clock.clearInterval(cam.refresh);
    cam.stopFrames();
    this.o.onChange?.();
    return this.control(device, { stream: false, at: this.o.clock.now() });
  }

  private relay(device: string, cam: CameraState, payload: Buffer): void {
    if (payload.length > this.o.maxFrameBytes || !isJpeg(payload)) {
      cam.dropped++;
      if (cam.dropped === 1) this.o.onProblem?.(device, `a live frame that is not a JPEG of at most ${this.o.maxFrameBytes} bytes (dropped)`);
      return;
    }
    cam.frames++;
    cam.last = payload;
    for (const viewer of cam.viewers) viewer.frame(payload);
  }

  private control(device: string, control: LiveControl): Promise<void> {
    return this.upstream.control(device, control).catch((err: Error) => this.o.onProblem?.(device, `live control not published: ${err.message}`));
  }
}
