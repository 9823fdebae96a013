// GPIO on a Pi through `onoff` (sysfs), with the line number from the chip's base and our own debounce.
import { execFile } from "node:child_process";
import type { Gpio as OnoffGpio } from "onoff";
import type { Clock } from "../../clock";
import { Debouncer } from "../debounce";
import type { GpioInput, GpioInputOptions, GpioOutput, GpioOutputOptions, Level, Pull } from "../types";

export type OnoffGpioClass = new (...args: ConstructorParameters<typeof OnoffGpio>) => OnoffGpio;

/** sysfs cannot set pulls; `pinctrl` (Pi OS bookworm) or `raspi-gpio` (older) can. */
export type PullSetter = (bcm: number, pull: Pull) => Promise<void>;

export const setPullWithPinctrl: PullSetter = (bcm, pull) => {
  const arg = pull === "up" ? "pu" : pull === "down" ? "pd" : "pn";
  const run = (cmd: string, args: string[]) =>
    new Promise<void>((resolve, reject) => execFile(cmd, args, (err) => (err ? reject(err) : resolve())));
  return run("pinctrl", ["set", String(bcm), "ip", arg]).catch(() =>
    run("raspi-gpio", ["set", String(bcm), "ip", arg]),
  );
};

export interface OnoffDeps {
  Gpio: OnoffGpioClass;
  lineNumber: (bcm: number) => number;
  setPull: PullSetter;
  clock: Clock;
  warn: (message: string) => void;
}

export class OnoffGpioInput implements GpioInput {
  private readonly gpio: OnoffGpio;
  private readonly debouncer: Debouncer;

  constructor(options: GpioInputOptions, deps: OnoffDeps) {
    if (options.pull !== "none") {
      deps.setPull(options.pin, options.pull).catch((err: Error) =>
        deps.warn(`GPIO ${options.pin}: could not set pull-${options.pull} (${err.message}); fit a resistor`),
      );
    }
    this.gpio = new deps.Gpio(deps.lineNumber(options.pin), "in", "both", { activeLow: options.activeLow });
    this.debouncer = new Debouncer(this.gpio.readSync(), options.debounceMs, deps.clock);
    this.gpio.watch((err, value) => {
      if (err) return deps.warn(`GPIO ${options.pin}: ${err.message}`);
      this.debouncer.sample(value, () => this.gpio.readSync());
    });
  }

  read(): Level {
    return this.debouncer.level;
  }

  onChange(listener: (level: Level) => void): void {
    this.debouncer.onChange(listener);
  }

  async close(): Promise<void> {
    this.debouncer.stop();
    this.gpio.unwatchAll();
    this.gpio.unexport();
  }
}

export class OnoffGpioOutput implements GpioOutput {
  private readonly gpio: OnoffGpio;
  private level: Level;

  constructor(options: GpioOutputOptions, deps: OnoffDeps) {
    this.level = options.initial;
    const direction = options.initial === 1 !== options.activeLow ? "high" : "low";
    this.gpio = new deps.Gpio(deps.lineNumber(options.pin), direction, "none", { activeLow: options.activeLow });
  }

  write(level: Level): void {
    this.level = level;
    this.gpio.writeSync(level);
  }

  read(): Level {
    return this.level;
  }

  async close(): Promise<void> {
    this.gpio.unexport();
  }
}
