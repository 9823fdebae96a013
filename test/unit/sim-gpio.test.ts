import assert from "node:assert/strict";
import { SimGpioInput, SimGpioOutput } from "../../nodes/lib/drivers/sim/sim-gpio";
import type { GpioInputOptions, Level } from "../../nodes/lib/drivers/types";
import { FakeClock } from "../support/fake-clock";
import { MemoryBus } from "../support/fake-sim-bus";

/** A door as the door-sensor makes it: closed reads 1 (switch to ground with pull-up inverted), open 0. */
function door(over: Partial<GpioInputOptions> = {}): GpioInputOptions {
  return {
    name: "door1",
    pin: 17,
    pull: "up",
    activeLow: false,
    debounceMs: 50,
    simWords: { open: 0, closed: 1 },
    simInitial: 1,
    ...over,
  };
}

function setup(options: GpioInputOptions = door()) {
  const bus = new MemoryBus("dp1");
  const clock = new FakeClock();
  const input = new SimGpioInput(options, bus, clock);
  const seen: Level[] = [];
  input.onChange((l) => seen.push(l));
  return { bus, clock, input, seen };
}

describe("SimGpioInput", () => {
  it("subscribes to pifog/<device>/sim/<name>/set and publishes its start state retained", () => {
    const { bus, input } = setup();
    assert.equal(bus.subscribers("pifog/dp1/sim/door1/set"), 1);
    assert.deepEqual(bus.published, [{ topic: "pifog/dp1/sim/door1", payload: "closed", retain: true }]);
    assert.equal(input.read(), 1);
  });

  it("takes \"open\"/\"closed\": publishes the state at once and reports the change after the debounce", () => {
    const { bus, clock, input, seen } = setup();
    bus.deliver("pifog/dp1/sim/door1/set", "open");
    assert.deepEqual(bus.on("pifog/dp1/sim/door1").at(-1), { topic: "pifog/dp1/sim/door1", payload: "open", retain: true });
    assert.deepEqual(seen, []);
    assert.equal(input.read(), 1, "not before the debounce time");
    clock.tick(49);
    assert.deepEqual(seen, []);
    clock.tick(1);
    assert.deepEqual(seen, [0]);
    assert.equal(input.read(), 0);

    bus.deliver("pifog/dp1/sim/door1/set", "closed");
    clock.tick(50);
    assert.deepEqual(seen, [0, 1]);
    assert.deepEqual(
      bus.on("pifog/dp1/sim/door1").map((p) => p.payload),
      ["closed", "open", "closed"],
    );
    assert.ok(bus.published.every((p) => p.retain), "every state is retained");
  });

  it("takes 1/0, high/low and other level words, any case, with spaces around", () => {
    const { bus, clock, input } = setup();
    const cases: Array<[string, Level]> = [
      ["0", 0],
      ["1", 1],
      ["low", 0],
      ["high", 1],
      [" LOW \n", 0],
      ["High", 1],
      ["off", 0],
      ["on", 1],
      ["false", 0],
      ["true", 1],
      ["OPEN", 0],
      ["Closed", 1],
    ];
    for (const [word, level] of cases) {
      bus.deliver("pifog/dp1/sim/door1/set", word);
      clock.tick(50);
      assert.equal(input.read(), level, JSON.stringify(word));
    }
    assert.deepEqual(bus.warnings, []);
  });

  it("publishes the level as 1/0 when it has no words for it", () => {
    const { bus, clock, input, seen } = setup(
      door({ name: "button", simWords: undefined, simInitial: undefined, pull: "down", debounceMs: 0 }),
    );
    assert.deepEqual(bus.published, [{ topic: "pifog/dp1/sim/button", payload: "0", retain: true }]);
    assert.equal(input.read(), 0);
    bus.deliver("pifog/dp1/sim/button/set", "high");
    assert.deepEqual(seen, [1], "0 ms debounce: at once");
    clock.tick(0);
    assert.deepEqual(bus.published.at(-1), { topic: "pifog/dp1/sim/button", payload: "1", retain: true });
  });

  it("starts high with a pull-up and low with a pull-down when no start level is given", () => {
    const up = setup(door({ simInitial: undefined, simWords: undefined, pull: "up" }));
    assert.equal(up.input.read(), 1);
    const down = setup(door({ simInitial: undefined, simWords: undefined, pull: "down" }));
    assert.equal(down.input.read(), 0);
    const none = setup(door({ simInitial: undefined, simWords: undefined, pull: "none" }));
    assert.equal(none.input.read(), 0);
  });

  it("ignores a bounce shorter than the debounce time", () => {
    const { bus, clock, input, seen } = setup();
    bus.deliver("pifog/dp1/sim/door1/set", "open");
    clock.tick(20);
    bus.deliver("pifog/dp1/sim/door1/set", "closed");
    clock.tick(1000);
    assert.deepEqual(seen, []);
    assert.equal(input.read(), 1);
  });

  it("warns on an unknown word, naming the words it takes, and changes nothing", () => {
    const { bus, clock, input, seen } = setup();
    const before = bus.published.length;
    bus.deliver("pifog/dp1/sim/door1/set", "ajar");
    clock.tick(1000);
    assert.equal(bus.warnings.length, 1);
    assert.match(bus.warnings[0]!, /door1: "ajar" is not one of open, closed, 1, 0/);
    assert.equal(bus.published.length, before, "no state published");
    assert.deepEqual(seen, []);
    assert.equal(input.read(), 1);
  });

  it("warns on binary garbage and on an over-long word, quoting at most 40 characters", () => {
    const { bus, clock, input } = setup();
    bus.deliver("pifog/dp1/sim/door1/set", Buffer.from([0xff, 0x00, 0xfe]));
    bus.deliver("pifog/dp1/sim/door1/set", "x".repeat(500));
    bus.deliver("pifog/dp1/sim/door1/set", "");
    clock.tick(1000);
    assert.equal(bus.warnings.length, 3);
    assert.ok(!bus.warnings[1]!.includes("x".repeat(41)), bus.warnings[1]);
    assert.equal(input.read(), 1);
  });

  it("warns on words that are names of object properties, and changes nothing", () => {
    const { bus, clock, input, seen } = setup();
    const before = bus.published.length;
    for (const word of ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"]) {
      bus.deliver("pifog/dp1/sim/door1/set", word);
    }
    clock.tick(1000);
    assert.equal(bus.warnings.length, 5, bus.warnings.join("\n"));
    assert.equal(bus.published.length, before, "no state published");
    assert.deepEqual(seen, []);
    assert.equal(input.read(), 1);
  });

  it("close stops listening and drops a change still in its window", async () => {
    const { bus, clock, input, seen } = setup();
    bus.deliver("pifog/dp1/sim/door1/set", "open");
    await input.close();
    assert.equal(bus.subscribers("pifog/dp1/sim/door1/set"), 0);
    clock.tick(1000);
    assert.deepEqual(seen, []);
    assert.equal(clock.pending, 0);
  });
});

describe("SimGpioOutput", () => {
  it("publishes its initial level retained on pifog/<device>/sim/<name>", () => {
    const bus = new MemoryBus("dp1");
    const out = new SimGpioOutput({ name: "door1-led", pin: 23, activeLow: false, initial: 0 }, bus);
    assert.deepEqual(bus.published, [{ topic: "pifog/dp1/sim/door1-led", payload: "0", retain: true }]);
    assert.equal(out.read(), 0);
  });

  it("publishes \"1\"/\"0\" retained on each change, and nothing when the level stays", () => {
    const bus = new MemoryBus("dp1");
    const out = new SimGpioOutput({ name: "led", pin: 23, activeLow: true, initial: 1 }, bus);
    out.write(1);
    out.write(0);
    out.write(0);
    out.write(1);
    assert.deepEqual(
      bus.published.map((p) => [p.topic, p.payload, p.retain]),
      [
        ["pifog/dp1/sim/led", "1", true],
        ["pifog/dp1/sim/led", "0", true],
        ["pifog/dp1/sim/led", "1", true],
      ],
    );
    assert.equal(out.read(), 1);
  });
});
