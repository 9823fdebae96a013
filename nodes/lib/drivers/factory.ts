// Picks the Pi drivers on a Raspberry Pi and the simulators elsewhere (PIFOG_HARDWARE overrides).
import fs from "node:fs";
import type { Clock } from "../clock";
import { OnoffGpioInput, OnoffGpioOutput, setPullWithPinctrl, type OnoffDeps, type OnoffGpioClass } from "./pi/onoff-gpio";
import { sysfsLineNumber } from "./pi/gpio-chip";
import { SenseHatMatrix } from "./pi/sense-hat-matrix";
import { SysfsCpuTemperature, THERMAL_ZONE } from "./cpu-temperature";
import { openI2cBus, type I2cOpener } from "./pi/i2c";
import { SenseHatEnv } from "./pi/sense-hat-env";
import { Cw2015 } from "./pi/cw2015";
import { openI2cWordBus, type I2cWordOpener } from "./pi/fuel-gauge";
import { Max17040 } from "./pi/max17040";
import { SimBattery } from "./sim/sim-battery";
import { CAMERA_PROGRAMS, PiCamera, onPath, type CommandRunner } from "./pi/camera";
import { SimCamera } from "./sim/sim-camera";
import { SimMjpegCamera } from "./sim/sim-video";
import { PiMjpegCamera, type PiVideoOptions } from "./pi/camera-stream";
import { SharedCameraStream } from "../camera/stream";
import type { SimBus } from "./sim/sim-bus";
import { SimGpioInput, SimGpioOutput } from "./sim/sim-gpio";
import { SimLedMatrix } from "./sim/sim-matrix";
import { SimCpuTemperature, SimEnvSensor, seedOf, seededRandom, type Random } from "./sim/sim-env";
import { HardwareUnavailableError, type CameraOptions, type Drivers, type FuelGauge, type FuelGaugeModel, type HardwareKind } from "./types";

export type HardwareSetting = "auto" | "sim" | "pi";

export function parseHardwareSetting(value: string | undefined): HardwareSetting {
  const v = (value ?? "").trim().toLowerCase();
  if (v === "" || v === "auto") return "auto";
  if (v === "sim" || v === "pi") return v;
  throw new Error(`PIFOG_HARDWARE must be auto, sim or pi, not "${value}"`);
}

/** A Raspberry Pi says so in its device tree. */
export function isRaspberryPi(modelFile = "/proc/device-tree/model"): boolean {
  try {
    return fs.readFileSync(modelFile, "utf8").includes("Raspberry Pi");
  } catch {
    return false;
  }
}

export function resolveHardware(setting: HardwareSetting, onPi: () => boolean = isRaspberryPi): HardwareKind {
  if (setting === "auto") return onPi() ? "pi" : "sim";
  return setting;
}

export interface SimOptions {
  /** The simulated camera stream's motion script at start (./sim/motion-scenes.ts): "demo" for PIFOG_ROLE=all. */
  motionScript?: string;
}

/** `random` drives the simulators' noise; by default seeded from the device id and the start time. */
export function simDrivers(
  bus: SimBus,
  clock: Clock,
  random: Random = seededRandom(seedOf(bus.device, clock.now())),
  sim: SimOptions = {},
): Drivers {
  let video: SimMjpegCamera | null = null;
  return {
    kind: "sim",
    gpioInput: (o) => new SimGpioInput(o, bus, clock),
    gpioOutput: (o) => new SimGpioOutput(o, bus),
    ledMatrix: () => new SimLedMatrix(bus),
    envSensor: () => new SimEnvSensor(bus, clock, random),
    cpuTemperature: () => new SimCpuTemperature(bus, clock, random),
    fuelGauge: () => new SimBattery(bus, clock),
    camera: (o) => new SimCamera(o, bus, random),
    cameraStream: (format) => new SharedCameraStream((video ??= new SimMjpegCamera(bus, clock, random, sim.motionScript)), clock, format),
  };
}

function loadOnoff(): OnoffGpioClass {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Gpio } = require("onoff") as typeof import("onoff");
  if (!Gpio.accessible) throw new HardwareUnavailableError("GPIO is not accessible (no /sys/class/gpio)");
  return Gpio;
}

/** Where the Pi's environment drivers find their hardware (tests point them elsewhere). */
export interface PiEnvOptions {
  /** The I²C bus the Sense HAT is on: 1 on every Pi since the model B rev 2. */
  i2cBus?: number;
  openI2c?: I2cOpener;
  thermalZone?: string;
  /** Opens the bus a UPS's fuel gauge is on (word access); bus `i2cBus` too. */
  openI2cWords?: I2cWordOpener;
  /** Runs the camera programs (rpicam-still…); tests fake it. */
  runCommand?: CommandRunner;
  /** Whether a camera program is installed (on PATH by default). */
  hasProgram?: (program: string) => boolean;
  /** How the camera stream finds and restarts rpicam-vid / libcamera-vid. */
  video?: PiVideoOptions;
}

/** The fuel gauge of a UPS-Lite: v1.2 has a MAX17040G at 0x36, v1.3 a CW2015 at 0x62. */
function piFuelGauge(model: FuelGaugeModel, env: PiEnvOptions): FuelGauge {
  if (model !== "upslite-v1.2" && model !== "upslite-v1.3") throw new Error(`unknown UPS model "${String(model)}"`);
  const bus = (env.openI2cWords ?? openI2cWordBus)(env.i2cBus ?? 1);
  return model === "upslite-v1.2" ? new Max17040(bus) : new Cw2015(bus);
}

/** The Pi's camera through the first installed of rpicam-still, libcamera-still, raspistill. */
function piCamera(options: CameraOptions, env: PiEnvOptions): PiCamera {
  const installed = CAMERA_PROGRAMS.filter((p) => (env.hasProgram ?? onPath)(p));
  if (installed.length === 0) throw new HardwareUnavailableError(`no camera program installed (${CAMERA_PROGRAMS.join(", ")})`);
  return new PiCamera(options, env.runCommand, installed);
}

export function piDrivers(
  clock: Clock,
  warn: (m: string) => void,
  sysfsRoot = "/sys/class/gpio",
  env: PiEnvOptions = {},
): Drivers {
  const sleep = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
  let deps: OnoffDeps | null = null;
  const onoff = (): OnoffDeps =>
    (deps ??= {
      Gpio: loadOnoff(),
      lineNumber: (bcm) => sysfsLineNumber(bcm, sysfsRoot),
      setPull: setPullWithPinctrl,
      clock,
      warn,
    });
  return {
    kind: "pi",
    gpioInput: (o) => new OnoffGpioInput(o, onoff()),
    gpioOutput: (o) => new OnoffGpioOutput(o, onoff()),
    ledMatrix: () => new SenseHatMatrix(),
    envSensor: () => new SenseHatEnv((env.openI2c ?? openI2cBus)(env.i2cBus ?? 1), sleep),
    cpuTemperature: () => new SysfsCpuTemperature(env.thermalZone ?? THERMAL_ZONE),
    fuelGauge: (model) => piFuelGauge(model, env),
    camera: (o) => piCamera(o, env),
    cameraStream: (format) => new SharedCameraStream(new PiMjpegCamera(clock, { warn, ...env.video }), clock, format),
  };
}
