import assert from "node:assert/strict";
import type { BinaryValue, Direction, Edge, Options, ValueCallback } from "onoff";
import { OnoffGpioInput, OnoffGpioOutput, type OnoffDeps, type OnoffGpioClass } from "../../nodes/lib/drivers/pi/onoff-gpio";
import type { GpioInputOptions, Level, Pull } from "../../nodes/lib/drivers/types";
import { FakeClock } from "../support/fake-clock";

/** A stand-in for onoff's Gpio: records how it was made and what was done to it; the test drives the line. */
class FakeGpio {
  static made: FakeGpio[] = [];
  value: BinaryValue = 0;
  watchers: ValueCallback[] = [];
  writes: BinaryValue[] = [];
  unexported = false;
  unwatchedAll = false;

  constructor(
    readonly gpio: number,
    readonly direction: Direction,
    readonly edge?: Edge,
    readonly options?: Options,
  ) {
    FakeGpio.made.push(this);
    if (direction === "high") this.value = 1;
  }

  readSync(): BinaryValue {
    return this.value;
  }
  writeSync(value: BinaryValue): void {
    this.writes.push(value);
    this.value = value;
  }
  watch(callback: ValueCallback): void {
    this.watchers.push(callback);
  }
  unwatch(): void {
    this.watchers = [];
  }
  unwatchAll(): void {
    this.unwatchedAll = true;
    this.watchers = [];
  }
  unexport(): void {
    this.unexported = true;
  }

  /** The line changes and the kernel reports the edge. */
  edgeTo(value: BinaryValue): void {
    this.value = value;
    for (const w of this.watchers) w(null, value);
  }
  /** The line changes without an interrupt (a lost edge). */
  quietlyTo(value: BinaryValue): void {
    this.value = value;
  }
  fail(message: string): void {
    for (const w of this.watchers) w(new Error(message), this.value);
  }
}

interface Harness {
  deps: OnoffDeps;
  clock: FakeClock;
  warnings: string[];
  pulls: Array<[number, Pull]>;
  lines: number[];
}

function harness(setPull: (bcm: number, pull: Pull) => Promise<void> = async () => {}): Harness {
  FakeGpio.made = [];
  const clock = new FakeClock();
  const warnings: string[] = [];
  const pulls: Array<[number, Pull]> = [];
  const lines: number[] = [];
  const deps: OnoffDeps = {
    Gpio: FakeGpio as unknown as OnoffGpioClass,
    // as on a Pi 4 with kernel 6.6: pinctrl-bcm2711 at base 512
    lineNumber: (bcm) => {
      lines.push(bcm);
      return 512 + bcm;
    },
    setPull: (bcm, pull) => {
      pulls.push([bcm, pull]);
      return setPull(bcm, pull);
    },
    clock,
    warn: (m) => warnings.push(m),
  };
  return { deps, clock, warnings, pulls, lines };
}

function inputOptions(over: Partial<GpioInputOptions> = {}): GpioInputOptions {
  return { name: "door1", pin: 17, pull: "none", activeLow: false, debounceMs: 50, ...over };
}

/** Lets the pull setter's promise settle (no real time passes). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("OnoffGpioInput", () => {
  it("opens the computed sysfs line, as an input watching both edges, with activeLow", () => {
    const h = harness();
    new OnoffGpioInput(inputOptions({ pin: 17, activeLow: true }), h.deps);
    assert.deepEqual(h.lines, [17], "asks for the line of BCM 17");
    assert.equal(FakeGpio.made.length, 1);
    const g = FakeGpio.made[0]!;
    assert.equal(g.gpio, 529, "512 + 17, not 17");
    assert.equal(g.direction, "in");
    assert.equal(g.edge, "both");
    assert.deepEqual(g.options, { activeLow: true });
  });

  it("passes activeLow false too", () => {
    const h = harness();
    new OnoffGpioInput(inputOptions({ activeLow: false }), h.deps);
    assert.deepEqual(FakeGpio.made[0]!.options, { activeLow: false });
  });

  it("starts at the level the line reads", () => {
    const h = harness();
    const original = FakeGpio.prototype.readSync;
    FakeGpio.prototype.readSync = () => 1;
    try {
      const input = new OnoffGpioInput(inputOptions(), h.deps);
      assert.equal(input.read(), 1);
    } finally {
      FakeGpio.prototype.readSync = original;
    }
  });

  it("reports an edge only after it held for the debounce time", () => {
    const h = harness();
    const input = new OnoffGpioInput(inputOptions({ debounceMs: 50 }), h.deps);
    const seen: Level[] = [];
    input.onChange((l) => seen.push(l));
    const g = FakeGpio.made[0]!;
    g.edgeTo(1);
    h.clock.tick(49);
    assert.deepEqual(seen, []);
    assert.equal(input.read(), 0);
    h.clock.tick(1);
    assert.deepEqual(seen, [1]);
    assert.equal(input.read(), 1);
  });

  it("ignores a bounce that returns within the window", () => {
    const h = harness();
    const input = new OnoffGpioInput(inputOptions({ debounceMs: 50 }), h.deps);
    const seen: Level[] = [];
    input.onChange((l) => seen.push(l));
    const g = FakeGpio.made[0]!;
    g.edgeTo(1);
    h.clock.tick(10);
    g.edgeTo(0);
    h.clock.tick(10);
    g.edgeTo(1);
    h.clock.tick(10);
    g.edgeTo(0);
    h.clock.tick(500);
    assert.deepEqual(seen, []);
    assert.equal(input.read(), 0);
  });

  it("confirms the level by reading the line when the window ends (a lost edge back is not reported)", () => {
    const h = harness();
    const input = new OnoffGpioInput(inputOptions({ debounceMs: 50 }), h.deps);
    const seen: Level[] = [];
    input.onChange((l) => seen.push(l));
    const g = FakeGpio.made[0]!;
    g.edgeTo(1);
    g.quietlyTo(0);
    h.clock.tick(100);
    assert.deepEqual(seen, []);
    assert.equal(input.read(), 0);
  });

  it("with 0 ms debounce reports an edge at once", () => {
    const h = harness();
    const input = new OnoffGpioInput(inputOptions({ debounceMs: 0 }), h.deps);
    const seen: Level[] = [];
    input.onChange((l) => seen.push(l));
    FakeGpio.made[0]!.edgeTo(1);
    assert.deepEqual(seen, [1]);
  });

  it("turns a watch error into a warning and keeps its level", () => {
    const h = harness();
    const input = new OnoffGpioInput(inputOptions({ pin: 22 }), h.deps);
    FakeGpio.made[0]!.fail("EIO");
    assert.equal(h.warnings.length, 1);
    assert.match(h.warnings[0]!, /GPIO 22: EIO/);
    assert.equal(input.read(), 0);
  });

  it("does not touch the pull when pull is none", async () => {
    const h = harness();
    new OnoffGpioInput(inputOptions({ pull: "none" }), h.deps);
    await settle();
    assert.deepEqual(h.pulls, []);
    assert.deepEqual(h.warnings, []);
  });

  it("sets pull-up / pull-down on the BCM line (not the sysfs number)", async () => {
    const h = harness();
    new OnoffGpioInput(inputOptions({ pin: 17, pull: "up" }), h.deps);
    new OnoffGpioInput(inputOptions({ pin: 27, pull: "down" }), h.deps);
    await settle();
    assert.deepEqual(h.pulls, [
      [17, "up"],
      [27, "down"],
    ]);
    assert.deepEqual(h.warnings, []);
  });

  it("warns, and still works, when the pull cannot be set", async () => {
    const h = harness(async () => {
      throw new Error("pinctrl: command not found");
    });
    const input = new OnoffGpioInput(inputOptions({ pin: 17, pull: "up", debounceMs: 0 }), h.deps);
    await settle();
    assert.equal(h.warnings.length, 1);
    assert.match(h.warnings[0]!, /GPIO 17: could not set pull-up \(pinctrl: command not found\); fit a resistor/);
    const seen: Level[] = [];
    input.onChange((l) => seen.push(l));
    FakeGpio.made[0]!.edgeTo(1);
    assert.deepEqual(seen, [1]);
  });

  it("close stops watching, unexports, and drops a change still in its window", async () => {
    const h = harness();
    const input = new OnoffGpioInput(inputOptions({ debounceMs: 50 }), h.deps);
    const seen: Level[] = [];
    input.onChange((l) => seen.push(l));
    const g = FakeGpio.made[0]!;
    g.edgeTo(1);
    await input.close();
    assert.equal(g.unwatchedAll, true);
    assert.equal(g.unexported, true);
    assert.equal(g.watchers.length, 0);
    h.clock.tick(1000);
    assert.deepEqual(seen, []);
    assert.equal(h.clock.pending, 0);
  });
});

describe("OnoffGpioOutput", () => {
  it("opens the computed line as an output with its initial level, glitch-free", () => {
    const h = harness();
    const out = new OnoffGpioOutput({ name: "led1", pin: 23, activeLow: false, initial: 1 }, h.deps);
    const g = FakeGpio.made[0]!;
    assert.equal(g.gpio, 535);
    assert.equal(g.direction, "high");
    assert.equal(g.edge, "none");
    assert.deepEqual(g.options, { activeLow: false });
    assert.equal(out.read(), 1);
    new OnoffGpioOutput({ name: "led2", pin: 24, activeLow: false, initial: 0 }, h.deps);
    assert.equal(FakeGpio.made[1]!.direction, "low");
  });

  it("with activeLow, starts at the physical level that means its logical initial level", () => {
    // sysfs "high"/"low" set the raw line: logical 1 on an active-low line is physically low.
    const h = harness();
    new OnoffGpioOutput({ name: "led1", pin: 23, activeLow: true, initial: 1 }, h.deps);
    new OnoffGpioOutput({ name: "led2", pin: 24, activeLow: true, initial: 0 }, h.deps);
    assert.equal(FakeGpio.made[0]!.direction, "low");
    assert.deepEqual(FakeGpio.made[0]!.options, { activeLow: true });
    assert.equal(FakeGpio.made[1]!.direction, "high");
  });

  it("writes each level to the line and reads back what it wrote", async () => {
    const h = harness();
    const out = new OnoffGpioOutput({ name: "led1", pin: 23, activeLow: false, initial: 0 }, h.deps);
    const g = FakeGpio.made[0]!;
    out.write(1);
    assert.equal(out.read(), 1);
    out.write(0);
    assert.equal(out.read(), 0);
    assert.deepEqual(g.writes, [1, 0]);
    await out.close();
    assert.equal(g.unexported, true);
  });
});
