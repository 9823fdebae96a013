// What the nodes of one device share of its hardware: one claim per GPIO line, and one Sense HAT whose LED matrix and
// environment sensors are opened for their first user and closed after their last (as node-red-nodes' sensehat does).
import type { CameraStream, Drivers, EnvReading, EnvSensor, GpioInput, GpioOutput, Level, LedMatrix } from "./types";
import type { Frame } from "../matrix-glyphs";

/** A second claim on a BCM line: the node that holds it is named, so a user knows which one to change. */
export class PinInUseError extends Error {
  constructor(readonly pin: number, readonly holder: string, readonly claimant: string) {
    super(`GPIO ${pin} is already used by ${holder}`);
    this.name = "PinInUseError";
  }
}

/** The BCM lines of one device and who holds each. */
export class PinRegistry {
  private readonly holders = new Map<number, string>();

  /** Claims `pin` for `owner`, or throws PinInUseError; returns the release (which only ever frees this claim). */
  claim(pin: number, owner: string): () => void {
    const holder = this.holders.get(pin);
    if (holder !== undefined) throw new PinInUseError(pin, holder, owner);
    this.holders.set(pin, owner);
    let held = true;
    return () => {
      if (held && this.holders.get(pin) === owner) this.holders.delete(pin);
      held = false;
    };
  }

  holderOf(pin: number): string | undefined {
    return this.holders.get(pin);
  }
}

/** One part of a board, opened for its first user and closed after its last. */
class CountedPart<T extends { close(): Promise<void> }> {
  private part: T | null = null;
  private users = 0;
  private closing: Promise<void> = Promise.resolve();

  constructor(private readonly open: () => T) {}

  /** Opens the part if nobody holds it (a throw leaves it unheld); `release` resolves once a last user's close is done. */
  acquire(): { part: T; release: () => Promise<void> } {
    const part = (this.part ??= this.open());
    this.users++;
    let held = true;
    return {
      part,
      release: () => {
        if (!held) return this.closing;
        held = false;
        if (--this.users === 0 && this.part === part) {
          this.part = null;
          this.closing = part.close();
        }
        return this.closing;
      },
    };
  }

  get count(): number {
    return this.users;
  }
}

/**
 * The Sense HAT of one device: its LED matrix and its environment sensors (HTS221 + LPS25H on one I²C bus), each
 * opened once however many nodes use it. Readings asked for while one is being taken share it: two sense-env nodes
 * never interleave their measurement sequences on the bus.
 */
export class SharedSenseHat {
  private readonly matrix: CountedPart<LedMatrix>;
  private readonly env: CountedPart<EnvSensor>;
  private reading: Promise<EnvReading> | null = null;

  constructor(open: { matrix: () => LedMatrix; env: () => EnvSensor }) {
    this.matrix = new CountedPart(open.matrix);
    this.env = new CountedPart(open.env);
  }

  /** How many users hold each part now. */
  get users(): { matrix: number; env: number } {
    return { matrix: this.matrix.count, env: this.env.count };
  }

  ledMatrix(): LedMatrix {
    const { part, release } = this.matrix.acquire();
    let closed = false;
    return {
      show: (frame: Frame) => {
        if (!closed) part.show(frame);
      },
      close: () => {
        closed = true;
        return release();
      },
    };
  }

  envSensor(): EnvSensor {
    const { part, release } = this.env.acquire();
    let closed = false;
    return {
      read: () => {
        if (closed) return Promise.reject(new Error("the Sense HAT sensors are closed"));
        this.reading ??= part.read().finally(() => {
          this.reading = null;
        });
        return this.reading;
      },
      close: () => {
        closed = true;
        return release();
      },
    };
  }
}

class ClaimedInput implements GpioInput {
  constructor(private readonly input: GpioInput, private readonly release: () => void) {}
  read(): Level {
    return this.input.read();
  }
  onChange(listener: (level: Level) => void): void {
    this.input.onChange(listener);
  }
  async close(): Promise<void> {
    try {
      await this.input.close();
    } finally {
      this.release();
    }
  }
}

class ClaimedOutput implements GpioOutput {
  readonly settled?: () => Promise<void>;
  constructor(private readonly output: GpioOutput, private readonly release: () => void) {
    if (output.settled) this.settled = () => output.settled!();
  }
  write(level: Level): void {
    this.output.write(level);
  }
  read(): Level {
    return this.output.read();
  }
  async close(): Promise<void> {
    try {
      await this.output.close();
    } finally {
      this.release();
    }
  }
}

function claimed<T>(pins: PinRegistry, pin: number, owner: string, open: () => T, wrap: (t: T, release: () => void) => T): T {
  const release = pins.claim(pin, owner);
  try {
    return wrap(open(), release);
  } catch (err) {
    release();
    throw err;
  }
}

/** A device's hardware as its nodes share it: `for(owner)` is what one node gets, its claims made in its name. */
export class DeviceHardware {
  readonly pins = new PinRegistry();
  readonly senseHat: SharedSenseHat;
  /** The camera's stream, made for its first user and shared by all (it runs while any of them subscribes). */
  private stream: CameraStream | null = null;

  constructor(private readonly raw: Drivers) {
    this.senseHat = new SharedSenseHat({ matrix: () => raw.ledMatrix("matrix"), env: () => raw.envSensor() });
  }

  get kind(): Drivers["kind"] {
    return this.raw.kind;
  }

  for(owner: string): Drivers {
    const raw = this.raw;
    return {
      kind: raw.kind,
      gpioInput: (o) => claimed(this.pins, o.pin, owner, () => raw.gpioInput(o), (i, release) => new ClaimedInput(i, release)),
      gpioOutput: (o) => claimed(this.pins, o.pin, owner, () => raw.gpioOutput(o), (out, release) => new ClaimedOutput(out, release)),
      ledMatrix: () => this.senseHat.ledMatrix(),
      envSensor: () => this.senseHat.envSensor(),
      cpuTemperature: () => raw.cpuTemperature(),
      fuelGauge: (model) => raw.fuelGauge(model),
      camera: (o) => raw.camera(o),
      cameraStream: (format) => (this.stream ??= raw.cameraStream(format)),
    };
  }
}
