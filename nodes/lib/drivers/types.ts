// One interface per device kind. Nodes see only these; pi/ and sim/ implement them.
import type { Frame } from "../matrix-glyphs";
import type { FrameSource, StreamFormat } from "../camera/types";

export type Level = 0 | 1;
export type Pull = "none" | "up" | "down";

export interface GpioInputOptions {
  /** A name for the input, one topic level (the simulator's `pifog/<device>/sim/<name>/set`). */
  name: string;
  /** BCM line number. */
  pin: number;
  pull: Pull;
  activeLow: boolean;
  /** A change is reported only once the level has held this long. */
  debounceMs: number;
  /** Words the simulator also accepts for a level, e.g. { open: 0, closed: 1 } for a door. */
  simWords?: Record<string, Level>;
  /** The simulator's level at start. */
  simInitial?: Level;
}

export interface GpioInput {
  /** The current (debounced) level. */
  read(): Level;
  /** Called with each debounced change. */
  onChange(listener: (level: Level) => void): void;
  close(): Promise<void>;
}

export interface GpioOutputOptions {
  name: string;
  pin: number;
  activeLow: boolean;
  initial: Level;
}

export interface GpioOutput {
  /** Sets the level before it returns (on a Pi the kernel has it), so a dying process can still make it safe. */
  write(level: Level): void;
  read(): Level;
  /** Resolves once the last level written has left the process too (the simulator's publish of it). */
  settled?(): Promise<void>;
  close(): Promise<void>;
}

export interface LedMatrix {
  /** Show a whole frame of 64 pixels at once. */
  show(frame: Frame): void;
  close(): Promise<void>;
}

/** One reading of the Sense HAT's environment sensors, the four values its Python library gives. */
export interface EnvReading {
  /** Relative humidity, %RH (HTS221). */
  humidity: number;
  /** °C, from the humidity sensor (HTS221). */
  temperatureFromHumidity: number;
  /** hPa (LPS25H). */
  pressure: number;
  /** °C, from the pressure sensor (LPS25H). */
  temperatureFromPressure: number;
}

/** Humidity, pressure and their temperatures (a Sense HAT's HTS221 + LPS25H). */
export interface EnvSensor {
  /** Takes a reading; rejects on a bus or sensor error (the next read tries again from scratch). */
  read(): Promise<EnvReading>;
  close(): Promise<void>;
}

/** The SoC's temperature, °C: what heats a Sense HAT sitting on the Pi. */
export interface CpuTemperature {
  read(): Promise<number>;
  close(): Promise<void>;
}

/** The UPS boards whose fuel gauge PiFog reads: UPS-Lite v1.2 (MAX17040G at 0x36) and v1.3 (CW2015 at 0x62). */
export type FuelGaugeModel = "upslite-v1.2" | "upslite-v1.3";
export const FUEL_GAUGE_MODELS: readonly FuelGaugeModel[] = ["upslite-v1.2", "upslite-v1.3"];

/** One reading of a battery's fuel gauge. */
export interface FuelGaugeReading {
  /** Cell voltage, V. */
  voltage: number;
  /** State of charge, 0..100 %. */
  percent: number;
}

/** A UPS's battery fuel gauge. */
export interface FuelGauge {
  /** Takes a reading; rejects on a bus error (the next read tries again, initialising the chip if it has not been). */
  read(): Promise<FuelGaugeReading>;
  close(): Promise<void>;
}

/** The two picture sizes PiFog's CameraPi took: `take-picture-low-res` and `take-picture-high-res`. */
export type CameraPreset = "low" | "high";
export const CAMERA_PRESETS: Readonly<Record<CameraPreset, { readonly width: number; readonly height: number }>> = {
  low: { width: 500, height: 281 },
  high: { width: 1900, height: 1200 },
};

export interface CameraOptions {
  /** Degrees; 0 or 180 (what libcamera's transform can do on every sensor). */
  rotation: 0 | 180;
  /** A capture that takes longer than this is killed and fails. */
  timeoutMs: number;
}

/** One still: a JPEG and its size in pixels. */
export interface Picture {
  jpeg: Buffer;
  width: number;
  height: number;
  preset: CameraPreset;
}

/** A still camera (the Pi's camera port, or the simulator's scenes). */
export interface Camera {
  /** Takes a still at the preset's size; rejects when the camera fails or times out. */
  capture(preset: CameraPreset): Promise<Picture>;
  close(): Promise<void>;
}

/** Where a running MJPEG camera delivers its JPEGs, and says how it goes (it restarts on its own after a failure). */
export interface MjpegSink {
  frame(jpeg: Buffer): void;
  state(state: StreamState): void;
}

/** How a camera stream stands: running (which program), failing (why; it tries again), stopped (nobody uses it). */
export type StreamState =
  | { state: "running"; program: string }
  | { state: "failing"; message: string; retryInMs: number | null }
  | { state: "stopped" };

/** A camera that streams MJPEG (rpicam-vid / libcamera-vid on a Pi, rendered scenes in the simulator). */
export interface MjpegCamera {
  /** Starts the camera at `format`; it runs (restarting after failures) until the handle is closed. */
  start(format: StreamFormat, sink: MjpegSink): { close(): Promise<void> };
}

/** A device's camera stream as its nodes share it: one camera process for every subscriber. */
export interface CameraStream extends FrameSource {
  /** Restarts the stream at a new size/rate/rotation (subscribers keep their subscriptions); a no-op when unchanged. */
  setFormat(format: StreamFormat): void;
  /** Every change of the stream's state; returns the unsubscribe. */
  onState(listener: (state: StreamState) => void): () => void;
  readonly state: StreamState;
}

export type HardwareKind = "pi" | "sim";

/** What a node asks its device for. */
export interface Drivers {
  readonly kind: HardwareKind;
  gpioInput(options: GpioInputOptions): GpioInput;
  gpioOutput(options: GpioOutputOptions): GpioOutput;
  ledMatrix(name: string): LedMatrix;
  envSensor(): EnvSensor;
  cpuTemperature(): CpuTemperature;
  /** The battery's fuel gauge of a UPS board (throws HardwareUnavailableError when there is no I²C bus). */
  fuelGauge(model: FuelGaugeModel): FuelGauge;
  /** The still camera (throws HardwareUnavailableError when no camera program is installed). */
  camera(options: CameraOptions): Camera;
  /**
   * The camera's MJPEG stream. A device's nodes all get the same one (the first caller's format starts it); the
   * raw drivers give a stream of its own to each caller.
   */
  cameraStream(format: StreamFormat): CameraStream;
}

export class HardwareUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HardwareUnavailableError";
  }
}
