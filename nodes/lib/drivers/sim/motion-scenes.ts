// The simulated camera's scenes: a room (wall, window, floor, a door) rendered at any size, and scripts, timelines
// of parts with start and end times, that put motion where tests expect it (a person crossing, a door opening) and
// change that must not count as motion (light changing slowly, sensor noise). Times are ms from the script's start;
// a script with `loopMs` starts over after it.
import type { Random } from "./sim-env";

export type ScenePart =
  /** A figure walking across the frame from left to right between start and end. */
  | { kind: "person"; start: number; end: number }
  /** The door swings open (or shut) between start and end, and stays so. */
  | { kind: "door"; start: number; end: number; to: "open" | "closed" }
  /** The whole scene's brightness goes from `from` to `to` (factors, 1 = as drawn) between start and end. */
  | { kind: "light"; start: number; end: number; from: number; to: number }
  /** Sensor noise: each pixel off by up to ±amplitude grey levels, between start and end. */
  | { kind: "noise"; start: number; end: number; amplitude: number };

export interface MotionScript {
  name: string;
  description: string;
  parts: ScenePart[];
  /** The timeline repeats after this many ms (null: it plays once, then the scene stays as it ended). */
  loopMs: number | null;
}

const S = 1000;
const FOREVER = Number.MAX_SAFE_INTEGER;

export const SIM_MOTION_SCRIPTS: Readonly<Record<string, MotionScript>> = Object.freeze({
  static: { name: "static", description: "an empty room, nothing changes", parts: [], loopMs: null },
  noise: {
    name: "noise",
    description: "an empty room with sensor noise (±12 grey levels per pixel)",
    parts: [{ kind: "noise", start: 0, end: FOREVER, amplitude: 12 }],
    loopMs: null,
  },
  "slow-light": {
    name: "slow-light",
    description: "daylight fading to 55 % over a minute and back, with a little noise",
    parts: [
      { kind: "light", start: 0, end: 60 * S, from: 1, to: 0.55 },
      { kind: "light", start: 60 * S, end: 120 * S, from: 0.55, to: 1 },
      { kind: "noise", start: 0, end: 120 * S, amplitude: 4 },
    ],
    loopMs: 120 * S,
  },
  person: {
    name: "person",
    description: "a person crosses the room from 8 s to 14 s, every 30 s",
    parts: [{ kind: "person", start: 8 * S, end: 14 * S }],
    loopMs: 30 * S,
  },
  door: {
    name: "door",
    description: "the door opens from 8 s to 10 s and shuts from 20 s to 22 s, every 30 s",
    parts: [
      { kind: "door", start: 8 * S, end: 10 * S, to: "open" },
      { kind: "door", start: 20 * S, end: 22 * S, to: "closed" },
    ],
    loopMs: 30 * S,
  },
  demo: {
    name: "demo",
    description: "light drifting slowly, and a person crossing from 60 s to 66 s of every 2 minutes",
    parts: [
      { kind: "light", start: 0, end: 60 * S, from: 1, to: 0.85 },
      { kind: "light", start: 60 * S, end: 120 * S, from: 0.85, to: 1 },
      { kind: "person", start: 60 * S, end: 66 * S },
    ],
    loopMs: 120 * S,
  },
});

export const MOTION_PART_KINDS: ReadonlySet<ScenePart["kind"]> = new Set(["person", "door"]);

/** Where a script has motion (person, door), as [start, end] ms of the script's time (one loop). */
export function motionSpans(script: MotionScript): Array<{ start: number; end: number; kind: ScenePart["kind"] }> {
  return script.parts.filter((p) => MOTION_PART_KINDS.has(p.kind)).map((p) => ({ start: p.start, end: p.end, kind: p.kind }));
}

const clamp01 = (v: number) => Math.max(0, Math.min(1, v));
const progress = (t: number, start: number, end: number) => (end <= start ? (t >= start ? 1 : 0) : clamp01((t - start) / (end - start)));

/** Renders a script's scenes at one size; the room is drawn once. */
export class SceneRenderer {
  private readonly room: Buffer;
  private readonly out: Buffer;
  private readonly door: { x0: number; x1: number; y0: number; y1: number };

  constructor(
    readonly width: number,
    readonly height: number,
    private readonly random: Random,
  ) {
    this.door = { x0: Math.round(width * 0.72), x1: Math.round(width * 0.88), y0: Math.round(height * 0.2), y1: Math.round(height * 0.72) };
    this.room = this.drawRoom();
    this.out = Buffer.alloc(width * height * 4);
  }

  private drawRoom(): Buffer {
    const { width: w, height: h } = this;
    const img = Buffer.alloc(w * h * 4);
    const floorY = Math.round(h * 0.72);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const o = (y * w + x) * 4;
        let r: number, g: number, b: number;
        if (y >= floorY) {
          // floor boards
          const board = Math.floor(((y - floorY) / h) * 24) % 2 === 0 ? 0 : 10;
          r = 120 - board; g = 95 - board; b = 70 - board;
        } else {
          // a wall with a soft gradient and faint vertical stripes
          const shade = 165 - Math.round((x / w) * 25) + (Math.floor((x / w) * 16) % 2 === 0 ? 0 : 6);
          r = shade; g = shade - 5; b = shade - 15;
          if (x >= w * 0.1 && x < w * 0.3 && y >= h * 0.15 && y < h * 0.42) {
            // the window
            const frame = x < w * 0.11 || x >= w * 0.29 || y < h * 0.16 || y >= h * 0.41 || Math.abs(x - w * 0.2) < w * 0.006;
            [r, g, b] = frame ? [235, 235, 230] : [170, 200, 235];
          }
        }
        img[o] = r; img[o + 1] = g; img[o + 2] = b; img[o + 3] = 255;
      }
    }
    return img;
  }

  /** What the scene at `t` looks like, as text: two times with the same key render the same image (no noise). */
  key(script: MotionScript, t: number): string | null {
    const s = this.state(script, t);
    if (s.noise > 0) return null;
    return `${this.openTo(s.open)}|${s.people.map((k) => Math.round(this.personX(k))).join(",")}|${Math.round(s.light * 512)}`;
  }

  private state(script: MotionScript, t: number): { open: number; people: number[]; light: number; noise: number } {
    let open = 0;
    let light = 1;
    let noise = 0;
    const people: number[] = [];
    for (const p of script.parts) {
      if (p.kind === "door" && t >= p.start) {
        const k = progress(t, p.start, p.end);
        open = p.to === "open" ? k : 1 - k;
      } else if (p.kind === "person" && t >= p.start && t < p.end) people.push(progress(t, p.start, p.end));
      else if (p.kind === "light" && t >= p.start) light = p.from + (p.to - p.from) * progress(t, p.start, p.end);
      else if (p.kind === "noise" && t >= p.start && t < p.end) noise = Math.max(noise, p.amplitude);
    }
    return { open, people, light: Math.round(light * 512) / 512, noise };
  }

  private openTo(open: number): number {
    return this.door.x0 + Math.round((this.door.x1 - this.door.x0) * open);
  }

  private personX(k: number): number {
    const bodyW = this.width * 0.1;
    return -bodyW + (this.width + 2 * bodyW) * k;
  }

  /** The scene at `t` ms of the script's time, RGBA. */
  render(script: MotionScript, t: number): Buffer {
    const { width: w, height: h } = this;
    const img = this.out;
    this.room.copy(img);
    const { open, people, light, noise } = this.state(script, t);
    // the door: its open part (dark, from the hinge on the left) grows as it opens
    const d = this.door;
    const openTo = this.openTo(open);
    for (let y = d.y0; y < d.y1; y++) {
      for (let x = d.x0; x < d.x1; x++) {
        const o = (y * w + x) * 4;
        const edge = x === d.x0 || x === d.x1 - 1 || y === d.y0;
        const [r, g, b] = edge ? [90, 60, 35] : x < openTo ? [28, 28, 34] : [145, 100, 60];
        img[o] = r; img[o + 1] = g; img[o + 2] = b;
      }
    }
    for (const k of people) this.drawPerson(img, k);
    if (light !== 1 || noise > 0) {
      const n = w * h * 4;
      for (let o = 0; o < n; o += 4) {
        const jitter = noise > 0 ? (this.random() * 2 - 1) * noise : 0;
        img[o] = Math.max(0, Math.min(255, img[o]! * light + jitter));
        img[o + 1] = Math.max(0, Math.min(255, img[o + 1]! * light + jitter));
        img[o + 2] = Math.max(0, Math.min(255, img[o + 2]! * light + jitter));
      }
    }
    return img;
  }

  /** A person (body, head, legs) at `k` (0..1) of the way across, feet on the floor. */
  private drawPerson(img: Buffer, k: number): void {
    const { width: w, height: h } = this;
    const bodyW = w * 0.1;
    const cx = Math.round(this.personX(k));
    const top = h * 0.3;
    const headR = h * 0.05;
    const fill = (x0: number, y0: number, x1: number, y1: number, rgb: [number, number, number], round = false) => {
      const xs = Math.max(0, Math.floor(x0));
      const xe = Math.min(w, Math.ceil(x1));
      const ys = Math.max(0, Math.floor(y0));
      const ye = Math.min(h, Math.ceil(y1));
      const mx = (x0 + x1) / 2, my = (y0 + y1) / 2, rx = (x1 - x0) / 2, ry = (y1 - y0) / 2;
      for (let y = ys; y < ye; y++) {
        for (let x = xs; x < xe; x++) {
          if (round && ((x - mx) / rx) ** 2 + ((y - my) / ry) ** 2 > 1) continue;
          const o = (y * w + x) * 4;
          img[o] = rgb[0]; img[o + 1] = rgb[1]; img[o + 2] = rgb[2];
        }
      }
    };
    fill(cx - headR, top, cx + headR, top + 2 * headR, [205, 165, 135], true);
    fill(cx - bodyW / 2, top + 2 * headR, cx + bodyW / 2, h * 0.62, [40, 55, 110]);
    fill(cx - bodyW / 2, h * 0.62, cx - bodyW * 0.08, h * 0.9, [35, 35, 45]);
    fill(cx + bodyW * 0.08, h * 0.62, cx + bodyW / 2, h * 0.9, [35, 35, 45]);
  }
}
