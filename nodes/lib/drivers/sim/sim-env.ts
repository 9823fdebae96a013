// Simulated Sense HAT environment sensors and CPU temperature: a plausible day (a room that is coolest at 03:00
// and warmest at 15:00, humidity the other way round, pressure drifting with the weather) plus a little noise.
// Each value can be held at a number by publishing it to `pifog/<device>/sim/<name>/set` (`auto` or an empty
// message lets it follow the day again); each read publishes the value, retained, on `pifog/<device>/sim/<name>`.
//
// Like the real Sense HAT on a Pi, the simulated humidity sensor reads warm: its temperature sits between the
// room and the CPU, so that the correction `t − (t_cpu − t) / 1.5` gives the room back.
import type { Clock } from "../../clock";
import { topics } from "../../contract";
import type { CpuTemperature, EnvReading, EnvSensor } from "../types";
import type { SimBus } from "./sim-bus";

/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

/** mulberry32: a small, fast, seeded generator, so a simulation can be replayed exactly. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 32-bit seed from a text and a number (FNV-1a), e.g. the device id and the start time. */
export function seedOf(text: string, n = 0): number {
  let h = 0x811c9dc5 ^ (n >>> 0) ^ Math.floor(n / 4294967296);
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A normally distributed number (mean 0, sd 1), Box–Muller. */
function gaussian(random: Random): number {
  const u1 = 1 - random(); // (0, 1]
  const u2 = random();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** Hours since local midnight, with fractions. */
function hourOf(at: Date): number {
  return at.getHours() + at.getMinutes() / 60 + at.getSeconds() / 3600;
}

const wave = (hours: number, period: number, peakAt: number) => Math.sin((2 * Math.PI * (hours - peakAt + period / 4)) / period);

/** The factor the simulated sensor's warmth is built for: with it, the corrected temperature is the room's. */
export const SIM_HEAT_FACTOR = 1.5;

/** The noise-free day the simulator follows. */
export const simDay = {
  /** °C: the room, 18.5 at 03:00 to 23.5 at 15:00. */
  room: (at: Date) => 21 + 2.5 * wave(hourOf(at), 24, 15),
  /** °C: an idle Pi, some 24 °C above the room, wobbling with its load. */
  cpu: (at: Date) => simDay.room(at) + 24 + 2 * wave(hourOf(at), 6, 2),
  /** °C: the HTS221 on the HAT, warmed by the CPU below it. */
  temperature: (at: Date) => (SIM_HEAT_FACTOR * simDay.room(at) + simDay.cpu(at)) / (SIM_HEAT_FACTOR + 1),
  /** °C: the LPS25H reads a little cooler than the HTS221. */
  temperatureFromPressure: (at: Date) => simDay.temperature(at) - 0.6,
  /** %RH: 37 at 15:00 to 53 at 03:00. */
  humidity: (at: Date) => 45 - 8 * wave(hourOf(at), 24, 15),
  /** hPa: weather over days and the twice-daily atmospheric tide (highs near 10:00 and 22:00). */
  pressure: (at: Date) => 1013.25 + 6 * Math.sin((2 * Math.PI * at.getTime()) / (4.5 * 86_400_000)) + 0.6 * wave(hourOf(at), 12, 10),
};

export type SimEnvName = "temperature" | "humidity" | "pressure" | "temperature-from-pressure" | "cpu-temperature";

interface SimSpec {
  name: SimEnvName;
  /** What a set value must lie in: the sensor's range. */
  min: number;
  max: number;
  /** Standard deviation of the noise. */
  noise: number;
  curve: (at: Date) => number;
}

export const SIM_ENV_SPECS: Record<SimEnvName, SimSpec> = {
  temperature: { name: "temperature", min: -40, max: 120, noise: 0.05, curve: simDay.temperature },
  humidity: { name: "humidity", min: 0, max: 100, noise: 0.3, curve: simDay.humidity },
  pressure: { name: "pressure", min: 260, max: 1260, noise: 0.03, curve: simDay.pressure },
  "temperature-from-pressure": {
    name: "temperature-from-pressure",
    min: -30,
    max: 105,
    noise: 0.05,
    curve: simDay.temperatureFromPressure,
  },
  "cpu-temperature": { name: "cpu-temperature", min: -40, max: 125, noise: 0.3, curve: simDay.cpu },
};

const NUMBER = /^[-+]?(\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?$/i;
const round2 = (v: number) => Math.round(v * 100) / 100;

/** One simulated value: the day's curve plus noise, or the number it was set to. */
class SimValue {
  private held: number | null = null;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly spec: SimSpec,
    private readonly bus: SimBus,
    private readonly clock: Clock,
    private readonly random: Random,
  ) {
    this.unsubscribe = bus.subscribe(topics.simSet(bus.device, spec.name), (payload) => this.set(payload));
    this.publish(this.current());
  }

  private set(payload: Buffer): void {
    const text = payload.toString("utf8").trim();
    if (text === "" || text.toLowerCase() === "auto") {
      this.held = null;
      this.publish(this.current());
      return;
    }
    const value = NUMBER.test(text) ? Number(text) : NaN;
    if (!Number.isFinite(value) || value < this.spec.min || value > this.spec.max) {
      this.bus.warn(
        `simulated ${this.spec.name}: "${text.slice(0, 40)}" is not a number in ${this.spec.min}..${this.spec.max} (or auto)`,
      );
      return;
    }
    this.held = value;
    this.publish(value);
  }

  private current(): number {
    if (this.held !== null) return this.held;
    const at = new Date(this.clock.now());
    const v = this.spec.curve(at) + this.spec.noise * gaussian(this.random);
    return round2(Math.min(this.spec.max, Math.max(this.spec.min, v)));
  }

  private publish(value: number): void {
    this.bus.publish(topics.simState(this.bus.device, this.spec.name), String(value), true);
  }

  /** The value now; published, retained, as the simulator's state. */
  read(): number {
    const value = this.current();
    this.publish(value);
    return value;
  }

  close(): void {
    this.unsubscribe();
  }
}

export class SimEnvSensor implements EnvSensor {
  private readonly values: Record<"temperature" | "humidity" | "pressure" | "temperature-from-pressure", SimValue>;

  constructor(bus: SimBus, clock: Clock, random: Random) {
    const make = (name: SimEnvName) => new SimValue(SIM_ENV_SPECS[name], bus, clock, random);
    this.values = {
      temperature: make("temperature"),
      humidity: make("humidity"),
      pressure: make("pressure"),
      "temperature-from-pressure": make("temperature-from-pressure"),
    };
  }

  async read(): Promise<EnvReading> {
    return {
      humidity: this.values.humidity.read(),
      temperatureFromHumidity: this.values.temperature.read(),
      pressure: this.values.pressure.read(),
      temperatureFromPressure: this.values["temperature-from-pressure"].read(),
    };
  }

  async close(): Promise<void> {
    for (const v of Object.values(this.values)) v.close();
  }
}

export class SimCpuTemperature implements CpuTemperature {
  private readonly value: SimValue;

  constructor(bus: SimBus, clock: Clock, random: Random) {
    this.value = new SimValue(SIM_ENV_SPECS["cpu-temperature"], bus, clock, random);
  }

  async read(): Promise<number> {
    return this.value.read();
  }

  async close(): Promise<void> {
    this.value.close();
  }
}
