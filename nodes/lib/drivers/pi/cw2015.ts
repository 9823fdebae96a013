// The UPS-Lite v1.3's fuel gauge: a CellWise CW2015 at 0x62 on I²C bus 1. Its registers are 16-bit, most
// significant byte first (read through SMBus words, so swapped: see fuel-gauge.ts).
// - VCELL (0x02): 14 bits, 305 µV a step: register × 0.305 / 1000 V.
// - SOC (0x04): % in the high byte, 1/256 % in the low byte: register / 256.
// - MODE (0x0A) ← 0x30, as the vendor's script does: quick start, and out of sleep (bits 7:6 cleared).
//   MODE is one byte, so it is written as a byte: a word would also write the next register.
import type { FuelGaugeReading } from "../types";
import { I2cFuelGauge, gaugeReading, readRegister, type I2cWordBus } from "./fuel-gauge";

export const CW2015_ADDRESS = 0x62;

export const CW2015 = {
  VERSION: 0x00,
  VCELL: 0x02,
  SOC: 0x04,
  MODE: 0x0a,
} as const;

/** MODE: quick start, normal (not sleeping). */
export const CW2015_QUICK_START = 0x30;

/** VCELL register value → volts (the top two bits are not part of the value). */
export function cw2015Voltage(register: number): number {
  return ((register & 0x3fff) * 0.305) / 1000;
}

/** SOC register value → %. */
export function cw2015Percent(register: number): number {
  return register / 256;
}

export class Cw2015 extends I2cFuelGauge {
  constructor(bus: I2cWordBus, address = CW2015_ADDRESS) {
    super(bus, address);
  }

  protected async init(): Promise<void> {
    await this.bus.writeByte(this.address, CW2015.MODE, CW2015_QUICK_START);
  }

  protected async measure(): Promise<FuelGaugeReading> {
    const vcell = await readRegister(this.bus, this.address, CW2015.VCELL);
    const soc = await readRegister(this.bus, this.address, CW2015.SOC);
    return gaugeReading(cw2015Voltage(vcell), cw2015Percent(soc));
  }
}
