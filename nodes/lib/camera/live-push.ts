// The Pi's side of live video (issue 13): it follows the hub's retained LiveControl for its camera and, while it is
// on, passes frames to the hub (one JPEG per QoS 0 message) at most `fps` a second. A frame is dropped, never queued,
// while the previous one is still being written (a slow link), while the link is down, or when it comes too soon.
// A control with a lease ends by itself `leaseMs` after it arrived (the Pi's own clock: the two clocks may differ),
// unless a newer control came: a hub that went away without saying stop does not keep the Pi streaming.
import type { Clock } from "../clock";
import type { LiveControl } from "./types";

export interface LivePushParts {
  clock: Clock;
  /** Frames a second at most. */
  fps: number;
  /** Sends one frame; resolves once it is written (QoS 0). */
  publish: (jpeg: Buffer) => Promise<void>;
  /** Whether the link to the hub is up now. */
  connected: () => boolean;
  /** Streaming started or stopped (`why`: "hub" when told, "lease" when the lease ran out). */
  onChange?: (on: boolean, why: "hub" | "lease") => void;
}

export type FrameOutcome = "sent" | "off" | "busy" | "offline" | "rate";

/** A write that has not finished after this long is taken as lost (a connection that dropped mid-write). */
const STUCK_MS = 10_000;

/** A LiveControl read from the wire, or an error saying what is wrong with it. */
export function parseLiveControl(payload: Buffer): LiveControl {
  if (payload.length === 0) return { stream: false, at: 0 };
  if (payload.length > 1024) throw new Error(`live control of ${payload.length} bytes (at most 1024)`);
  let v: unknown;
  try {
    v = JSON.parse(payload.toString("utf8"));
  } catch {
    throw new Error("live control is not JSON");
  }
  const c = v as Partial<LiveControl> | null;
  if (!c || typeof c !== "object" || typeof c.stream !== "boolean") throw new Error("live control needs stream: true or false");
  if (typeof c.at !== "number" || !Number.isFinite(c.at)) throw new Error("live control needs at: a time in ms");
  if (c.leaseMs !== undefined && (typeof c.leaseMs !== "number" || !(c.leaseMs >= 1000 && c.leaseMs <= 3_600_000))) {
    throw new Error("live control's leaseMs must be 1000..3600000");
  }
  return c.leaseMs === undefined ? { stream: c.stream, at: c.at } : { stream: c.stream, at: c.at, leaseMs: c.leaseMs };
}

export class LivePusher {
  private on = false;
  private lease: unknown = null;
  private writingSince: number | null = null;
  private lastSentAt = -Infinity;
  private readonly intervalMs: number;
  sent = 0;
  dropped = 0;

  constructor(private readonly parts: LivePushParts) {
    this.intervalMs = 1000 / parts.fps;
  }

  get streaming(): boolean {
    return this.on;
  }

  /** The hub's control (a new one, or the retained one after a reconnect). */
  control(c: LiveControl): void {
    this.clearLease();
    if (c.stream && c.leaseMs !== undefined) this.lease = this.parts.clock.setTimeout(() => this.set(false, "lease"), c.leaseMs);
    this.set(c.stream, "hub");
  }

  /** Offers a frame: sent, or why it was dropped. */
  frame(jpeg: Buffer): FrameOutcome {
    if (!this.on) return "off";
    const now = this.parts.clock.now();
    if (this.writingSince !== null && now - this.writingSince < STUCK_MS) return this.drop("busy");
    if (!this.parts.connected()) return this.drop("offline");
    // a tenth of the interval's slack: a camera running at exactly the configured rate is not halved by its jitter
    if (now - this.lastSentAt < this.intervalMs * 0.9) return this.drop("rate");
    this.lastSentAt = now;
    const since = (this.writingSince = now);
    const finished = () => {
      if (this.writingSince === since) this.writingSince = null;
    };
    this.sent++;
    this.parts.publish(jpeg).then(finished, finished);
    return "sent";
  }

  /** The link went down or came back: a write in progress will not finish. */
  linkChanged(): void {
    this.writingSince = null;
  }

  close(): void {
    this.clearLease();
    this.on = false;
  }

  private drop(why: FrameOutcome): FrameOutcome {
    this.dropped++;
    return why;
  }

  private set(on: boolean, why: "hub" | "lease"): void {
    if (!on) this.clearLease();
    if (on === this.on) return;
    this.on = on;
    this.parts.onChange?.(on, why);
  }

  private clearLease(): void {
    if (this.lease !== null) this.parts.clock.clearTimeout(this.lease);
    this.lease = null;
  }
}
