import assert from "node:assert/strict";
import { BLACK, CYAN, GREEN, RED, YELLOW, frameFor, glyphs, occupancyOf } from "../../nodes/lib/matrix-glyphs";

function picture(frame: number[][], colour: number[]): string[] {
  const rows: string[] = [];
  for (let r = 0; r < 8; r++) {
    rows.push(frame.slice(r * 8, r * 8 + 8).map((px) => (px.join() === colour.join() ? "X" : px.join() === BLACK.join() ? "." : "?")).join(""));
  }
  return rows;
}

describe("StatusPi glyphs", () => {
  it("draws PiFog's green plus when both doors are open", () => {
    assert.deepEqual(picture(frameFor(occupancyOf(["open", "open"])), GREEN), [
      "...XX...", "...XX...", "...XX...", "XXXXXXXX", "XXXXXXXX", "...XX...", "...XX...", "...XX...",
    ]);
  });

  it("draws PiFog's yellow diamond when exactly one door is open", () => {
    assert.equal(occupancyOf(["closed", "open"]), "maybe");
    assert.deepEqual(picture(glyphs.maybe(), YELLOW), [
      "...XX...", "..XXXX..", ".XXXXXX.", "XXXXXXXX", "XXXXXXXX", ".XXXXXX.", "..XXXX..", "...XX...",
    ]);
  });

  it("draws PiFog's red cross when both doors are closed", () => {
    assert.deepEqual(picture(frameFor(occupancyOf(["closed", "closed"])), RED), [
      "XX....XX", "XXX..XXX", ".XXXXXX.", "..XXXX..", "..XXXX..", ".XXXXXX.", "XXX..XXX", "XX....XX",
    ]);
  });

  it("shows the Sense HAT font's cyan question mark while unknown", () => {
    const rows = picture(glyphs.unknown(), CYAN);
    assert.equal(rows.join("").includes("?"), false, "only cyan and black");
    assert.deepEqual(rows, ["........", "..XXX...", ".X...X..", ".....X..", "....X...", "...X....", "........", "...X...."]);
    assert.equal(occupancyOf([]), "unknown");
  });

  it("gives fresh frames that a caller may change without changing the glyph", () => {
    const a = glyphs.go();
    a[0] = [1, 2, 3];
    assert.deepEqual(glyphs.go()[0], BLACK);
  });
});
