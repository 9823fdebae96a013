// The pairing code scrolling across a StatusPi's Sense HAT while it waits: every character of a code has its own
// glyph, and the text enters from the right, one column per step of the clock, until stopped (then the matrix is dark).
import assert from "node:assert/strict";
import type { LedMatrix } from "../../nodes/lib/drivers/types";
import { CODE_ALPHABET } from "../../nodes/lib/identity/pairing";
import { BLACK, CYAN, type Frame } from "../../nodes/lib/matrix-glyphs";
import { scrollText, textColumns } from "../../nodes/lib/matrix-text";
import { FakeClock } from "../support/fake-clock";

class RecordingMatrix implements LedMatrix {
  frames: Frame[] = [];
  show(frame: Frame): void {
    this.frames.push(frame);
  }
  async close(): Promise<void> {}
}

const lit = (frame: Frame) => frame.flatMap((p, i) => (p !== BLACK ? [i] : []));

describe("scrolling a pairing code on the LED matrix", () => {
  it("has a distinct, non-blank glyph for every character a code may hold", () => {
    const seen = new Map<string, string>();
    for (const ch of `${CODE_ALPHABET}-`) {
      const shape = JSON.stringify(textColumns(ch));
      assert.ok(textColumns(ch).some((col) => col.some(Boolean)), `${ch} is drawn`);
      assert.ok(!seen.has(shape), `${ch} looks like ${seen.get(shape)}`);
      seen.set(shape, ch);
    }
  });

  it("enters from the right one column per step, and leaves the matrix dark when stopped", () => {
    const clock = new FakeClock();
    const matrix = new RecordingMatrix();
    const stop = scrollText(matrix, "AB2C-DEFG", clock, { colour: CYAN, stepMs: 100 });
    assert.deepEqual(lit(matrix.frames[0]!), [], "it starts dark");
    clock.tick(100);
    // one step on: the first column of "A" (rows 2..5 of column 0, lit ".#." at the top) is at the right edge
    assert.deepEqual(lit(matrix.frames[1]!), [2 * 8 + 7, 3 * 8 + 7, 4 * 8 + 7, 5 * 8 + 7]);
    clock.tick(100 * 20);
    assert.equal(matrix.frames.length, 22);
    assert.ok(matrix.frames.every((f) => f.length === 64 && f.every((p) => p === BLACK || p === CYAN)));
    stop();
    const frames = matrix.frames.length;
    assert.deepEqual(lit(matrix.frames.at(-1)!), []);
    clock.tick(1000);
    assert.equal(matrix.frames.length, frames, "no more frames once stopped");
  });
});
