// The Sense HAT LED matrix through `sense-hat-led`, which finds its framebuffer when it is required and
// throws off a Pi: so it is loaded only here, only when a Pi driver is asked for.
import type { Frame } from "../../matrix-glyphs";
import { HardwareUnavailableError, type LedMatrix } from "../types";

/** The part of sense-hat-led we use: whole frames, written at once. */
export interface SenseHatLedModule {
  sync: { setPixels(pixels: number[][]): void; clear(): void };
}

export type SenseHatLoader = () => SenseHatLedModule;

export const requireSenseHat: SenseHatLoader = () => {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require("sense-hat-led") as SenseHatLedModule;
  } catch (err) {
    throw new HardwareUnavailableError(`Sense HAT LED matrix not found: ${(err as Error).message}`);
  }
};

export class SenseHatMatrix implements LedMatrix {
  private readonly led: SenseHatLedModule;

  constructor(load: SenseHatLoader = requireSenseHat) {
    this.led = load();
  }

  show(frame: Frame): void {
    if (frame.length !== 64) throw new RangeError(`a frame has 64 pixels, not ${frame.length}`);
    this.led.sync.setPixels(frame);
  }

  async close(): Promise<void> {
    this.led.sync.clear();
  }
}
