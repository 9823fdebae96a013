import assert from "node:assert/strict";
import fs from "node:fs";
import { Gpio } from "onoff";
import os from "node:os";
import path from "node:path";
import {
  isRaspberryPi,
  parseHardwareSetting,
  piDrivers,
  resolveHardware,
  simDrivers,
} from "../../nodes/lib/drivers/factory";
import type { SimBus } from "../../nodes/lib/drivers/sim/sim-bus";
import { SimGpioInput, SimGpioOutput } from "../../nodes/lib/drivers/sim/sim-gpio";
import { SimLedMatrix } from "../../nodes/lib/drivers/sim/sim-matrix";
import { HardwareUnavailableError, type GpioInputOptions } from "../../nodes/lib/drivers/types";
import { FakeClock } from "../support/fake-clock";

const onThisMachineIsAPi = isRaspberryPi();

describe("drivers factory: PIFOG_HARDWARE", () => {
  it("reads auto (also unset or blank), sim and pi, in any case and with spaces", () => {
    assert.equal(parseHardwareSetting(undefined), "auto");
    assert.equal(parseHardwareSetting(""), "auto");
    assert.equal(parseHardwareSetting("  "), "auto");
    assert.equal(parseHardwareSetting("auto"), "auto");
    assert.equal(parseHardwareSetting("AUTO"), "auto");
    assert.equal(parseHardwareSetting("sim"), "sim");
    assert.equal(parseHardwareSetting(" Sim "), "sim");
    assert.equal(parseHardwareSetting("pi"), "pi");
    assert.equal(parseHardwareSetting("PI\n"), "pi");
  });

  it("rejects anything else, naming the variable and the value", () => {
    for (const bad of ["raspberry", "simulator", "1", "gpio", "p i"]) {
      assert.throws(
        () => parseHardwareSetting(bad),
        (err: Error) => err.message.includes("PIFOG_HARDWARE") && err.message.includes(`"${bad}"`),
        bad,
      );
    }
  });
});

describe("drivers factory: which hardware", () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-unit-model-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const modelFile = (name: string, text: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };

  it("knows a Raspberry Pi by its device-tree model (which ends in a NUL)", () => {
    assert.equal(isRaspberryPi(modelFile("pi4", "Raspberry Pi 4 Model B Rev 1.4\0")), true);
    assert.equal(isRaspberryPi(modelFile("pi5", "Raspberry Pi 5 Model B Rev 1.0\0")), true);
    assert.equal(isRaspberryPi(modelFile("cm4", "Raspberry Pi Compute Module 4 Rev 1.0\0")), true);
  });

  it("is not a Pi with another model or no model file", () => {
    assert.equal(isRaspberryPi(modelFile("other", "Pine64 RockPro64 v2.1\0")), false);
    assert.equal(isRaspberryPi(modelFile("empty", "")), false);
    assert.equal(isRaspberryPi(path.join(dir, "no-such-file")), false);
  });

  it("auto picks pi on a Pi and sim elsewhere", () => {
    const pi = modelFile("auto-pi", "Raspberry Pi 3 Model B Plus Rev 1.3\0");
    const pc = modelFile("auto-pc", "QEMU Standard PC\0");
    assert.equal(resolveHardware("auto", () => isRaspberryPi(pi)), "pi");
    assert.equal(resolveHardware("auto", () => isRaspberryPi(pc)), "sim");
    assert.equal(resolveHardware("auto", () => isRaspberryPi(path.join(dir, "missing"))), "sim");
  });

  it("an explicit sim or pi wins over what the machine is", () => {
    let asked = 0;
    const onPi = () => {
      asked++;
      return true;
    };
    assert.equal(resolveHardware("sim", onPi), "sim");
    assert.equal(resolveHardware("pi", () => false), "pi");
    assert.equal(asked, 0, "not even asked");
  });

  it("auto on this machine follows /proc/device-tree/model", () => {
    assert.equal(resolveHardware("auto"), onThisMachineIsAPi ? "pi" : "sim");
  });
});

describe("drivers factory: sim drivers", () => {
  it("makes simulated inputs, outputs and matrices on the bus", () => {
    const published: string[] = [];
    const bus: SimBus = {
      device: "dev1",
      subscribe: () => () => undefined,
      publish: (topic) => void published.push(topic),
      warn: () => undefined,
    };
    const drivers = simDrivers(bus, new FakeClock());
    assert.equal(drivers.kind, "sim");
    const input = drivers.gpioInput({ name: "door1", pin: 17, pull: "up", activeLow: false, debounceMs: 0 });
    const output = drivers.gpioOutput({ name: "led1", pin: 23, activeLow: false, initial: 0 });
    const matrix = drivers.ledMatrix("matrix");
    assert.ok(input instanceof SimGpioInput);
    assert.ok(output instanceof SimGpioOutput);
    assert.ok(matrix instanceof SimLedMatrix);
    assert.deepEqual(published, ["pifog/dev1/sim/door1", "pifog/dev1/sim/led1"]);
  });
});

describe("drivers factory: Pi drivers off a Pi", () => {
  // An empty sysfs tree: no Pi GPIO controller, whatever machine this is.
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-unit-nogpio-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const door: GpioInputOptions = { name: "door1", pin: 17, pull: "none", activeLow: false, debounceMs: 50 };

  it("are made without touching the hardware", () => {
    const warnings: string[] = [];
    const drivers = piDrivers(new FakeClock(), (m) => warnings.push(m), dir);
    assert.equal(drivers.kind, "pi");
    assert.deepEqual(warnings, []);
  });

  it("asking for a GPIO input throws at once, every time, rather than failing later", () => {
    const clock = new FakeClock();
    const drivers = piDrivers(clock, () => undefined, dir);
    for (let i = 0; i < 2; i++) {
      assert.throws(
        () => drivers.gpioInput(door),
        (err: Error) => err instanceof HardwareUnavailableError || /no Raspberry Pi GPIO controller/.test(err.message),
      );
    }
    assert.equal(clock.pending, 0, "nothing left scheduled");
  });

  it("asking for a GPIO output throws too", () => {
    const drivers = piDrivers(new FakeClock(), () => undefined, dir);
    assert.throws(
      () => drivers.gpioOutput({ name: "led1", pin: 23, activeLow: false, initial: 0 }),
      (err: Error) => err instanceof HardwareUnavailableError || /no Raspberry Pi GPIO controller/.test(err.message),
    );
  });

  it("says why: GPIO not accessible, or no Pi GPIO controller among the chips", () => {
    const drivers = piDrivers(new FakeClock(), () => undefined, dir);
    // onoff can write /sys/class/gpio/export only where sysfs GPIO exists and we may use it (not here).
    const accessible = Gpio.accessible;
    assert.throws(() => drivers.gpioInput(door), (err: Error) => {
      if (accessible) {
        assert.match(err.message, /no Raspberry Pi GPIO controller under .*\(chips: none\)/);
      } else {
        assert.ok(err instanceof HardwareUnavailableError, String(err));
        assert.match(err.message, /GPIO is not accessible/);
      }
      return true;
    });
  });

  it("asking for the LED matrix throws HardwareUnavailableError", () => {
    const drivers = piDrivers(new FakeClock(), () => undefined, dir);
    assert.throws(() => drivers.ledMatrix("matrix"), HardwareUnavailableError);
  });
});
