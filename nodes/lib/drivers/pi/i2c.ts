// The I²C bus for the Sense HAT's environment sensors, through `i2c-bus`. The native module is required only
// here, only when a Pi driver is asked for, so nothing loads it off a Pi.
import fs from "node:fs";
import { HardwareUnavailableError } from "../types";

/** The part of i2c-bus's promisified bus the sensors use: single register reads and writes (SMBus byte data). */
export interface I2cRegisterBus {
  readByte(address: number, register: number): Promise<number>;
  writeByte(address: number, register: number, byte: number): Promise<void>;
  close(): Promise<void>;
}

export type I2cOpener = (busNumber: number) => I2cRegisterBus;

/** Opens `/dev/i2c-<n>` with i2c-bus; throws HardwareUnavailableError, saying what to do, when there is none. */
export const openI2cBus: I2cOpener = (busNumber) => {
  const device = `/dev/i2c-${busNumber}`;
  if (!fs.existsSync(device)) {
    throw new HardwareUnavailableError(`no I²C bus ${device} (enable I²C with raspi-config, or set hardware to sim)`);
  }
  let i2c: typeof import("i2c-bus");
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    i2c = require("i2c-bus") as typeof import("i2c-bus");
  } catch (err) {
    throw new HardwareUnavailableError(`i2c-bus could not be loaded: ${(err as Error).message}`);
  }
  try {
    return i2c.openSync(busNumber).promisifiedBus();
  } catch (err) {
    throw new HardwareUnavailableError(`could not open ${device}: ${(err as Error).message}`);
  }
};

/** A little-endian 16-bit two's complement value from its low and high bytes. */
export function int16(low: number, high: number): number {
  const v = ((high & 0xff) << 8) | (low & 0xff);
  return v >= 0x8000 ? v - 0x10000 : v;
}

/** A little-endian 24-bit two's complement value from its three bytes, lowest first. */
export function int24(xl: number, l: number, h: number): number {
  const v = ((h & 0xff) << 16) | ((l & 0xff) << 8) | (xl & 0xff);
  return v >= 0x800000 ? v - 0x1000000 : v;
}

/** Polls a status register until `mask` is all set, `tries` times `everyMs` apart. */
export async function waitForStatus(
  read: () => Promise<number>,
  mask: number,
  sleep: (ms: number) => Promise<void>,
  tries = 25,
  everyMs = 20,
): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (((await read()) & mask) === mask) return true;
    await sleep(everyMs);
  }
  return false;
}
