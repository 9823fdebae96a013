// The Sense HAT's environment sensors as one EnvSensor: the HTS221 and the LPS25H on one I²C bus.
import type { EnvReading, EnvSensor } from "../types";
import { Hts221 } from "./hts221";
import type { I2cRegisterBus } from "./i2c";
import { Lps25h } from "./lps25h";

export class SenseHatEnv implements EnvSensor {
  private readonly hts221: Hts221;
  private readonly lps25h: Lps25h;
  private closed = false;

  /** `bus` is opened by the caller (it throws at once off a Pi); `sleep` waits on the injected clock. */
  constructor(private readonly bus: I2cRegisterBus, sleep: (ms: number) => Promise<void>) {
    this.hts221 = new Hts221(bus, sleep);
    this.lps25h = new Lps25h(bus, sleep);
  }

  async read(): Promise<EnvReading> {
    if (this.closed) throw new Error("the Sense HAT sensors are closed");
    const h = await this.hts221.read();
    const p = await this.lps25h.read();
    return {
      humidity: h.humidity,
      temperatureFromHumidity: h.temperature,
      pressure: p.pressure,
      temperatureFromPressure: p.temperature,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // the sensors stay powered, as the Sense HAT library leaves them: another program may be using them
    await this.bus.close();
  }
}
