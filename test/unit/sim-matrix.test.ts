import assert from "node:assert/strict";
import type { SimBus } from "../../nodes/lib/drivers/sim/sim-bus";
import { SimLedMatrix } from "../../nodes/lib/drivers/sim/sim-matrix";
import { glyphs, type Frame } from "../../nodes/lib/matrix-glyphs";

class MemoryBus implements SimBus {
  readonly published: Array<{ topic: string; payload: string; retain: boolean }> = [];
  readonly warnings: string[] = [];
  constructor(readonly device: string) {}
  subscribe(): () => void {
    return () => undefined;
  }
  publish(topic: string, payload: string, retain: boolean): void {
    this.published.push({ topic, payload, retain });
  }
  warn(message: string): void {
    this.warnings.push(message);
  }
}

describe("SimLedMatrix", () => {
  it("publishes nothing until it is shown a frame", () => {
    const bus = new MemoryBus("sp1");
    const matrix = new SimLedMatrix(bus);
    assert.deepEqual(bus.published, []);
    assert.equal(matrix.current, null);
  });

  it("publishes each frame retained on pifog/<device>/sim/matrix as a JSON array of 64 [r,g,b]", () => {
    const bus = new MemoryBus("sp1");
    const matrix = new SimLedMatrix(bus);
    matrix.show(glyphs.go());
    assert.equal(bus.published.length, 1);
    const { topic, payload, retain } = bus.published[0]!;
    assert.equal(topic, "pifog/sp1/sim/matrix");
    assert.equal(retain, true);
    const pixels = JSON.parse(payload) as unknown;
    assert.ok(Array.isArray(pixels));
    assert.equal(pixels.length, 64);
    for (const px of pixels) {
      assert.ok(Array.isArray(px) && px.length === 3 && px.every((c) => Number.isInteger(c) && c >= 0 && c <= 255), JSON.stringify(px));
    }
    assert.deepEqual(pixels, glyphs.go());
    // row 3 of the green plus is all green
    assert.deepEqual(pixels.slice(24, 32), Array(8).fill([0, 255, 0]));
  });

  it("publishes every new frame and remembers the last", () => {
    const bus = new MemoryBus("sp1");
    const matrix = new SimLedMatrix(bus);
    matrix.show(glyphs.go());
    matrix.show(glyphs.stop());
    assert.equal(bus.published.length, 2);
    assert.deepEqual(JSON.parse(bus.published[1]!.payload), glyphs.stop());
    assert.deepEqual(matrix.current, glyphs.stop());
  });

  it("rejects a frame that is not 64 pixels and publishes nothing", () => {
    const bus = new MemoryBus("sp1");
    const matrix = new SimLedMatrix(bus);
    const short: Frame = glyphs.go().slice(0, 8);
    assert.throws(() => matrix.show(short), RangeError);
    assert.throws(() => matrix.show([...glyphs.go(), ...glyphs.go()]), /64 pixels, not 128/);
    assert.deepEqual(bus.published, []);
    assert.equal(matrix.current, null);
  });
});
