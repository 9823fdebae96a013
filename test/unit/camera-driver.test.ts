// The camera drivers: the Pi's command lines (and their fallbacks, errors and timeouts) against a fake runner,
// and the simulator's JPEG stills and scene switching over an in-memory SimBus.
import assert from "node:assert/strict";
import * as jpeg from "jpeg-js";
import { piDrivers, simDrivers } from "../../nodes/lib/drivers/factory";
import { PiCamera, cameraArgs, onPath, type CommandRunner } from "../../nodes/lib/drivers/pi/camera";
import { SimCamera, defaultScenesDir, sceneNames } from "../../nodes/lib/drivers/sim/sim-camera";
import { HardwareUnavailableError, type CameraOptions } from "../../nodes/lib/drivers/types";
import { encodeJpeg, jpegSize, resizeToFill } from "../../nodes/lib/image/image";
import { FakeClock } from "../support/fake-clock";
import { MemoryBus } from "../support/fake-sim-bus";

const OPTIONS: CameraOptions = { rotation: 0, timeoutMs: 10_000 };

/** A small real JPEG of the given size, as a camera program would print it. */
function jpegOf(width: number, height: number): Buffer {
  return encodeJpeg({ width, height, data: Buffer.alloc(width * height * 4, 128) });
}

interface Call {
  file: string;
  args: string[];
  timeoutMs: number;
}

/** A runner that records its calls; `missing` programs fail with ENOENT, the rest answer with `answer`. */
function fakeRunner(missing: string[] = [], answer: (call: Call) => Promise<Buffer> = async () => jpegOf(500, 281)) {
  const calls: Call[] = [];
  const run: CommandRunner = (file, args, { timeoutMs }) => {
    const call = { file, args, timeoutMs };
    calls.push(call);
    if (missing.includes(file)) return Promise.reject(Object.assign(new Error(`spawn ${file} ENOENT`), { code: "ENOENT" }));
    return answer(call);
  };
  return { run, calls };
}

const arg = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

describe("Pi camera", () => {
  it("takes PiFog's low preset with rpicam-still at 500×281, JPEG to stdout, no preview", async () => {
    const { run, calls } = fakeRunner();
    const picture = await new PiCamera(OPTIONS, run).capture("low");
    assert.equal(calls.length, 1);
    const { file, args, timeoutMs } = calls[0]!;
    assert.equal(file, "rpicam-still");
    assert.equal(arg(args, "--width"), "500");
    assert.equal(arg(args, "--height"), "281");
    assert.equal(arg(args, "--rotation"), "0");
    assert.equal(arg(args, "-e"), "jpg");
    assert.equal(arg(args, "-o"), "-");
    assert.ok(args.includes("-n"), "no preview window");
    assert.equal(timeoutMs, 10_000);
    assert.deepEqual([picture.width, picture.height, picture.preset], [500, 281, "low"]);
    assert.ok(picture.jpeg.equals(jpegOf(500, 281)));
  });

  it("takes the high preset at 1900×1200 and passes a 180° rotation", async () => {
    const { run, calls } = fakeRunner([], async () => jpegOf(1900, 1200));
    const picture = await new PiCamera({ rotation: 180, timeoutMs: 5000 }, run).capture("high");
    assert.equal(arg(calls[0]!.args, "--width"), "1900");
    assert.equal(arg(calls[0]!.args, "--height"), "1200");
    assert.equal(arg(calls[0]!.args, "--rotation"), "180");
    assert.deepEqual([picture.width, picture.height], [1900, 1200]);
  });

  it("falls back to libcamera-still, then raspistill (with its own flags), when a program is missing, and remembers", async () => {
    const { run, calls } = fakeRunner(["rpicam-still", "libcamera-still"]);
    const camera = new PiCamera({ rotation: 180, timeoutMs: 10_000 }, run);
    await camera.capture("low");
    assert.deepEqual(calls.map((c) => c.file), ["rpicam-still", "libcamera-still", "raspistill"]);
    const raspistill = calls[2]!.args;
    assert.equal(arg(raspistill, "-w"), "500");
    assert.equal(arg(raspistill, "-h"), "281");
    assert.equal(arg(raspistill, "-rot"), "180");
    assert.equal(arg(raspistill, "-o"), "-");
    await camera.capture("high");
    assert.deepEqual(calls.map((c) => c.file).slice(3), ["raspistill"], "the missing ones are not tried again");
  });

  it("uses libcamera-still's rpicam flags when only it is there", async () => {
    const { run, calls } = fakeRunner(["rpicam-still"]);
    await new PiCamera(OPTIONS, run).capture("low");
    assert.equal(calls[1]!.file, "libcamera-still");
    assert.deepEqual(calls[1]!.args, cameraArgs("rpicam-still", "low", OPTIONS));
  });

  it("says the camera is not available when no program is installed", async () => {
    const { run } = fakeRunner(["rpicam-still", "libcamera-still", "raspistill"]);
    await assert.rejects(new PiCamera(OPTIONS, run).capture("low"), (err: Error) => err instanceof HardwareUnavailableError && /not available/.test(err.message));
  });

  it("does not fall back on a camera error: it fails with the program's message", async () => {
    const { run, calls } = fakeRunner([], async () => {
      throw Object.assign(new Error("Command failed: rpicam-still: ERROR: no cameras available"), { code: 255 });
    });
    await assert.rejects(new PiCamera(OPTIONS, run).capture("low"), /rpicam-still failed: .*no cameras available/);
    assert.equal(calls.length, 1);
  });

  it("reports a killed (timed-out) capture as a timeout", async () => {
    const { run } = fakeRunner([], async () => {
      throw Object.assign(new Error("Command failed"), { killed: true, signal: "SIGTERM" });
    });
    await assert.rejects(new PiCamera({ rotation: 0, timeoutMs: 3000 }, run).capture("low"), /timed out after 3 s/);
  });

  it("rejects output that is not a JPEG, and an unknown preset", async () => {
    const { run } = fakeRunner([], async () => Buffer.from("oops"));
    const camera = new PiCamera(OPTIONS, run);
    await assert.rejects(camera.capture("low"), /no JPEG/);
    await assert.rejects(camera.capture("medium" as never), /unknown camera preset/);
  });

  it("takes one still at a time", async () => {
    let running = 0;
    let most = 0;
    const { run } = fakeRunner([], async () => {
      most = Math.max(most, ++running);
      await new Promise((r) => setImmediate(r));
      running--;
      return jpegOf(500, 281);
    });
    const camera = new PiCamera(OPTIONS, run);
    await Promise.all([camera.capture("low"), camera.capture("low"), camera.capture("low")]);
    assert.equal(most, 1);
  });

  it("piDrivers: camera() throws HardwareUnavailableError when no camera program is installed, else uses the first", async () => {
    const clock = new FakeClock();
    assert.throws(() => piDrivers(clock, () => {}, undefined, { hasProgram: () => false }).camera(OPTIONS), HardwareUnavailableError);
    const { run, calls } = fakeRunner();
    await piDrivers(clock, () => {}, undefined, { hasProgram: (p) => p === "raspistill", runCommand: run }).camera(OPTIONS).capture("low");
    assert.deepEqual(calls.map((c) => c.file), ["raspistill"]);
  });

  it("onPath finds an executable on PATH and not a missing one", () => {
    assert.equal(onPath("node", process.env.PATH), true);
    assert.equal(onPath("no-such-camera-program-here", process.env.PATH), false);
  });
});

describe("image helpers", () => {
  it("resizeToFill fills the frame, cropping the middle: a left/right split image keeps its halves", () => {
    const src = { width: 4, height: 2, data: Buffer.alloc(4 * 2 * 4) };
    for (let i = 0; i < 8; i++) src.data.writeUInt32BE((i % 4) < 2 ? 0x000000ff : 0xffffffff, i * 4);
    const out = resizeToFill(src, 2, 2);
    assert.deepEqual([out.width, out.height], [2, 2]);
    assert.ok(out.data[0]! < 128 && out.data[4]! > 128, "dark left, light right");
  });

  it("jpegSize reads the frame header", () => {
    assert.deepEqual(jpegSize(jpegOf(37, 21)), { width: 37, height: 21 });
    assert.equal(jpegSize(Buffer.from("not a jpeg")), null);
  });
});

describe("simulated camera", () => {
  const SET = "pifog/cp1/sim/scene/set";
  const STATE = "pifog/cp1/sim/scene";

  it("finds the scenes beside the sources", () => {
    assert.deepEqual(sceneNames(defaultScenesDir()), ["empty-cat", "empty-coffee", "empty-rocket", "empty-wall", "visitor-astronaut", "visitor-hopper"]);
  });

  it("takes JPEGs of the preset's size: 500×281 low, 1900×1200 high", async () => {
    const camera = new SimCamera(OPTIONS, new MemoryBus("cp1"));
    for (const [preset, w, h] of [["low", 500, 281], ["high", 1900, 1200]] as const) {
      const picture = await camera.capture(preset);
      const decoded = jpeg.decode(picture.jpeg);
      assert.deepEqual([decoded.width, decoded.height], [w, h], preset);
      assert.deepEqual([picture.width, picture.height, picture.preset], [w, h, preset]);
    }
    await camera.close();
  });

  it("publishes its scene retained at start and switches scene by name over MQTT: the picture changes", async () => {
    const bus = new MemoryBus("cp1");
    const camera = new SimCamera(OPTIONS, bus);
    assert.equal(bus.subscribers(SET), 1);
    assert.deepEqual(bus.last(STATE), { topic: STATE, payload: "empty-cat", retain: true });
    const cat = await camera.capture("low");
    bus.deliver(SET, "visitor-astronaut");
    assert.deepEqual(bus.last(STATE), { topic: STATE, payload: "visitor-astronaut", retain: true });
    const astronaut = await camera.capture("low");
    assert.ok(!cat.jpeg.equals(astronaut.jpeg), "another scene, another picture");
    await camera.close();
    assert.equal(bus.subscribers(SET), 0);
  });

  it("takes visitor/empty for any scene of that kind, and warns (keeping its scene) on an unknown name", () => {
    const bus = new MemoryBus("cp1");
    const camera = new SimCamera(OPTIONS, bus, () => 0.99);
    bus.deliver(SET, "visitor");
    assert.equal(camera.current, "visitor-hopper", "the random pick: the last of its kind");
    bus.deliver(SET, " EMPTY ");
    assert.equal(camera.current, "empty-wall", "the random pick");
    const published = bus.published.length;
    bus.deliver(SET, "burglar");
    assert.equal(camera.current, "empty-wall");
    assert.equal(bus.published.length, published);
    assert.match(bus.warnings[0]!, /"burglar" is not one of visitor, empty, empty-cat/);
  });

  it("rotates 180°: the picture is upside down", async () => {
    const upright = await new SimCamera(OPTIONS, new MemoryBus("cp1")).capture("low");
    const turned = await new SimCamera({ rotation: 180, timeoutMs: 1000 }, new MemoryBus("cp1")).capture("low");
    const a = jpeg.decode(upright.jpeg);
    const b = jpeg.decode(turned.jpeg);
    const px = (img: typeof a, x: number, y: number) => img.data[(y * img.width + x) * 4]!;
    const diff = Math.abs(px(a, 10, 10) - px(b, 489, 270));
    assert.ok(diff < 24, `top-left of one is the bottom-right of the other (Δ ${diff})`);
  });

  it("simDrivers gives the simulated camera", () => {
    const bus = new MemoryBus("cp1");
    assert.ok(simDrivers(bus, new FakeClock()).camera(OPTIONS) instanceof SimCamera);
  });
});
