// A simulated UPS battery: it drains while the simulated mains is off and charges while it is on, with the
// cell's voltage following its state of charge as a lithium cell's does. It learns the mains from the same
// `pifog/<device>/sim/mains/set` the simulated mains input listens to (`on`/`off`, or `1`/`0` with HIGH = on
// as on the UPS-Lite). `pifog/<device>/sim/battery/set` ← a number (0..100) sets the state of charge. Each
// reading publishes `{"percent","voltage","charging","mains"}`, retained, on `pifog/<device>/sim/battery`.
// Time comes from the injected Clock: the charge moves by the time passed since the last reading.
import type { Clock } from "../../clock";
import { topics } from "../../contract";
import type { FuelGauge, FuelGaugeReading } from "../types";
import type { SimBus } from "./sim-bus";

/** The simulated mains input's name (its set topic is `pifog/<device>/sim/mains/set`). */
export const SIM_MAINS = "mains";
export const SIM_BATTERY = "battery";

export interface SimBatteryOptions {
  /** State of charge at start, % (default 100: it has been on the mains). */
  percent?: number;
  /** Mains at start (default on). */
  mainsOn?: boolean;
  /** Minutes from full to empty on battery (default 240: a UPS-Lite's 1000 mAh under a Pi Zero). */
  drainMinutes?: number;
  /** Minutes from empty to full on the mains (default 120). */
  chargeMinutes?: number;
}

export interface SimBatteryState {
  percent: number;
  voltage: number;
  charging: boolean;
  mains: "on" | "off";
}

/** Open-circuit voltage of a lithium cell by state of charge: [percent, volts]. */
const OCV: ReadonlyArray<readonly [number, number]> = [
  [0, 3.3],
  [5, 3.5],
  [10, 3.6],
  [20, 3.68],
  [40, 3.76],
  [60, 3.85],
  [80, 3.98],
  [100, 4.18],
];

/** The cell's voltage at a state of charge; a charger lifts it a little (at most to 4.2 V). */
export function simCellVoltage(percent: number, charging: boolean): number {
  const p = Math.min(100, Math.max(0, percent));
  let volts = OCV[OCV.length - 1]![1];
  for (let i = 1; i < OCV.length; i++) {
    const [p1, v1] = OCV[i]!;
    if (p <= p1) {
      const [p0, v0] = OCV[i - 1]!;
      volts = v0 + ((v1 - v0) * (p - p0)) / (p1 - p0);
      break;
    }
  }
  return Math.min(4.2, charging && p < 100 ? volts + 0.06 : volts);
}

const MAINS_WORDS: Record<string, boolean> = { on: true, off: false, "1": true, "0": false, high: true, low: false, true: true, false: false };
const NUMBER = /^[-+]?(\d+(\.\d*)?|\.\d+)$/;
const round = (v: number, places: number) => Math.round(v * 10 ** places) / 10 ** places;

export class SimBattery implements FuelGauge {
  private percent: number;
  private mainsOn: boolean;
  private at: number;
  private readonly drainPerMs: number;
  private readonly chargePerMs: number;
  private readonly unsubscribe: Array<() => void>;
  private closed = false;

  constructor(private readonly bus: SimBus, private readonly clock: Clock, options: SimBatteryOptions = {}) {
    this.percent = Math.min(100, Math.max(0, options.percent ?? 100));
    this.mainsOn = options.mainsOn ?? true;
    this.drainPerMs = 100 / ((options.drainMinutes ?? 240) * 60_000);
    this.chargePerMs = 100 / ((options.chargeMinutes ?? 120) * 60_000);
    this.at = clock.now();
    this.unsubscribe = [
      bus.subscribe(topics.simSet(bus.device, SIM_MAINS), (payload) => this.setMains(payload)),
      bus.subscribe(topics.simSet(bus.device, SIM_BATTERY), (payload) => this.setPercent(payload)),
    ];
    this.publish();
  }

  /** The state now (the charge moved on to the clock's time). */
  state(): SimBatteryState {
    this.advance();
    const charging = this.mainsOn && this.percent < 100;
    return {
      percent: round(this.percent, 2),
      voltage: round(simCellVoltage(this.percent, charging), 3),
      charging,
      mains: this.mainsOn ? "on" : "off",
    };
  }

  async read(): Promise<FuelGaugeReading> {
    if (this.closed) throw new Error("the simulated battery is closed");
    const s = this.publish();
    return { voltage: s.voltage, percent: s.percent };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const u of this.unsubscribe) u();
  }

  /** Charge or drain for the time since the last step; charging slows above 90 % as a CC/CV charger does. */
  private advance(): void {
    const now = this.clock.now();
    let dt = Math.max(0, now - this.at);
    this.at = now;
    if (!this.mainsOn) {
      this.percent = Math.max(0, this.percent - dt * this.drainPerMs);
      return;
    }
    // constant current to 90 %, then a third of the rate
    if (this.percent < 90) {
      const toNinety = (90 - this.percent) / this.chargePerMs;
      const step = Math.min(dt, toNinety);
      this.percent += step * this.chargePerMs;
      dt -= step;
    }
    if (dt > 0) this.percent = Math.min(100, this.percent + (dt * this.chargePerMs) / 3);
  }

  private setMains(payload: Buffer): void {
    const word = payload.toString("utf8").trim().toLowerCase();
    const on = Object.hasOwn(MAINS_WORDS, word) ? MAINS_WORDS[word] : undefined;
    if (on === undefined) return; // the mains input itself warns about a word it does not know
    this.advance();
    this.mainsOn = on;
    this.publish();
  }

  private setPercent(payload: Buffer): void {
    const text = payload.toString("utf8").trim();
    const value = NUMBER.test(text) ? Number(text) : NaN;
    if (!(value >= 0 && value <= 100)) {
      this.bus.warn(`simulated battery: "${text.slice(0, 40)}" is not a state of charge in 0..100`);
      return;
    }
    this.advance();
    this.percent = value;
    this.publish();
  }

  private publish(): SimBatteryState {
    const s = this.state();
    this.bus.publish(topics.simState(this.bus.device, SIM_BATTERY), JSON.stringify(s), true);
    return s;
  }
}
