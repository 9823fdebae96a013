// The UPS-Lite v1.2's fuel gauge: a Maxim MAX17040G at 0x36 on I²C bus 1. Its registers are 16-bit, most
// significant byte first (read and written through SMBus words, so swapped: see fuel-gauge.ts).
// - VCELL (0x02): 12 bits in 15:4, 1.25 mV a step: register × 1.25 / 1000 / 16 V.
// - SOC (0x04): % in the high byte, 1/256 % in the low byte: register / 256.
// - Set up as the vendor's script does: a power-on reset (COMMAND 0xFE ← 0x5400), then a quick start
//   (MODE 0x06 ← 0x4000). On the wire those are the SMBus words 0x0054 and 0x0040. (The vendor's script writes
//   the word 0x4000, which lands 0x40 in the wrong byte of MODE; the datasheet's quick start is 0x4000 MSB first.)
import type { FuelGaugeReading } from "../types";
import { I2cFuelGauge, gaugeReading, readRegister, writeRegister, type I2cWordBus } from "./fuel-gauge";

export const MAX17040_ADDRESS = 0x36;

export const MAX17040 = {
  VCELL: 0x02,
  SOC: 0x04,
  MODE: 0x06,
  VERSION: 0x08,
  COMMAND: 0xfe,
} as const;

/** COMMAND: power-on reset. */
export const MAX17040_POR = 0x5400;
/** MODE: quick start (restart the fuel-gauge calculations from the cell's voltage). */
export const MAX17040_QUICK_START = 0x4000;

/** VCELL register value → volts. */
export function max17040Voltage(register: number): number {
  return (register * 1.25) / 1000 / 16;
}

/** SOC register value → %. */
export function max17040Percent(register: number): number {
  return register / 256;
}

export class Max17040 extends I2cFuelGauge {
  constructor(bus: I2cWordBus, address = MAX17040_ADDRESS) {
    super(bus, address);
  }

  protected async init(): Promise<void> {
    await writeRegister(this.bus, this.address, MAX17040.COMMAND, MAX17040_POR);
    await writeRegister(this.bus, this.address, MAX17040.MODE, MAX17040_QUICK_START);
  }

  protected async measure(): Promise<FuelGaugeReading> {
    const vcell = await readRegister(this.bus, this.address, MAX17040.VCELL);
    const soc = await readRegister(this.bus, this.address, MAX17040.SOC);
    return gaugeReading(max17040Voltage(vcell), max17040Percent(soc));
  }
}
