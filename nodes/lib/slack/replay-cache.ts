// Slack's signature proves who made a request, not that it is the first time it arrives: whoever sees one signed
// request (a proxy's log, a captured request) could send it again, and open the door again, for as long as its
// timestamp is in the 5-minute window. So each accepted signature is remembered until its timestamp leaves the
// window, and the same one again is a replay. Bounded: when full of signatures still in their window, new requests
// are refused (fail closed) rather than forgetting one that could then be replayed.
import { SLACK_MAX_SKEW_MS } from "./request";

/** Far above what one Slack app sends in 5 minutes (Slack itself is rate-limited to about one command a second). */
export const SLACK_REPLAY_CACHE_MAX = 10_000;

export type ReplayVerdict = "first" | "replayed" | "full";

export class SlackReplayCache {
  /** signature → the last moment (ms) its timestamp is still inside the window. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly now: () => number,
    private readonly max = SLACK_REPLAY_CACHE_MAX,
    private readonly windowMs = SLACK_MAX_SKEW_MS,
  ) {}

  get size(): number {
    return this.seen.size;
  }

  /** For a request whose signature checked out: "first" (now remembered), "replayed", or "full". */
  accept(signature: string, timestampMs: number): ReplayVerdict {
    const now = this.now();
    this.forgetOldest(now);
    if (this.seen.has(signature)) return "replayed";
    if (this.seen.size >= this.max) {
      this.forgetAll(now);
      if (this.seen.size >= this.max) return "full";
    }
    this.seen.set(signature, timestampMs + this.windowMs);
    return "first";
  }

  /** Mostly in arrival order, so the front is what expires first: cheap on every request. */
  private forgetOldest(now: number): void {
    for (const [signature, until] of this.seen) {
      if (until >= now) return;
      this.seen.delete(signature);
    }
  }

  /** Timestamps may arrive out of order (within the window's skew): a full sweep when the cache fills. */
  private forgetAll(now: number): void {
    for (const [signature, until] of this.seen) if (until < now) this.seen.delete(signature);
  }
}
