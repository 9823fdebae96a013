// The Sense HAT's pressure sensor, ST LPS25H at 0x5C: pressure and temperature. Set up as the Sense HAT Python
// library (RTIMULib's RTPressureLPS25H) does it: 25 Hz continuous with the FIFO averaging.
import { HardwareUnavailableError } from "../types";
import { int16, int24, waitForStatus, type I2cRegisterBus } from "./i2c";

export const LPS25H_ADDRESS = 0x5c;

export const LPS25H = {
  WHO_AM_I: 0x0f,
  RES_CONF: 0x10,
  CTRL_REG1: 0x20,
  CTRL_REG2: 0x21,
  STATUS: 0x27,
  PRESS_OUT_XL: 0x28,
  PRESS_OUT_L: 0x29,
  PRESS_OUT_H: 0x2a,
  TEMP_OUT_L: 0x2b,
  TEMP_OUT_H: 0x2c,
  FIFO_CTRL: 0x2e,
} as const;

/** WHO_AM_I of the LPS25H and of the LPS25HB that later Sense HATs carry. */
export const LPS25H_ID = 0xbd;

/** RTIMULib's set-up, in its order: power on, 25 Hz, block data update; averaging; FIFO mean mode; FIFO on. */
export const LPS25H_SETUP: ReadonlyArray<readonly [register: number, value: number]> = [
  [LPS25H.CTRL_REG1, 0xc4],
  [LPS25H.RES_CONF, 0x05],
  [LPS25H.FIFO_CTRL, 0xc0],
  [LPS25H.CTRL_REG2, 0x40],
];

/** hPa from the 24-bit two's complement PRESS_OUT: 4096 LSB per hPa. */
export function lps25hPressure(raw: number): number {
  return raw / 4096;
}

/** °C from the 16-bit two's complement TEMP_OUT: 42.5 °C at 0, 480 LSB per °C. */
export function lps25hTemperature(raw: number): number {
  return 42.5 + raw / 480;
}

export class Lps25h {
  private ready = false;

  constructor(
    private readonly bus: I2cRegisterBus,
    private readonly sleep: (ms: number) => Promise<void>,
    readonly address = LPS25H_ADDRESS,
  ) {}

  private reg(register: number): Promise<number> {
    return this.bus.readByte(this.address, register);
  }

  private async init(): Promise<void> {
    const id = await this.reg(LPS25H.WHO_AM_I).catch((err: Error) => {
      throw new HardwareUnavailableError(`no LPS25H pressure sensor at 0x${this.address.toString(16)}: ${err.message}`);
    });
    if (id !== LPS25H_ID) {
      throw new HardwareUnavailableError(`the chip at 0x${this.address.toString(16)} is not an LPS25H (WHO_AM_I 0x${id.toString(16)})`);
    }
    for (const [register, value] of LPS25H_SETUP) await this.bus.writeByte(this.address, register, value);
  }

  /** Pressure (hPa) and temperature (°C). Any failure forgets the set-up, so the next read starts afresh. */
  async read(): Promise<{ pressure: number; temperature: number }> {
    try {
      if (!this.ready) {
        await this.init();
        this.ready = true;
      }
      // bit 1: new pressure, bit 0: new temperature
      if (!(await waitForStatus(() => this.reg(LPS25H.STATUS), 0x03, this.sleep))) {
        throw new Error("LPS25H gave no new reading within 500 ms");
      }
      const p = int24(await this.reg(LPS25H.PRESS_OUT_XL), await this.reg(LPS25H.PRESS_OUT_L), await this.reg(LPS25H.PRESS_OUT_H));
      const t = int16(await this.reg(LPS25H.TEMP_OUT_L), await this.reg(LPS25H.TEMP_OUT_H));
      return { pressure: lps25hPressure(p), temperature: lps25hTemperature(t) };
    } catch (err) {
      this.ready = false;
      throw err;
    }
  }
}
