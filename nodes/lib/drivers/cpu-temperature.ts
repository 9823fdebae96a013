// The SoC's temperature from the kernel's thermal zone (millidegrees Celsius), as `vcgencmd measure_temp` shows it.
import fs from "node:fs";
import type { CpuTemperature } from "./types";

export const THERMAL_ZONE = "/sys/class/thermal/thermal_zone0/temp";

export class SysfsCpuTemperature implements CpuTemperature {
  constructor(readonly file = THERMAL_ZONE) {}

  async read(): Promise<number> {
    const text = (await fs.promises.readFile(this.file, "utf8")).trim();
    const milli = /^-?\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isFinite(milli)) throw new Error(`${this.file} does not hold a temperature: "${text.slice(0, 20)}"`);
    return milli / 1000;
  }

  async close(): Promise<void> {}
}
