// Simulated GPIO: an input set over MQTT (or the dashboard's Simulator tab), an output that publishes its level.
import type { Clock } from "../../clock";
import { topics } from "../../contract";
import { Debouncer } from "../debounce";
import type { GpioInput, GpioInputOptions, GpioOutput, GpioOutputOptions, Level } from "../types";
import type { SimBus } from "./sim-bus";

const LEVEL_WORDS: Record<string, Level> = { "1": 1, "0": 0, high: 1, low: 0, true: 1, false: 0, on: 1, off: 0 };

export class SimGpioInput implements GpioInput {
  private readonly debouncer: Debouncer;
  private raw: Level;
  private readonly unsubscribe: () => void;
  private readonly words: Record<string, Level>;

  constructor(private readonly options: GpioInputOptions, private readonly bus: SimBus, clock: Clock) {
    this.words = { ...LEVEL_WORDS, ...(options.simWords ?? {}) };
    this.raw = options.simInitial ?? (options.pull === "up" ? 1 : 0);
    this.debouncer = new Debouncer(this.raw, options.debounceMs, clock);
    this.unsubscribe = bus.subscribe(topics.simSet(bus.device, options.name), (payload) => this.set(payload));
    this.publishState();
  }

  private set(payload: Buffer): void {
    const word = payload.toString("utf8").trim().toLowerCase();
    const level = Object.hasOwn(this.words, word) ? this.words[word] : undefined;
    if (level === undefined) {
      const allowed = Object.keys(this.options.simWords ?? {}).concat(["1", "0"]).join(", ");
      this.bus.warn(`simulated input ${this.options.name}: "${word.slice(0, 40)}" is not one of ${allowed}`);
      return;
    }
    this.raw = level;
    this.publishState();
    this.debouncer.sample(level, () => this.raw);
  }

  private publishState(): void {
    const word = Object.entries(this.options.simWords ?? {}).find(([, l]) => l === this.raw)?.[0];
    this.bus.publish(topics.simState(this.bus.device, this.options.name), word ?? String(this.raw), true);
  }

  read(): Level {
    return this.debouncer.level;
  }

  onChange(listener: (level: Level) => void): void {
    this.debouncer.onChange(listener);
  }

  async close(): Promise<void> {
    this.debouncer.stop();
    this.unsubscribe();
  }
}

export class SimGpioOutput implements GpioOutput {
  private level: Level;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(private readonly options: GpioOutputOptions, private readonly bus: SimBus) {
    this.level = options.initial;
    this.publish();
  }

  private publish(): void {
    const sent = this.bus.publish(topics.simState(this.bus.device, this.options.name), String(this.level), true);
    this.inFlight = Promise.resolve(sent).catch(() => undefined);
  }

  settled(): Promise<void> {
    return this.inFlight;
  }

  write(level: Level): void {
    if (level === this.level) return;
    this.level = level;
    this.publish();
  }

  read(): Level {
    return this.level;
  }

  async close(): Promise<void> {}
}
