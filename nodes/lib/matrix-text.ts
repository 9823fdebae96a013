// Text scrolling across an 8×8 LED matrix (the Sense HAT's): a 3×5 font of the pairing codes' characters, and a
// scroller on the injected clock. What a StatusPi shows while it waits to be paired.
import type { Clock } from "./clock";
import type { LedMatrix } from "./drivers/types";
import { BLACK, type Frame, type Rgb } from "./matrix-glyphs";

/** 3 columns × 5 rows per character, "#" lit. The pairing alphabet (no 0/O, 1/I/L) and a dash. */
const FONT: Record<string, readonly string[]> = {
  A: [".#.", "#.#", "###", "#.#", "#.#"],
  B: ["##.", "#.#", "##.", "#.#", "##."],
  C: [".##", "#..", "#..", "#..", ".##"],
  D: ["##.", "#.#", "#.#", "#.#", "##."],
  E: ["###", "#..", "##.", "#..", "###"],
  F: ["###", "#..", "##.", "#..", "#.."],
  G: [".##", "#..", "#.#", "#.#", ".##"],
  H: ["#.#", "#.#", "###", "#.#", "#.#"],
  J: ["..#", "..#", "..#", "#.#", ".#."],
  K: ["#.#", "#.#", "##.", "#.#", "#.#"],
  M: ["#.#", "###", "###", "#.#", "#.#"],
  N: ["##.", "#.#", "#.#", "#.#", "#.#"],
  P: ["##.", "#.#", "##.", "#..", "#.."],
  Q: [".#.", "#.#", "#.#", "##.", ".##"],
  R: ["##.", "#.#", "##.", "#.#", "#.#"],
  S: [".##", "#..", ".#.", "..#", "##."],
  T: ["###", ".#.", ".#.", ".#.", ".#."],
  U: ["#.#", "#.#", "#.#", "#.#", "###"],
  V: ["#.#", "#.#", "#.#", "#.#", ".#."],
  W: ["#.#", "#.#", "###", "###", "#.#"],
  X: ["#.#", "#.#", ".#.", "#.#", "#.#"],
  Y: ["#.#", "#.#", ".#.", ".#.", ".#."],
  Z: ["###", "..#", ".#.", "#..", "###"],
  "2": ["##.", "..#", ".#.", "#..", "###"],
  "3": ["##.", "..#", ".#.", "..#", "##."],
  "4": ["#.#", "#.#", "###", "..#", "..#"],
  "5": ["###", "#..", "##.", "..#", "##."],
  "6": [".##", "#..", "###", "#.#", "###"],
  "7": ["###", "..#", ".#.", ".#.", ".#."],
  "8": ["###", "#.#", "###", "#.#", "###"],
  "9": ["###", "#.#", "###", "..#", "##."],
  "-": ["...", "...", "###", "...", "..."],
  " ": ["...", "...", "...", "...", "..."],
};

/** The text as columns of 8 pixels (lit or not), one blank column between characters; unknown characters are blank. */
export function textColumns(text: string): boolean[][] {
  const columns: boolean[][] = [];
  for (const ch of text.toUpperCase()) {
    const glyph = FONT[ch] ?? FONT[" "]!;
    for (let x = 0; x < 3; x++) {
      // rows 1..5 of 8: the text sits in the middle
      columns.push([false, ...glyph.map((row) => row[x] === "#"), false, false]);
    }
    columns.push(Array<boolean>(8).fill(false));
  }
  return columns;
}

/** The 8×8 window of `columns` starting at column `offset` (past the end: blank). */
export function windowAt(columns: readonly boolean[][], offset: number, colour: Rgb): Frame {
  const frame: Frame = [];
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) frame.push(columns[offset + x]?.[y] ? colour : BLACK);
  return frame;
}

/**
 * Scrolls `text` from right to left, over and over, one column every `stepMs` on the clock. Returns the function that
 * stops it and blanks the matrix.
 */
export function scrollText(matrix: LedMatrix, text: string, clock: Pick<Clock, "setInterval" | "clearInterval">, o: { colour: Rgb; stepMs?: number }): () => void {
  // 8 blank columns first, so each pass enters from the right edge
  const columns = [...Array.from({ length: 8 }, () => Array<boolean>(8).fill(false)), ...textColumns(text)];
  let offset = 0;
  const step = () => {
    matrix.show(windowAt(columns, offset, o.colour));
    offset = (offset + 1) % columns.length;
  };
  step();
  const timer = clock.setInterval(step, o.stepMs ?? 120);
  return () => {
    clock.clearInterval(timer);
    matrix.show(Array.from({ length: 64 }, () => BLACK));
  };
}
