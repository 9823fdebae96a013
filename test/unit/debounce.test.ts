import assert from "node:assert/strict";
import { Debouncer } from "../../nodes/lib/drivers/debounce";
import type { Level } from "../../nodes/lib/drivers/types";
import { FakeClock } from "../support/fake-clock";

function watched(initial: Level, ms: number, clock: FakeClock): { d: Debouncer; seen: Level[] } {
  const d = new Debouncer(initial, ms, clock);
  const seen: Level[] = [];
  d.onChange((l) => seen.push(l));
  return { d, seen };
}

describe("Debouncer", () => {
  it("starts at the initial level", () => {
    const clock = new FakeClock();
    assert.equal(new Debouncer(1, 50, clock).level, 1);
    assert.equal(new Debouncer(0, 50, clock).level, 0);
  });

  it("reports a change only once it has held for the debounce time", () => {
    const clock = new FakeClock();
    const { d, seen } = watched(0, 50, clock);
    d.sample(1);
    assert.deepEqual(seen, []);
    assert.equal(d.level, 0, "not accepted yet");
    clock.tick(49);
    assert.deepEqual(seen, []);
    assert.equal(d.level, 0);
    clock.tick(1);
    assert.deepEqual(seen, [1]);
    assert.equal(d.level, 1);
    clock.tick(1000);
    assert.deepEqual(seen, [1], "reported once");
  });

  it("reports nothing when the level bounces back within the window", () => {
    const clock = new FakeClock();
    const { d, seen } = watched(0, 50, clock);
    d.sample(1);
    clock.tick(20);
    d.sample(0);
    clock.tick(20);
    d.sample(1);
    clock.tick(20);
    d.sample(0);
    clock.tick(1000);
    assert.deepEqual(seen, []);
    assert.equal(d.level, 0);
    assert.equal(clock.pending, 0, "no timer left behind");
  });

  it("restarts the window on every new edge, so a chattering contact settles on its last level", () => {
    const clock = new FakeClock();
    const { d, seen } = watched(0, 50, clock);
    d.sample(1);
    clock.tick(40);
    d.sample(1); // another edge to the same level: the window starts again
    clock.tick(40);
    assert.deepEqual(seen, [], "80 ms after the first edge but only 40 after the last");
    clock.tick(10);
    assert.deepEqual(seen, [1]);
  });

  it("confirms with readNow when the window ends and ignores a change that did not hold", () => {
    const clock = new FakeClock();
    const { d, seen } = watched(0, 50, clock);
    let line: Level = 1;
    d.sample(1, () => line);
    line = 0; // the edge back was lost, but the line reads low again
    clock.tick(50);
    assert.deepEqual(seen, []);
    assert.equal(d.level, 0);
    line = 1;
    d.sample(1, () => line);
    clock.tick(50);
    assert.deepEqual(seen, [1]);
  });

  it("reports at once with 0 ms", () => {
    const clock = new FakeClock();
    const { d, seen } = watched(1, 0, clock);
    d.sample(0);
    assert.deepEqual(seen, [0]);
    assert.equal(d.level, 0);
    d.sample(0);
    d.sample(1);
    assert.deepEqual(seen, [0, 1]);
    assert.equal(clock.pending, 0);
  });

  it("reports every accepted change to every listener, in order", () => {
    const clock = new FakeClock();
    const d = new Debouncer(0, 10, clock);
    const a: Level[] = [];
    const b: Level[] = [];
    d.onChange((l) => a.push(l));
    d.onChange((l) => b.push(l));
    d.sample(1);
    clock.tick(10);
    d.sample(0);
    clock.tick(10);
    assert.deepEqual(a, [1, 0]);
    assert.deepEqual(b, [1, 0]);
  });

  it("stop cancels a change still in its window", () => {
    const clock = new FakeClock();
    const { d, seen } = watched(0, 50, clock);
    d.sample(1);
    d.stop();
    clock.tick(1000);
    assert.deepEqual(seen, []);
    assert.equal(d.level, 0);
    assert.equal(clock.pending, 0);
  });
});
