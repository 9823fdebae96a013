// Debounce shared by the Pi and the simulated GPIO input: a level is accepted once it has held for `ms`.
import type { Clock } from "../clock";
import type { Level } from "./types";

export class Debouncer {
  private stable: Level;
  private pending: unknown = null;
  private readonly listeners: Array<(level: Level) => void> = [];

  constructor(initial: Level, private readonly ms: number, private readonly clock: Clock) {
    this.stable = initial;
  }

  get level(): Level {
    return this.stable;
  }

  onChange(listener: (level: Level) => void): void {
    this.listeners.push(listener);
  }

  /** A raw level as sampled or reported by an edge. */
  sample(raw: Level, readNow: () => Level = () => raw): void {
    if (this.pending !== null) this.clock.clearTimeout(this.pending);
    this.pending = null;
    if (raw === this.stable) return;
    const accept = () => {
      this.pending = null;
      const confirmed = readNow();
      if (confirmed === this.stable) return;
      this.stable = confirmed;
      for (const l of this.listeners) l(confirmed);
    };
    if (this.ms <= 0) accept();
    else this.pending = this.clock.setTimeout(accept, this.ms);
  }

  stop(): void {
    if (this.pending !== null) this.clock.clearTimeout(this.pending);
    this.pending = null;
  }
}
