// The Sense HAT's humidity sensor, ST HTS221 at 0x5F: relative humidity and temperature. Set up as the Sense HAT
// Python library (RTIMULib's RTHumidityHTS221) does it, with the factory calibration read once and applied as the
// datasheet says: both values are straight lines through two calibration points.
import { HardwareUnavailableError } from "../types";
import { int16, waitForStatus, type I2cRegisterBus } from "./i2c";

export const HTS221_ADDRESS = 0x5f;

export const HTS221 = {
  WHO_AM_I: 0x0f,
  AV_CONF: 0x10,
  CTRL_REG1: 0x20,
  STATUS: 0x27,
  HUMIDITY_OUT_L: 0x28,
  HUMIDITY_OUT_H: 0x29,
  TEMP_OUT_L: 0x2a,
  TEMP_OUT_H: 0x2b,
  H0_RH_X2: 0x30,
  H1_RH_X2: 0x31,
  T0_DEGC_X8: 0x32,
  T1_DEGC_X8: 0x33,
  T1_T0_MSB: 0x35,
  H0_T0_OUT_L: 0x36,
  H1_T0_OUT_L: 0x3a,
  T0_OUT_L: 0x3c,
  T1_OUT_L: 0x3e,
} as const;

export const HTS221_ID = 0xbc;
/** CTRL_REG1: power on, block data update, 12.5 Hz continuous (RTIMULib's 0x87). */
export const HTS221_CTRL_REG1 = 0x87;
/** AV_CONF: 16 temperature and 32 humidity samples averaged (RTIMULib's 0x1B). */
export const HTS221_AV_CONF = 0x1b;

/** The factory calibration: two points (raw output → value) for humidity and for temperature. */
export interface Hts221Calibration {
  h0Rh: number;
  h1Rh: number;
  h0T0Out: number;
  h1T0Out: number;
  t0DegC: number;
  t1DegC: number;
  t0Out: number;
  t1Out: number;
}

/** Decodes the calibration registers (0x30..0x3F) as the datasheet lays them out. */
export function hts221Calibration(reg: (register: number) => number): Hts221Calibration {
  const msb = reg(HTS221.T1_T0_MSB);
  return {
    h0Rh: reg(HTS221.H0_RH_X2) / 2,
    h1Rh: reg(HTS221.H1_RH_X2) / 2,
    h0T0Out: int16(reg(HTS221.H0_T0_OUT_L), reg(HTS221.H0_T0_OUT_L + 1)),
    h1T0Out: int16(reg(HTS221.H1_T0_OUT_L), reg(HTS221.H1_T0_OUT_L + 1)),
    // T0 and T1 are 10-bit: their two top bits sit in T1/T0 msb (bits 1:0 for T0, 3:2 for T1)
    t0DegC: (((msb & 0x03) << 8) | reg(HTS221.T0_DEGC_X8)) / 8,
    t1DegC: (((msb & 0x0c) << 6) | reg(HTS221.T1_DEGC_X8)) / 8,
    t0Out: int16(reg(HTS221.T0_OUT_L), reg(HTS221.T0_OUT_L + 1)),
    t1Out: int16(reg(HTS221.T1_OUT_L), reg(HTS221.T1_OUT_L + 1)),
  };
}

/** %RH by linear interpolation, limited to 0..100 as ST's reference code does. */
export function hts221Humidity(raw: number, c: Hts221Calibration): number {
  const rh = c.h0Rh + ((raw - c.h0T0Out) * (c.h1Rh - c.h0Rh)) / (c.h1T0Out - c.h0T0Out);
  return Math.min(100, Math.max(0, rh));
}

/** °C by linear interpolation. */
export function hts221Temperature(raw: number, c: Hts221Calibration): number {
  return c.t0DegC + ((raw - c.t0Out) * (c.t1DegC - c.t0DegC)) / (c.t1Out - c.t0Out);
}

export class Hts221 {
  private calibration: Hts221Calibration | null = null;

  constructor(
    private readonly bus: I2cRegisterBus,
    private readonly sleep: (ms: number) => Promise<void>,
    readonly address = HTS221_ADDRESS,
  ) {}

  private reg(register: number): Promise<number> {
    return this.bus.readByte(this.address, register);
  }

  /** Checks the chip, powers it up as RTIMULib does, and reads its calibration. */
  private async init(): Promise<Hts221Calibration> {
    const id = await this.reg(HTS221.WHO_AM_I).catch((err: Error) => {
      throw new HardwareUnavailableError(`no HTS221 humidity sensor at 0x${this.address.toString(16)}: ${err.message}`);
    });
    if (id !== HTS221_ID) {
      throw new HardwareUnavailableError(`the chip at 0x${this.address.toString(16)} is not an HTS221 (WHO_AM_I 0x${id.toString(16)})`);
    }
    await this.bus.writeByte(this.address, HTS221.CTRL_REG1, HTS221_CTRL_REG1);
    await this.bus.writeByte(this.address, HTS221.AV_CONF, HTS221_AV_CONF);
    const registers = new Map<number, number>();
    for (let r = HTS221.H0_RH_X2; r <= HTS221.T1_OUT_L + 1; r++) registers.set(r, await this.reg(r));
    const calibration = hts221Calibration((r) => registers.get(r) ?? 0);
    if (calibration.h1T0Out === calibration.h0T0Out || calibration.t1Out === calibration.t0Out) {
      throw new Error("HTS221 calibration is blank (both points read the same)");
    }
    return calibration;
  }

  /** Humidity (%RH) and temperature (°C). Any failure forgets the set-up, so the next read starts afresh. */
  async read(): Promise<{ humidity: number; temperature: number }> {
    try {
      this.calibration ??= await this.init();
      const c = this.calibration;
      // bit 1: new humidity, bit 0: new temperature; right after power-up the first ones take ~80 ms
      if (!(await waitForStatus(() => this.reg(HTS221.STATUS), 0x03, this.sleep))) {
        throw new Error("HTS221 gave no new reading within 500 ms");
      }
      // with block data update, the pair is frozen from the low byte read until the high byte is read
      const h = int16(await this.reg(HTS221.HUMIDITY_OUT_L), await this.reg(HTS221.HUMIDITY_OUT_H));
      const t = int16(await this.reg(HTS221.TEMP_OUT_L), await this.reg(HTS221.TEMP_OUT_H));
      return { humidity: hts221Humidity(h, c), temperature: hts221Temperature(t, c) };
    } catch (err) {
      this.calibration = null;
      throw err;
    }
  }
}
