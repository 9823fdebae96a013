import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { piDrivers, simDrivers } from "../../nodes/lib/drivers/factory";
import { CW2015, CW2015_ADDRESS, Cw2015, cw2015Percent, cw2015Voltage } from "../../nodes/lib/drivers/pi/cw2015";
import { swap16, type I2cWordBus } from "../../nodes/lib/drivers/pi/fuel-gauge";
import { MAX17040, MAX17040_ADDRESS, Max17040, max17040Percent, max17040Voltage } from "../../nodes/lib/drivers/pi/max17040";
import { SimBattery, simCellVoltage, type SimBatteryState } from "../../nodes/lib/drivers/sim/sim-battery";
import { HardwareUnavailableError } from "../../nodes/lib/drivers/types";
import { BatteryTrend } from "../../nodes/power-monitor/battery-trend";
import { FakeClock } from "../support/fake-clock";
import { MemoryBus as SharedMemoryBus } from "../support/fake-sim-bus";

type Write = ["word" | "byte", number, number, number];

/**
 * A fake I²C bus that works on the wire's bytes, as the chips do: each chip is a byte map whose 16-bit registers
 * are most significant byte first. An SMBus word goes low byte first, so `readWord` answers the register's first
 * byte as the word's low byte, and `writeWord` puts the word's low byte into the register's first byte.
 */
class FakeWordBus implements I2cWordBus {
  readonly chips = new Map<number, Map<number, number>>();
  readonly writes: Write[] = [];
  closed = false;

  chip(address: number): this {
    this.chips.set(address, new Map());
    return this;
  }

  /** Sets a chip's 16-bit register, most significant byte first. */
  register(address: number, register: number, value: number): this {
    const chip = this.chips.get(address)!;
    chip.set(register, (value >> 8) & 0xff);
    chip.set(register + 1, value & 0xff);
    return this;
  }

  byte(address: number, register: number): number | undefined {
    return this.chips.get(address)?.get(register);
  }

  private on(address: number): Map<number, number> {
    const chip = this.chips.get(address);
    if (!chip) throw new Error(`Remote I/O error (no chip at 0x${address.toString(16)})`);
    return chip;
  }

  async readWord(address: number, register: number): Promise<number> {
    const chip = this.on(address);
    return (chip.get(register) ?? 0) | ((chip.get(register + 1) ?? 0) << 8);
  }

  async writeWord(address: number, register: number, word: number): Promise<void> {
    const chip = this.on(address);
    this.writes.push(["word", address, register, word]);
    chip.set(register, word & 0xff);
    chip.set(register + 1, (word >> 8) & 0xff);
  }

  async writeByte(address: number, register: number, byte: number): Promise<void> {
    const chip = this.on(address);
    this.writes.push(["byte", address, register, byte]);
    chip.set(register, byte & 0xff);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

describe("fuel gauges: SMBus words", () => {
  it("swap the two bytes of a word, both ways", () => {
    assert.equal(swap16(0x1234), 0x3412);
    assert.equal(swap16(0x0054), 0x5400);
    assert.equal(swap16(swap16(0xbeef)), 0xbeef);
    assert.equal(swap16(0x00ff), 0xff00);
  });
});

describe("fuel gauge: UPS-Lite v1.2, MAX17040G at 0x36", () => {
  it("converts VCELL (× 1.25 / 1000 / 16 V) and SOC (/ 256 %) as the vendor's script does", () => {
    assert.equal(max17040Voltage(0xc300), 3.9); // 3120 steps of 1.25 mV, in bits 15:4
    assert.equal(max17040Voltage(0xd200), 4.2);
    assert.equal(max17040Percent(0x5780), 87.5);
    assert.equal(max17040Percent(0x6400), 100);
  });

  it("resets and quick-starts the chip, then reads it with the bytes swapped as SMBus requires", async () => {
    const bus = new FakeWordBus().chip(MAX17040_ADDRESS).register(0x36, MAX17040.VCELL, 0xc300).register(0x36, MAX17040.SOC, 0x5780);
    const gauge = new Max17040(bus);
    assert.deepEqual(await gauge.read(), { voltage: 3.9, percent: 87.5 });
    // the SMBus words 0x0054 and 0x0040: on the chip, COMMAND = 0x5400 (power-on reset) and MODE = 0x4000 (quick start)
    assert.deepEqual(bus.writes, [
      ["word", 0x36, 0xfe, 0x0054],
      ["word", 0x36, 0x06, 0x0040],
    ]);
    assert.deepEqual([bus.byte(0x36, 0xfe), bus.byte(0x36, 0xff)], [0x54, 0x00]);
    assert.deepEqual([bus.byte(0x36, 0x06), bus.byte(0x36, 0x07)], [0x40, 0x00]);
  });

  it("initialises once, reads every time, and follows the chip", async () => {
    const bus = new FakeWordBus().chip(0x36).register(0x36, MAX17040.VCELL, 0xc300).register(0x36, MAX17040.SOC, 0x5780);
    const gauge = new Max17040(bus);
    await gauge.read();
    bus.register(0x36, MAX17040.VCELL, 0xbb80).register(0x36, MAX17040.SOC, 0x1a40);
    assert.deepEqual(await gauge.read(), { voltage: 3.75, percent: 26.25 });
    assert.equal(bus.writes.length, 2, "no second reset");
  });

  it("rejects when the chip does not answer, and initialises again once it does", async () => {
    const bus = new FakeWordBus();
    const gauge = new Max17040(bus);
    await assert.rejects(gauge.read(), /Remote I\/O error/);
    bus.chip(0x36).register(0x36, MAX17040.VCELL, 0xc300).register(0x36, MAX17040.SOC, 0x3200);
    assert.deepEqual(await gauge.read(), { voltage: 3.9, percent: 50 });
    assert.deepEqual(bus.writes.map((w) => w[2]), [0xfe, 0x06]);
    await gauge.close();
    assert.equal(bus.closed, true);
    await assert.rejects(gauge.read(), /closed/);
  });
});

describe("fuel gauge: UPS-Lite v1.3, CW2015 at 0x62", () => {
  it("converts VCELL (× 0.305 / 1000 V, 14 bits) and SOC (/ 256 %)", () => {
    assert.ok(Math.abs(cw2015Voltage(12131) - 3.699955) < 1e-9);
    assert.equal(cw2015Voltage(0xc000 | 12131), cw2015Voltage(12131), "the top two bits are not part of the value");
    assert.equal(cw2015Percent(0x4a40), 74.25);
  });

  it("quick-starts the chip with MODE 0x0A ← 0x30 and reads it with the bytes swapped", async () => {
    const bus = new FakeWordBus().chip(CW2015_ADDRESS).register(0x62, CW2015.VCELL, 12131).register(0x62, CW2015.SOC, 0x4a40);
    const gauge = new Cw2015(bus);
    assert.deepEqual(await gauge.read(), { voltage: 3.7, percent: 74.25 });
    assert.deepEqual(bus.writes, [["byte", 0x62, 0x0a, 0x30]]);
    assert.equal(bus.byte(0x62, 0x0b), undefined, "MODE is one byte: the register after it is left alone");
    // unswapped, the same bytes would be nonsense: 0x632F × 0.305 mV and 0x404A / 256
    assert.notEqual(cw2015Voltage(await bus.readWord(0x62, CW2015.VCELL)), 3.7);
  });

  it("does not answer at 0x36: each model talks to its own address", async () => {
    const bus = new FakeWordBus().chip(0x36).register(0x36, 0x02, 0xc300).register(0x36, 0x04, 0x5780);
    await assert.rejects(new Cw2015(bus).read(), /no chip at 0x62/);
  });
});

describe("fuel gauge: from the drivers", () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-unit-gauge-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("on a Pi, opens bus 1 when asked and picks the chip by model", async () => {
    const opened: number[] = [];
    const bus = new FakeWordBus()
      .chip(0x36).register(0x36, 0x02, 0xc300).register(0x36, 0x04, 0x5780)
      .chip(0x62).register(0x62, 0x02, 12131).register(0x62, 0x04, 0x4a40);
    const drivers = piDrivers(new FakeClock(), () => undefined, dir, {
      openI2cWords: (n) => {
        opened.push(n);
        return bus;
      },
    });
    assert.deepEqual(opened, []);
    const v12 = drivers.fuelGauge("upslite-v1.2");
    const v13 = drivers.fuelGauge("upslite-v1.3");
    assert.deepEqual(opened, [1, 1]);
    assert.ok(v12 instanceof Max17040);
    assert.ok(v13 instanceof Cw2015);
    assert.equal((await v12.read()).percent, 87.5);
    assert.equal((await v13.read()).percent, 74.25);
  });

  it("throws HardwareUnavailableError at once where there is no I²C bus", () => {
    const drivers = piDrivers(new FakeClock(), () => undefined, dir, { i2cBus: 250 });
    assert.throws(() => drivers.fuelGauge("upslite-v1.2"), (err: Error) => err instanceof HardwareUnavailableError && /i2c-250/.test(err.message));
  });

  it("off a Pi, is the simulated battery whatever the model", () => {
    const drivers = simDrivers(new MemoryBus("pp1"), new FakeClock());
    assert.ok(drivers.fuelGauge("upslite-v1.2") instanceof SimBattery);
    assert.ok(drivers.fuelGauge("upslite-v1.3") instanceof SimBattery);
  });
});

/** The shared in-memory bus, plus the simulated battery's last state as it published it (retained). */
class MemoryBus extends SharedMemoryBus {
  lastState(): SimBatteryState {
    const last = this.published.filter((p) => p.topic === "pifog/pp1/sim/battery").at(-1)!;
    assert.equal(last.retain, true);
    return JSON.parse(last.payload) as SimBatteryState;
  }
}

const MINUTE = 60_000;

describe("simulated battery", () => {
  it("starts full on the mains and says so, retained, on pifog/<device>/sim/battery", async () => {
    const bus = new MemoryBus("pp1");
    const battery = new SimBattery(bus, new FakeClock());
    assert.deepEqual(bus.lastState(), { percent: 100, voltage: simCellVoltage(100, false), charging: false, mains: "on" });
    const r = await battery.read();
    assert.equal(r.percent, 100);
    assert.ok(r.voltage > 4.1 && r.voltage <= 4.2, `a full cell: ${r.voltage} V`);
  });

  it("drains while the mains is off, by the clock, its voltage falling with the charge, down to empty", async () => {
    const bus = new MemoryBus("pp1");
    const clock = new FakeClock();
    const battery = new SimBattery(bus, clock);
    bus.deliver("pifog/pp1/sim/mains/set", "off");
    assert.equal(bus.lastState().mains, "off");
    clock.tick(60 * MINUTE);
    const hour = await battery.read();
    assert.equal(hour.percent, 75, "a quarter an hour: full to empty in 4 h");
    let last = hour;
    for (let i = 0; i < 6; i++) {
      clock.tick(20 * MINUTE);
      const r = await battery.read();
      assert.ok(r.percent < last.percent && r.voltage < last.voltage, `falling: ${JSON.stringify(last)} → ${JSON.stringify(r)}`);
      last = r;
    }
    assert.equal(last.percent, 25);
    clock.tick(5 * 60 * MINUTE);
    const empty = await battery.read();
    assert.equal(empty.percent, 0, "never below empty");
    assert.ok(empty.voltage >= 3.2 && empty.voltage < 3.5, `an empty cell: ${empty.voltage} V`);
  });

  it("charges while the mains is on, slower above 90 %, up to full, reading higher while charging", async () => {
    const bus = new MemoryBus("pp1");
    const clock = new FakeClock();
    const battery = new SimBattery(bus, clock, { percent: 0, mainsOn: false });
    bus.deliver("pifog/pp1/sim/mains/set", "on");
    clock.tick(60 * MINUTE);
    const half = await battery.read();
    assert.equal(half.percent, 50, "empty to full in 2 h at the full rate");
    assert.equal(bus.lastState().charging, true);
    assert.ok(half.voltage > simCellVoltage(50, false), "a charger lifts the cell's voltage");
    clock.tick(48 * MINUTE); // to 90 %
    assert.equal((await battery.read()).percent, 90);
    clock.tick(12 * MINUTE); // a third of the rate now: 10 % in 36 min
    assert.equal((await battery.read()).percent, 93.33);
    clock.tick(60 * MINUTE);
    const full = await battery.read();
    assert.equal(full.percent, 100);
    assert.equal(bus.lastState().charging, false);
    assert.ok(full.voltage <= 4.2);
  });

  it("takes the mains as 1/0 too (HIGH = plugged in), a set state of charge, and warns about nonsense", async () => {
    const bus = new MemoryBus("pp1");
    const clock = new FakeClock();
    const battery = new SimBattery(bus, clock);
    bus.deliver("pifog/pp1/sim/battery/set", "40");
    assert.equal((await battery.read()).percent, 40);
    bus.deliver("pifog/pp1/sim/mains/set", "0");
    clock.tick(24 * MINUTE);
    assert.equal((await battery.read()).percent, 30);
    bus.deliver("pifog/pp1/sim/mains/set", "1");
    clock.tick(12 * MINUTE);
    assert.equal((await battery.read()).percent, 40);
    for (const bad of ["full", "101", "-5", "NaN", ""]) bus.deliver("pifog/pp1/sim/battery/set", bad);
    assert.equal(bus.warnings.length, 5);
    assert.match(bus.warnings[0]!, /simulated battery: "full" is not a state of charge in 0\.\.100/);
    bus.deliver("pifog/pp1/sim/mains/set", "constructor"); // not a word it knows: nothing changes
    assert.equal(bus.lastState().mains, "on");
  });

  it("stops listening when closed", async () => {
    const bus = new MemoryBus("pp1");
    const battery = new SimBattery(bus, new FakeClock());
    assert.equal(bus.subscribers("pifog/pp1/sim/mains/set"), 1);
    await battery.close();
    assert.equal(bus.subscribers("pifog/pp1/sim/mains/set"), 0);
    assert.equal(bus.subscribers("pifog/pp1/sim/battery/set"), 0);
    await assert.rejects(battery.read(), /closed/);
  });

  it("has a voltage that rises with the charge", () => {
    for (let p = 0; p < 100; p += 5) assert.ok(simCellVoltage(p + 5, false) > simCellVoltage(p, false), `${p} %`);
  });
});

describe("battery trend: minutes left", () => {
  const T0 = Date.UTC(2026, 0, 1);

  it("is unknown with one reading, or readings less than a minute apart", () => {
    const trend = new BatteryTrend();
    assert.equal(trend.minutesLeft(), null);
    trend.add(T0, 80);
    assert.equal(trend.minutesLeft(), null);
    trend.add(T0 + 30_000, 79.8);
    assert.equal(trend.minutesLeft(), null);
  });

  it("extends the falling charge to empty: 0.5 % a minute from 50 % is 100 minutes", () => {
    const trend = new BatteryTrend();
    for (let i = 0; i <= 10; i++) trend.add(T0 + i * MINUTE, 55 - 0.5 * i);
    assert.equal(trend.minutesLeft(), 100);
  });

  it("is unknown while the charge does not fall, and starts again after a reset", () => {
    const trend = new BatteryTrend();
    trend.add(T0, 50);
    trend.add(T0 + MINUTE, 50);
    trend.add(T0 + 2 * MINUTE, 51);
    assert.equal(trend.minutesLeft(), null);
    trend.reset();
    trend.add(T0 + 3 * MINUTE, 40);
    assert.equal(trend.minutesLeft(), null);
    trend.add(T0 + 4 * MINUTE, 39);
    assert.equal(trend.minutesLeft(), 39);
  });

  it("follows the last half hour: a heavier load shows", () => {
    const trend = new BatteryTrend();
    let p = 100;
    for (let i = 0; i <= 60; i++) {
      p -= i < 30 ? 0.1 : 1; // ten times the drain from minute 30 on
      trend.add(T0 + i * MINUTE, p);
    }
    // 1 % a minute over the last half hour; the whole hour's average (0.55 % a minute) would say twice as long
    assert.equal(trend.minutesLeft(), Math.round(p));
  });
});
