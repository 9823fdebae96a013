// A simulated LED matrix: each frame is published, retained, as 64 [r,g,b] triples row by row.
import { topics } from "../../contract";
import type { Frame } from "../../matrix-glyphs";
import type { LedMatrix } from "../types";
import type { SimBus } from "./sim-bus";

export class SimLedMatrix implements LedMatrix {
  private last: Frame | null = null;

  constructor(private readonly bus: SimBus) {}

  show(frame: Frame): void {
    if (frame.length !== 64) throw new RangeError(`a frame has 64 pixels, not ${frame.length}`);
    this.last = frame;
    this.bus.publish(topics.simMatrix(this.bus.device), JSON.stringify(frame), true);
  }

  get current(): Frame | null {
    return this.last;
  }

  async close(): Promise<void> {}
}
