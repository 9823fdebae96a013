// A device's hardware as its nodes share it: one claim per GPIO line, one Sense HAT opened once and closed after its
// last user, readings that never interleave on the bus.
import assert from "node:assert/strict";
import { DeviceHardware, PinInUseError, PinRegistry, SharedSenseHat } from "../../nodes/lib/drivers/shared";
import { piDrivers, simDrivers } from "../../nodes/lib/drivers/factory";
import type { I2cRegisterBus } from "../../nodes/lib/drivers/pi/i2c";
import type { EnvReading, EnvSensor, LedMatrix } from "../../nodes/lib/drivers/types";
import { glyphs } from "../../nodes/lib/matrix-glyphs";
import { FakeClock } from "../support/fake-clock";
import { MemoryBus } from "../support/fake-sim-bus";

const READING: EnvReading = { humidity: 40, temperatureFromHumidity: 21, pressure: 1013, temperatureFromPressure: 20 };

/** Sense HAT parts that count how often they are opened, closed and read; a read resolves when the test says. */
function fakeParts() {
  const counts = { matrixOpened: 0, matrixClosed: 0, envOpened: 0, envClosed: 0, reads: 0, frames: 0 };
  const pending: Array<() => void> = [];
  const open = {
    matrix: (): LedMatrix => {
      counts.matrixOpened++;
      return { show: () => void counts.frames++, close: async () => void counts.matrixClosed++ };
    },
    env: (): EnvSensor => {
      counts.envOpened++;
      return {
        read: () => {
          counts.reads++;
          return new Promise((resolve) => pending.push(() => resolve(READING)));
        },
        close: async () => void counts.envClosed++,
      };
    },
  };
  return { counts, pending, open };
}

describe("PinRegistry", () => {
  it("refuses a second claim on a line, naming who holds it; a release frees only its own claim", () => {
    const pins = new PinRegistry();
    const release = pins.claim(17, 'door-sensor "front" (n1)');
    assert.throws(() => pins.claim(17, "door-opener n2"), (err: unknown) => {
      assert.ok(err instanceof PinInUseError);
      assert.equal(err.message, 'GPIO 17 is already used by door-sensor "front" (n1)');
      assert.equal(err.claimant, "door-opener n2");
      return true;
    });
    pins.claim(18, "door-opener n2")();
    release();
    const again = pins.claim(17, "door-opener n2");
    release(); // a stale release of the first claim does not free the second one
    assert.equal(pins.holderOf(17), "door-opener n2");
    again();
    assert.equal(pins.holderOf(17), undefined);
  });
});

describe("SharedSenseHat", () => {
  it("opens each part for its first user and closes it after its last", async () => {
    const { counts, open } = fakeParts();
    const hat = new SharedSenseHat(open);
    const m1 = hat.ledMatrix();
    const m2 = hat.ledMatrix();
    const e1 = hat.envSensor();
    assert.deepEqual([counts.matrixOpened, counts.envOpened], [1, 1]);
    assert.deepEqual(hat.users, { matrix: 2, env: 1 });
    await m1.close();
    await m1.close(); // twice is once
    assert.equal(counts.matrixClosed, 0, "another node still shows on it");
    m2.show(glyphs.go());
    m1.show(glyphs.stop()); // a closed user's frame goes nowhere
    assert.equal(counts.frames, 1);
    await m2.close();
    assert.equal(counts.matrixClosed, 1);
    assert.equal(counts.envClosed, 0, "the sensors are another part, still in use");
    await e1.close();
    assert.equal(counts.envClosed, 1);
    hat.ledMatrix();
    assert.equal(counts.matrixOpened, 2, "opened again for a new first user");
  });

  it("gives readings asked for while one is being taken the same reading: never two sequences on the bus at once", async () => {
    const { counts, pending, open } = fakeParts();
    const hat = new SharedSenseHat(open);
    const a = hat.envSensor();
    const b = hat.envSensor();
    const both = Promise.all([a.read(), b.read()]);
    assert.equal(counts.reads, 1);
    pending.shift()!();
    assert.deepEqual(await both, [READING, READING]);
    const next = a.read();
    assert.equal(counts.reads, 2, "a read after the last one finished takes a new one");
    pending.shift()!();
    await next;
    await a.close();
    await assert.rejects(a.read(), /closed/);
    assert.equal(counts.envClosed, 0);
    await b.close();
    assert.equal(counts.envClosed, 1);
  });

  it("a part that cannot be opened (off a Pi) is not counted as held", () => {
    const hat = new SharedSenseHat({
      matrix: () => {
        throw new Error("no framebuffer");
      },
      env: () => fakeParts().open.env(),
    });
    assert.throws(() => hat.ledMatrix(), /no framebuffer/);
    assert.deepEqual(hat.users, { matrix: 0, env: 0 });
  });
});

describe("DeviceHardware", () => {
  it("on a Pi, two nodes' environment sensors share one I²C bus, closed after the last", async () => {
    let opened = 0;
    let closed = 0;
    const bus: I2cRegisterBus = {
      readByte: async () => 0,
      writeByte: async () => undefined,
      close: async () => void closed++,
    };
    const hardware = new DeviceHardware(
      piDrivers(new FakeClock(), () => undefined, "/nonexistent", {
        openI2c: () => {
          opened++;
          return bus;
        },
      }),
    );
    const a = hardware.for("sense-env a").envSensor();
    const b = hardware.for("sense-env b").envSensor();
    assert.equal(opened, 1);
    await a.close();
    assert.equal(closed, 0);
    await b.close();
    assert.equal(closed, 1);
  });

  it("claims a node's GPIO lines in its name, refuses another node's claim, and frees them when it closes", async () => {
    const sim = new MemoryBus("d1");
    const hardware = new DeviceHardware(simDrivers(sim, new FakeClock()));
    const first = hardware.for("door-sensor n1");
    const second = hardware.for("door-opener n2");
    const input = first.gpioInput({ name: "door1", pin: 17, pull: "none", activeLow: false, debounceMs: 0 });
    assert.throws(() => second.gpioOutput({ name: "door", pin: 17, activeLow: false, initial: 0 }), /GPIO 17 is already used by door-sensor n1/);
    assert.equal(sim.on("pifog/d1/sim/door").length, 0, "the refused output was never made");
    assert.throws(() => first.gpioOutput({ name: "led", pin: 17, activeLow: false, initial: 0 }), PinInUseError, "one node twice too");
    await input.close();
    assert.equal(hardware.pins.holderOf(17), undefined);
    const output = second.gpioOutput({ name: "door", pin: 17, activeLow: false, initial: 0 });
    output.write(1);
    assert.equal(sim.last("pifog/d1/sim/door")?.payload, "1");
    await output.settled?.();
    await output.close();
  });

  it("frees a claim when the driver cannot be made", () => {
    const hardware = new DeviceHardware(piDrivers(new FakeClock(), () => undefined, "/nonexistent"));
    assert.throws(() => hardware.for("n1").gpioInput({ name: "door1", pin: 17, pull: "none", activeLow: false, debounceMs: 0 }));
    assert.equal(hardware.pins.holderOf(17), undefined);
  });
});
