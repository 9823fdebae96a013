import assert from "node:assert/strict";
import { SenseHatMatrix, requireSenseHat, type SenseHatLedModule } from "../../nodes/lib/drivers/pi/sense-hat-matrix";
import { HardwareUnavailableError } from "../../nodes/lib/drivers/types";
import { glyphs, type Frame } from "../../nodes/lib/matrix-glyphs";

/** A stand-in for sense-hat-led that records every call. */
function fakeLed(): { module: SenseHatLedModule; calls: Array<[string, number[][]?]> } {
  const calls: Array<[string, number[][]?]> = [];
  return {
    calls,
    module: {
      sync: {
        setPixels: (pixels) => calls.push(["setPixels", pixels.map((p) => [...p])]),
        clear: () => calls.push(["clear"]),
      },
    },
  };
}

describe("SenseHatMatrix", () => {
  it("loads the LED module once, when it is made", () => {
    let loads = 0;
    const led = fakeLed();
    const matrix = new SenseHatMatrix(() => {
      loads++;
      return led.module;
    });
    assert.equal(loads, 1);
    matrix.show(glyphs.go());
    matrix.show(glyphs.stop());
    assert.equal(loads, 1);
  });

  it("writes a whole frame with one setPixels call, pixels in order", () => {
    const led = fakeLed();
    const matrix = new SenseHatMatrix(() => led.module);
    const frame = glyphs.stop();
    matrix.show(frame);
    assert.equal(led.calls.length, 1);
    assert.equal(led.calls[0]![0], "setPixels");
    assert.deepEqual(led.calls[0]![1], frame);
    assert.equal(led.calls[0]![1]!.length, 64);
  });

  it("rejects a frame that is not 64 pixels and writes nothing", () => {
    const led = fakeLed();
    const matrix = new SenseHatMatrix(() => led.module);
    const short: Frame = glyphs.go().slice(0, 63);
    const long: Frame = [...glyphs.go(), [0, 0, 0]];
    assert.throws(() => matrix.show(short), RangeError);
    assert.throws(() => matrix.show(long), /64 pixels, not 65/);
    assert.throws(() => matrix.show([]), RangeError);
    assert.deepEqual(led.calls, []);
  });

  it("clears the matrix on close", async () => {
    const led = fakeLed();
    const matrix = new SenseHatMatrix(() => led.module);
    matrix.show(glyphs.maybe());
    await matrix.close();
    assert.deepEqual(
      led.calls.map((c) => c[0]),
      ["setPixels", "clear"],
    );
  });

  it("off a Pi, requireSenseHat throws HardwareUnavailableError (sense-hat-led finds no framebuffer)", () => {
    assert.throws(
      () => requireSenseHat(),
      (err: unknown) => {
        assert.ok(err instanceof HardwareUnavailableError, String(err));
        assert.equal(err.name, "HardwareUnavailableError");
        assert.match(err.message, /^Sense HAT LED matrix not found: /);
        return true;
      },
    );
    // and again: a failed require is not cached as a half-loaded module
    assert.throws(() => requireSenseHat(), HardwareUnavailableError);
  });

  it("off a Pi, the default SenseHatMatrix fails at construction, not at the first frame", () => {
    assert.throws(() => new SenseHatMatrix(), HardwareUnavailableError);
  });
});
