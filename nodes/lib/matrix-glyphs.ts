// The StatusPi's 8×8 pictures, exactly as PiFog drew them (X = colour, . = black), and the rule that picks one.
import type { DoorState, Occupancy } from "./contract";

export type Rgb = [number, number, number];
/** 64 pixels, row by row from the top left, as the Sense HAT's set_pixels takes them. */
export type Frame = Rgb[];

export const BLACK: Rgb = [0, 0, 0];
export const RED: Rgb = [255, 0, 0];
export const YELLOW: Rgb = [255, 150, 0];
export const GREEN: Rgb = [0, 255, 0];
export const CYAN: Rgb = [0, 255, 255];

const PLUS = ["...XX...", "...XX...", "...XX...", "XXXXXXXX", "XXXXXXXX", "...XX...", "...XX...", "...XX..."];
const DIAMOND = ["...XX...", "..XXXX..", ".XXXXXX.", "XXXXXXXX", "XXXXXXXX", ".XXXXXX.", "..XXXX..", "...XX..."];
const CROSS = ["XX....XX", "XXX..XXX", ".XXXXXX.", "..XXXX..", "..XXXX..", ".XXXXXX.", "XXX..XXX", "XX....XX"];
// The Sense HAT font's "?" (sense_hat_text.png), as show_letter draws it upright.
const QUESTION = ["........", "..XXX...", ".X...X..", ".....X..", "....X...", "...X....", "........", "...X...."];

export function drawGlyph(rows: readonly string[], colour: Rgb): Frame {
  const frame: Frame = [];
  for (const row of rows) {
    for (const cell of row) frame.push(cell === "X" ? [...colour] : [...BLACK]);
  }
  return frame;
}

export const glyphs = {
  go: () => drawGlyph(PLUS, GREEN),
  maybe: () => drawGlyph(DIAMOND, YELLOW),
  stop: () => drawGlyph(CROSS, RED),
  unknown: () => drawGlyph(QUESTION, CYAN),
  blank: () => drawGlyph(Array(8).fill("........"), BLACK),
} as const;

/** PiFog's decision rule: all open → go, some open → maybe, none open → stop. */
export function occupancyOf(doors: readonly DoorState[]): Occupancy {
  if (doors.length === 0) return "unknown";
  const open = doors.filter((d) => d === "open").length;
  if (open === doors.length) return "go";
  return open > 0 ? "maybe" : "stop";
}

export function frameFor(occupancy: Occupancy): Frame {
  return glyphs[occupancy]();
}
