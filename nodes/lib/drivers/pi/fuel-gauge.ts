// What the UPS-Lite fuel gauges share: 16-bit registers read and written as SMBus words. SMBus sends a word's
// low byte first, while both chips keep their registers most significant byte first, so every word is swapped
// on the way in and on the way out (the vendor's scripts do the same with struct.pack(">H")/unpack("<H")).
import type { FuelGauge, FuelGaugeReading } from "../types";
import { openI2cBus } from "./i2c";

/** The part of i2c-bus's promisified bus the fuel gauges use: SMBus word and byte data. */
export interface I2cWordBus {
  readWord(address: number, register: number): Promise<number>;
  writeWord(address: number, register: number, word: number): Promise<void>;
  writeByte(address: number, register: number, byte: number): Promise<void>;
  close(): Promise<void>;
}

export type I2cWordOpener = (busNumber: number) => I2cWordBus;

/** Opens `/dev/i2c-<n>` (see openI2cBus): the same i2c-bus PromisifiedBus, which also has the word calls. */
export const openI2cWordBus: I2cWordOpener = (busNumber) => openI2cBus(busNumber) as unknown as I2cWordBus;

/** The two bytes of a 16-bit word exchanged: an SMBus word ↔ a big-endian register value. */
export function swap16(word: number): number {
  return ((word & 0xff) << 8) | ((word >> 8) & 0xff);
}

/** A chip's register value (most significant byte first) read as an SMBus word. */
export async function readRegister(bus: I2cWordBus, address: number, register: number): Promise<number> {
  return swap16(await bus.readWord(address, register));
}

/** Writes a register value (most significant byte first) as an SMBus word. */
export async function writeRegister(bus: I2cWordBus, address: number, register: number, value: number): Promise<void> {
  await bus.writeWord(address, register, swap16(value));
}

/** A fuel gauge on an I²C bus: initialised before its first reading (and again after a failed one). */
export abstract class I2cFuelGauge implements FuelGauge {
  private initialised = false;
  private closed = false;

  constructor(protected readonly bus: I2cWordBus, readonly address: number) {}

  protected abstract init(): Promise<void>;
  protected abstract measure(): Promise<FuelGaugeReading>;

  async read(): Promise<FuelGaugeReading> {
    if (this.closed) throw new Error("the fuel gauge is closed");
    try {
      if (!this.initialised) {
        await this.init();
        this.initialised = true;
      }
      return await this.measure();
    } catch (err) {
      // a chip that was unplugged or reset comes back through init
      this.initialised = false;
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.bus.close();
  }
}

const round = (v: number, places: number) => Math.round(v * 10 ** places) / 10 ** places;

/** A reading as the node reports it: volts to the millivolt, percent to a hundredth, SOC within 0..100. */
export function gaugeReading(voltage: number, percent: number): FuelGaugeReading {
  return { voltage: round(voltage, 3), percent: round(Math.min(100, Math.max(0, percent)), 2) };
}
