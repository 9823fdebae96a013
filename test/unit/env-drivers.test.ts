import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SysfsCpuTemperature } from "../../nodes/lib/drivers/cpu-temperature";
import { piDrivers, simDrivers } from "../../nodes/lib/drivers/factory";
import {
  HTS221,
  hts221Calibration,
  hts221Humidity,
  hts221Temperature,
  type Hts221Calibration,
} from "../../nodes/lib/drivers/pi/hts221";
import { openI2cBus, type I2cRegisterBus } from "../../nodes/lib/drivers/pi/i2c";
import { LPS25H, lps25hPressure, lps25hTemperature } from "../../nodes/lib/drivers/pi/lps25h";
import { SenseHatEnv } from "../../nodes/lib/drivers/pi/sense-hat-env";
import { SimCpuTemperature, SimEnvSensor, seededRandom, simDay } from "../../nodes/lib/drivers/sim/sim-env";
import { HardwareUnavailableError, type EnvReading } from "../../nodes/lib/drivers/types";
import { FakeClock } from "../support/fake-clock";
import { MemoryBus } from "../support/fake-sim-bus";

const HTS = 0x5f;
const LPS = 0x5c;

/** A fake I²C bus: chips are register maps; status registers can follow a script; every write is recorded. */
class FakeI2c implements I2cRegisterBus {
  readonly chips = new Map<number, Map<number, number>>();
  readonly writes: Array<[address: number, register: number, value: number]> = [];
  readonly scripts = new Map<string, number[]>();
  failOn: { address: number; register: number } | null = null;
  closed = false;

  chip(address: number, registers: Record<number, number>): this {
    this.chips.set(address, new Map(Object.entries(registers).map(([r, v]) => [Number(r), v])));
    return this;
  }

  /** The next reads of `register` answer these values in turn, then the register's own value. */
  script(address: number, register: number, values: number[]): void {
    this.scripts.set(`${address}:${register}`, [...values]);
  }

  async readByte(address: number, register: number): Promise<number> {
    const chip = this.chips.get(address);
    if (!chip) throw new Error(`Remote I/O error (no chip at 0x${address.toString(16)})`);
    if (this.failOn?.address === address && this.failOn.register === register) throw new Error("EIO: i/o error, read");
    const scripted = this.scripts.get(`${address}:${register}`);
    if (scripted && scripted.length > 0) return scripted.shift()!;
    return chip.get(register) ?? 0;
  }

  async writeByte(address: number, register: number, value: number): Promise<void> {
    const chip = this.chips.get(address);
    if (!chip) throw new Error(`Remote I/O error (no chip at 0x${address.toString(16)})`);
    this.writes.push([address, register, value]);
    chip.set(register, value);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** The two bytes of a 16-bit two's complement value, low first. */
const le16 = (v: number): [number, number] => [v & 0xff, (v >> 8) & 0xff];

interface HtsValues {
  h0x2: number;
  h1x2: number;
  h0Out: number;
  h1Out: number;
  t0x8: number;
  t1x8: number;
  msb: number;
  t0Out: number;
  t1Out: number;
  hOut: number;
  tOut: number;
}

function htsRegisters(v: HtsValues): Record<number, number> {
  const r: Record<number, number> = { [HTS221.WHO_AM_I]: 0xbc, [HTS221.STATUS]: 0x03 };
  const put16 = (at: number, value: number) => ([r[at], r[at + 1]] = le16(value));
  r[HTS221.H0_RH_X2] = v.h0x2;
  r[HTS221.H1_RH_X2] = v.h1x2;
  r[HTS221.T0_DEGC_X8] = v.t0x8;
  r[HTS221.T1_DEGC_X8] = v.t1x8;
  r[HTS221.T1_T0_MSB] = v.msb;
  put16(HTS221.H0_T0_OUT_L, v.h0Out);
  put16(HTS221.H1_T0_OUT_L, v.h1Out);
  put16(HTS221.T0_OUT_L, v.t0Out);
  put16(HTS221.T1_OUT_L, v.t1Out);
  put16(HTS221.HUMIDITY_OUT_L, v.hOut);
  put16(HTS221.TEMP_OUT_L, v.tOut);
  return r;
}

function lpsRegisters(pressureRaw: number, tempRaw: number): Record<number, number> {
  const [tl, th] = le16(tempRaw);
  return {
    [LPS25H.WHO_AM_I]: 0xbd,
    [LPS25H.STATUS]: 0x03,
    [LPS25H.PRESS_OUT_XL]: pressureRaw & 0xff,
    [LPS25H.PRESS_OUT_L]: (pressureRaw >> 8) & 0xff,
    [LPS25H.PRESS_OUT_H]: (pressureRaw >> 16) & 0xff,
    [LPS25H.TEMP_OUT_L]: tl,
    [LPS25H.TEMP_OUT_H]: th,
  };
}

/** The HTS221 datasheet's temperature example: T0_OUT 300 is 10.0 °C, T1_OUT 500 is 20.0 °C, so T_OUT 400 is 15.0 °C.
 * Its humidity: a Sense HAT-like calibration with negative counts (H0 32 %rH at -7, H1 70 %rH at -13232). */
const DATASHEET: HtsValues = {
  h0x2: 64,
  h1x2: 140,
  h0Out: -7,
  h1Out: -13232,
  t0x8: 80,
  t1x8: 160,
  msb: 0x00,
  t0Out: 300,
  t1Out: 500,
  hOut: -410,
  tOut: 400,
};

/** 1013.25 hPa is 0x3F5400 counts; TEMP_OUT 0xDA50 (-9648) is 42.5 - 20.1 = 22.4 °C. */
const PRESSURE_RAW = 0x3f5400;
const PRESSURE_TEMP_RAW = -9648;

function senseHat(v: HtsValues = DATASHEET) {
  const bus = new FakeI2c().chip(HTS, htsRegisters(v)).chip(LPS, lpsRegisters(PRESSURE_RAW, PRESSURE_TEMP_RAW));
  const sleeps: number[] = [];
  const env = new SenseHatEnv(bus, async (ms) => {
    sleeps.push(ms);
  });
  return { bus, env, sleeps };
}

const near = (actual: number, expected: number, eps = 1e-9, what = "") =>
  assert.ok(Math.abs(actual - expected) <= eps, `${what} ${actual} is not ${expected} (±${eps})`);

describe("HTS221 (Sense HAT humidity sensor)", () => {
  it("converts as the datasheet's example: T_OUT 400 between 300 (10 °C) and 500 (20 °C) is 15 °C", () => {
    const c: Hts221Calibration = { h0Rh: 20, h1Rh: 40, h0T0Out: 0, h1T0Out: 6000, t0DegC: 10, t1DegC: 20, t0Out: 300, t1Out: 500 };
    assert.equal(hts221Temperature(400, c), 15);
    assert.equal(hts221Temperature(300, c), 10);
    assert.equal(hts221Temperature(500, c), 20);
    assert.equal(hts221Temperature(200, c), 5, "extrapolates below T0 too");
    assert.equal(hts221Humidity(3000, c), 30);
  });

  it("limits humidity to 0..100 %RH, as ST's reference code does", () => {
    const c: Hts221Calibration = { h0Rh: 20, h1Rh: 40, h0T0Out: 0, h1T0Out: 6000, t0DegC: 10, t1DegC: 20, t0Out: 300, t1Out: 500 };
    assert.equal(hts221Humidity(30_000, c), 100);
    assert.equal(hts221Humidity(-30_000, c), 0);
  });

  it("decodes the calibration registers: halves, eighths, 10-bit temperatures and signed counts", () => {
    // T0 = 18.0 °C (x8 = 144 = 0x090), T1 = 35.0 °C (x8 = 280 = 0x118: its bit 8 in T1/T0 msb bit 2);
    // the reserved top bits of T1/T0 msb are set and must be ignored
    const regs = htsRegisters({ ...DATASHEET, t0x8: 0x90, t1x8: 0x18, msb: 0xc4, t0Out: -2, t1Out: 680 });
    const c = hts221Calibration((r) => regs[r] ?? 0);
    assert.deepEqual(c, { h0Rh: 32, h1Rh: 70, h0T0Out: -7, h1T0Out: -13232, t0DegC: 18, t1DegC: 35, t0Out: -2, t1Out: 680 });
    const t0msb = hts221Calibration((r) => (r === HTS221.T1_T0_MSB ? 0x03 : r === HTS221.T0_DEGC_X8 ? 0x00 : 0));
    assert.equal(t0msb.t0DegC, 96, "T0's bits 9:8 come from msb bits 1:0 (0x300 / 8)");
  });

  it("reads humidity and temperature through the bus with the calibration applied", async () => {
    const { env } = senseHat();
    const r = await env.read();
    assert.equal(r.temperatureFromHumidity, 15);
    // 32 + (-410 - -7) × (70 - 32) / (-13232 - -7) = 32 + 15314 / 13225
    near(r.humidity, 32 + 15314 / 13225, 1e-9, "humidity");
    near(r.humidity, 33.158, 0.001, "humidity");
  });

  it("reads a negative temperature count (two's complement)", async () => {
    const { env } = senseHat({ ...DATASHEET, t0x8: 0x90, t1x8: 0x18, msb: 0x04, t0Out: -2, t1Out: 680, tOut: -300 });
    const r = await env.read();
    near(r.temperatureFromHumidity, 18 + ((-300 + 2) * 17) / 682, 1e-9, "temperature");
  });
});

describe("LPS25H (Sense HAT pressure sensor)", () => {
  it("converts as the datasheet says: 4096 counts per hPa, 42.5 °C + counts / 480", () => {
    assert.equal(lps25hPressure(0x3f5400), 1013.25);
    assert.equal(lps25hPressure(260 * 4096), 260);
    assert.equal(lps25hTemperature(0), 42.5);
    assert.equal(lps25hTemperature(-4800), 32.5);
  });

  it("reads pressure (24-bit) and temperature (signed 16-bit) through the bus", async () => {
    const { env } = senseHat();
    const r = await env.read();
    assert.equal(r.pressure, 1013.25);
    near(r.temperatureFromPressure, 22.4, 1e-9, "temperature from pressure");
  });
});

describe("SenseHatEnv on a fake I²C bus", () => {
  it("powers both sensors up once, as the Sense HAT library does (HTS221 0x87/0x1B; LPS25H 0xC4/0x05/0xC0/0x40)", async () => {
    const { bus, env } = senseHat();
    await env.read();
    await env.read();
    assert.deepEqual(bus.writes, [
      [HTS, 0x20, 0x87],
      [HTS, 0x10, 0x1b],
      [LPS, 0x20, 0xc4],
      [LPS, 0x10, 0x05],
      [LPS, 0x2e, 0xc0],
      [LPS, 0x21, 0x40],
    ]);
  });

  it("waits for new data after power-up (status bits), on the injected sleep", async () => {
    const { bus, env, sleeps } = senseHat();
    bus.script(HTS, HTS221.STATUS, [0x00, 0x01, 0x02]); // neither, temperature only, humidity only
    bus.script(LPS, LPS25H.STATUS, [0x00]);
    const r = await env.read();
    assert.equal(r.temperatureFromHumidity, 15);
    assert.deepEqual(sleeps, [20, 20, 20, 20]);
  });

  it("fails a read when a sensor gives nothing new for 500 ms", async () => {
    const { bus, env, sleeps } = senseHat();
    bus.script(HTS, HTS221.STATUS, new Array(25).fill(0));
    await assert.rejects(env.read(), /HTS221 gave no new reading within 500 ms/);
    assert.equal(sleeps.reduce((a, b) => a + b, 0), 500);
  });

  it("after a bus error the next read sets the sensors up again and succeeds", async () => {
    const { bus, env } = senseHat();
    await env.read();
    bus.failOn = { address: HTS, register: HTS221.TEMP_OUT_L };
    await assert.rejects(env.read(), /EIO/);
    bus.failOn = null;
    const writesBefore = bus.writes.length;
    const r = await env.read();
    assert.equal(r.temperatureFromHumidity, 15);
    assert.deepEqual(bus.writes.slice(writesBefore, writesBefore + 2), [
      [HTS, 0x20, 0x87],
      [HTS, 0x10, 0x1b],
    ]);
  });

  it("says which chip is missing or wrong", async () => {
    const noLps = new FakeI2c().chip(HTS, htsRegisters(DATASHEET));
    await assert.rejects(
      new SenseHatEnv(noLps, async () => undefined).read(),
      (err: Error) => err instanceof HardwareUnavailableError && /no LPS25H pressure sensor at 0x5c/.test(err.message),
    );
    const wrong = new FakeI2c().chip(HTS, { ...htsRegisters(DATASHEET), [HTS221.WHO_AM_I]: 0x33 });
    await assert.rejects(new SenseHatEnv(wrong, async () => undefined).read(), /not an HTS221 \(WHO_AM_I 0x33\)/);
    assert.deepEqual(wrong.writes, [], "nothing is written to a chip that is not ours");
  });

  it("refuses a blank calibration instead of dividing by zero", async () => {
    const blank = new FakeI2c().chip(HTS, { [HTS221.WHO_AM_I]: 0xbc, [HTS221.STATUS]: 3 }).chip(LPS, lpsRegisters(0, 0));
    await assert.rejects(new SenseHatEnv(blank, async () => undefined).read(), /calibration is blank/);
  });

  it("closes the bus on close, and reads no more", async () => {
    const { bus, env } = senseHat();
    await env.close();
    assert.equal(bus.closed, true);
    await assert.rejects(env.read(), /closed/);
  });
});

describe("Pi environment drivers", () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-unit-env-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("open the I²C bus only when the sensor is asked for, and use the bus given", async () => {
    const opened: number[] = [];
    const bus = new FakeI2c().chip(HTS, htsRegisters(DATASHEET)).chip(LPS, lpsRegisters(PRESSURE_RAW, PRESSURE_TEMP_RAW));
    const drivers = piDrivers(new FakeClock(), () => undefined, dir, {
      openI2c: (n) => {
        opened.push(n);
        return bus;
      },
    });
    assert.deepEqual(opened, []);
    const env = drivers.envSensor();
    assert.deepEqual(opened, [1], "bus 1, the Sense HAT's");
    assert.equal((await env.read()).pressure, 1013.25);
  });

  it("throw HardwareUnavailableError at once where there is no I²C bus", () => {
    assert.throws(() => openI2cBus(250), (err: Error) => err instanceof HardwareUnavailableError && /\/dev\/i2c-250/.test(err.message));
    const drivers = piDrivers(new FakeClock(), () => undefined, dir, { i2cBus: 250 });
    assert.throws(() => drivers.envSensor(), HardwareUnavailableError);
  });

  it("read the CPU temperature from the thermal zone, in millidegrees", async () => {
    const file = path.join(dir, "temp");
    fs.writeFileSync(file, "48312\n");
    assert.equal(await new SysfsCpuTemperature(file).read(), 48.312);
    fs.writeFileSync(file, "-1500\n");
    assert.equal(await new SysfsCpuTemperature(file).read(), -1.5);
    const drivers = piDrivers(new FakeClock(), () => undefined, dir, { thermalZone: file });
    fs.writeFileSync(file, "51000");
    assert.equal(await drivers.cpuTemperature().read(), 51);
  });

  it("fail a CPU temperature read clearly on garbage or a missing file", async () => {
    const file = path.join(dir, "garbage");
    fs.writeFileSync(file, "hot\n");
    await assert.rejects(new SysfsCpuTemperature(file).read(), /does not hold a temperature: "hot"/);
    await assert.rejects(new SysfsCpuTemperature(path.join(dir, "missing")).read(), /ENOENT/);
  });
});

/** Local midnight, so the day's curve is where the test expects it whatever the time zone. */
const MIDNIGHT = new Date(2026, 5, 1, 0, 0, 0).getTime();
const HOUR = 3_600_000;

function simSensors(seed: number, start = MIDNIGHT) {
  const bus = new MemoryBus("sp1");
  const clock = new FakeClock(start);
  const random = seededRandom(seed);
  return { bus, clock, env: new SimEnvSensor(bus, clock, random), cpu: new SimCpuTemperature(bus, clock, random) };
}

async function day(seed: number, hours = 48, stepMs = HOUR / 2): Promise<Array<EnvReading & { cpu: number }>> {
  const { clock, env, cpu } = simSensors(seed);
  const out: Array<EnvReading & { cpu: number }> = [];
  for (let t = 0; t <= hours * HOUR; t += stepMs) {
    out.push({ ...(await env.read()), cpu: await cpu.read() });
    clock.tick(stepMs);
  }
  return out;
}

describe("simulated environment sensors", () => {
  it("follow a plausible day: every value within what a Sense HAT on a Pi indoors reads", async () => {
    for (const r of await day(7)) {
      assert.ok(r.temperatureFromHumidity >= 25 && r.temperatureFromHumidity <= 36, `temperature ${r.temperatureFromHumidity}`);
      assert.ok(r.temperatureFromPressure >= 24 && r.temperatureFromPressure <= 36, `from pressure ${r.temperatureFromPressure}`);
      assert.ok(r.humidity >= 34 && r.humidity <= 56, `humidity ${r.humidity}`);
      assert.ok(r.pressure >= 1005 && r.pressure <= 1021.5, `pressure ${r.pressure}`);
      assert.ok(r.cpu >= 40 && r.cpu <= 52, `cpu ${r.cpu}`);
      // the sensor reads warm, and the default correction gives back a room temperature
      const corrected = r.temperatureFromHumidity - (r.cpu - r.temperatureFromHumidity) / 1.5;
      assert.ok(corrected >= 17.5 && corrected <= 24.5, `corrected ${corrected}`);
    }
  });

  it("are warmer and drier in the afternoon than before dawn", () => {
    const at = (h: number) => new Date(MIDNIGHT + h * HOUR);
    assert.ok(simDay.room(at(15)) > simDay.room(at(3)) + 4);
    assert.ok(simDay.temperature(at(15)) > simDay.temperature(at(3)));
    assert.ok(simDay.humidity(at(15)) < simDay.humidity(at(3)) - 10);
    assert.equal(Math.round(simDay.room(at(15)) * 100) / 100, 23.5);
    assert.equal(Math.round(simDay.room(at(3)) * 100) / 100, 18.5);
  });

  it("are deterministic with a seeded random and a fake clock, and the seed matters", async () => {
    const a = await day(42, 6);
    const b = await day(42, 6);
    assert.deepEqual(a, b);
    const c = await day(43, 6);
    assert.notDeepEqual(a, c);
    const noisy = a.some((r, i) => i > 0 && r.temperatureFromHumidity !== a[i - 1]!.temperatureFromHumidity);
    assert.ok(noisy, "values move");
  });

  it("publish each value, retained, on pifog/<device>/sim/<name> at start and on each read", async () => {
    const { bus, env, cpu } = simSensors(1);
    const names = ["temperature", "humidity", "pressure", "temperature-from-pressure", "cpu-temperature"];
    for (const n of names) {
      assert.ok(bus.last(`pifog/sp1/sim/${n}`), `${n} published at start`);
      assert.equal(bus.subscribers(`pifog/sp1/sim/${n}/set`), 1, `${n} settable`);
    }
    assert.ok(bus.published.every((p) => p.retain));
    const r = await env.read();
    const t = await cpu.read();
    assert.equal(bus.last("pifog/sp1/sim/temperature")!.payload, String(r.temperatureFromHumidity));
    assert.equal(bus.last("pifog/sp1/sim/humidity")!.payload, String(r.humidity));
    assert.equal(bus.last("pifog/sp1/sim/pressure")!.payload, String(r.pressure));
    assert.equal(bus.last("pifog/sp1/sim/temperature-from-pressure")!.payload, String(r.temperatureFromPressure));
    assert.equal(bus.last("pifog/sp1/sim/cpu-temperature")!.payload, String(t));
  });

  it("hold a value set over pifog/<device>/sim/<name>/set until auto", async () => {
    const { bus, clock, env, cpu } = simSensors(3);
    bus.deliver("pifog/sp1/sim/temperature/set", "21.5");
    bus.deliver("pifog/sp1/sim/humidity/set", " 40 ");
    bus.deliver("pifog/sp1/sim/pressure/set", "998.4");
    bus.deliver("pifog/sp1/sim/temperature-from-pressure/set", "20");
    bus.deliver("pifog/sp1/sim/cpu-temperature/set", "55.5");
    assert.deepEqual(bus.last("pifog/sp1/sim/temperature"), { topic: "pifog/sp1/sim/temperature", payload: "21.5", retain: true });
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await env.read(), { humidity: 40, temperatureFromHumidity: 21.5, pressure: 998.4, temperatureFromPressure: 20 });
      assert.equal(await cpu.read(), 55.5);
      clock.tick(6 * HOUR);
    }
    bus.deliver("pifog/sp1/sim/temperature/set", "AUTO");
    const back = (await env.read()).temperatureFromHumidity;
    assert.ok(back > 25 && back < 36, `back on the day's curve: ${back}`);
    bus.deliver("pifog/sp1/sim/humidity/set", "");
    assert.notEqual((await env.read()).humidity, 40, "an empty message (a cleared retained set) is auto too");
  });

  it("ignore a set that is not a number in the sensor's range, with a warning", async () => {
    const { bus, env } = simSensors(4);
    bus.deliver("pifog/sp1/sim/humidity/set", "50");
    for (const bad of ["warm", "120", "-1", "NaN", "Infinity", "0x20", "1e999"]) bus.deliver("pifog/sp1/sim/humidity/set", bad);
    bus.deliver("pifog/sp1/sim/pressure/set", "2000");
    assert.equal((await env.read()).humidity, 50);
    assert.equal(bus.warnings.length, 8);
    assert.match(bus.warnings[0]!, /simulated humidity: "warm" is not a number in 0\.\.100/);
    assert.match(bus.warnings[7]!, /simulated pressure: "2000" is not a number in 260\.\.1260/);
  });

  it("stop listening when closed", async () => {
    const { bus, env, cpu } = simSensors(5);
    await env.close();
    await cpu.close();
    for (const n of ["temperature", "humidity", "pressure", "temperature-from-pressure", "cpu-temperature"]) {
      assert.equal(bus.subscribers(`pifog/sp1/sim/${n}/set`), 0, n);
    }
  });

  it("come from the sim drivers, seeded from the device and the start time unless a random is given", async () => {
    const read = async (device: string, start: number) => {
      const bus = new MemoryBus(device);
      const drivers = simDrivers(bus, new FakeClock(start));
      return [await drivers.envSensor().read(), await drivers.cpuTemperature().read()];
    };
    assert.deepEqual(await read("sp1", MIDNIGHT), await read("sp1", MIDNIGHT));
    assert.notDeepEqual(await read("sp1", MIDNIGHT), await read("sp2", MIDNIGHT));
    const bus = new MemoryBus("sp1");
    const given = simDrivers(bus, new FakeClock(MIDNIGHT), seededRandom(9));
    const same = new SimEnvSensor(new MemoryBus("sp1"), new FakeClock(MIDNIGHT), seededRandom(9));
    assert.deepEqual(await given.envSensor().read(), await same.read());
  });
});
