// Time left on battery, from the state of charge's trend: a least-squares line through the readings taken since
// the mains went off (the last 30 minutes of them), extended to 0 %. Unknown until the readings span a minute
// and the charge is actually falling.

export interface TrendOptions {
  /** Only readings this recent count (default 30 min): the load of the last half hour predicts the next. */
  windowMs?: number;
  /** No estimate before the readings span this long (default 60 s, one poll). */
  minSpanMs?: number;
}

interface Sample {
  at: number;
  percent: number;
}

export class BatteryTrend {
  private samples: Sample[] = [];
  private readonly windowMs: number;
  private readonly minSpanMs: number;

  constructor(options: TrendOptions = {}) {
    this.windowMs = options.windowMs ?? 30 * 60_000;
    this.minSpanMs = options.minSpanMs ?? 60_000;
  }

  /** Forget the trend (the mains came back, or went: a new discharge starts). */
  reset(): void {
    this.samples = [];
  }

  add(at: number, percent: number): void {
    if (!Number.isFinite(at) || !Number.isFinite(percent)) return;
    const last = this.samples[this.samples.length - 1];
    if (last && at < last.at) this.samples = []; // the clock went back: start again
    if (last && at === last.at) this.samples.pop();
    this.samples.push({ at, percent });
    const since = at - this.windowMs;
    while (this.samples.length > 2 && this.samples[0]!.at < since) this.samples.shift();
  }

  /** Whole minutes until 0 % at the present rate, or null when unknown (too few readings, or not falling). */
  minutesLeft(): number | null {
    const n = this.samples.length;
    if (n < 2) return null;
    const first = this.samples[0]!;
    const last = this.samples[n - 1]!;
    if (last.at - first.at < this.minSpanMs) return null;
    // least squares on (t, percent), t relative to the first reading for precision
    let st = 0;
    let sp = 0;
    for (const s of this.samples) {
      st += s.at - first.at;
      sp += s.percent;
    }
    const mt = st / n;
    const mp = sp / n;
    let num = 0;
    let den = 0;
    for (const s of this.samples) {
      const dt = s.at - first.at - mt;
      num += dt * (s.percent - mp);
      den += dt * dt;
    }
    if (den === 0) return null;
    const slopePerMs = num / den;
    if (!(slopePerMs < 0)) return null;
    return Math.max(0, Math.round(last.percent / -slopePerMs / 60_000));
  }
}
