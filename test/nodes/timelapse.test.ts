// The timelapse node on the camera Pi, fed a frame every 10 s of the fake clock: a still every N minutes on the local
// grid, only inside the recording window, off at 0, the interval changed live, and bad input.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { sha256 } from "../../nodes/lib/camera/media-file";
import { Spool, spoolDir } from "../../nodes/lib/camera/spool";
import { DEFAULT_CAMERA_SETTINGS, type CameraSettings, type SettingsMessage, type SpoolItem } from "../../nodes/lib/camera/types";
import { DeadLetterFile } from "../../nodes/lib/dead-letter";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import timelapse from "../../nodes/timelapse/timelapse";
import { frameJpeg, frameMessage } from "../support/camera-frames";
import { FakeClock } from "../support/fake-clock";
import { translated } from "../support/messages";
import { deviceNode, helper, loadUntilOnline, startHarness, type Harness } from "../support/node-harness";
import { until } from "../support/until";

const nodes = translated([pifogDevice, timelapse]);
const MINUTE = 60_000;
/** 28 March 2026, 09:58 in the Pi's local time. */
const START = new Date(2026, 2, 28, 9, 58).getTime();
const local = (hh: number, mm: number) => new Date(2026, 2, 28, hh, mm).getTime();

describe("timelapse node", () => {
  let h: Harness;
  let clock: FakeClock;
  let stills: SpoolItem[];
  let caught: Array<{ error: { message: string } }>;
  let seq: number;

  beforeEach(async () => {
    h = await startHarness();
    clock = new FakeClock(START);
    h.useServices({ clock });
    stills = [];
    caught = [];
    seq = 0;
    await loadUntilOnline(
      h,
      nodes,
      [
        deviceNode("cam1", h.url, { role: "camerapi" }),
        { id: "tl", type: "timelapse", z: "tab", device: "cfg-cam1", wires: [["out"]] },
        { id: "out", type: "helper", z: "tab" },
        { id: "catcher", type: "catch", z: "tab", scope: null, uncaught: false, wires: [["caught"]] },
        { id: "caught", type: "helper", z: "tab" },
        { id: "tab", type: "tab" },
      ],
      "cam1",
    );
    (helper.getNode("out") as unknown as NodeJS.EventEmitter).on("input", (m: { payload: SpoolItem }) => stills.push(m.payload));
    (helper.getNode("caught") as unknown as NodeJS.EventEmitter).on("input", (m: { error: { message: string } }) => caught.push(m));
  });
  afterEach(async () => {
    await h.close();
  });

  const tl = () => helper.getNode("tl")!;
  const settings = (s: Partial<CameraSettings>) => {
    const msg: SettingsMessage = { topic: "camera/settings", settings: { ...DEFAULT_CAMERA_SETTINGS, ...s } };
    tl().receive(msg as never);
  };
  /** The stills sent, once as many as the spool holds have come (a node's output is delivered asynchronously). */
  const sent = async () => {
    const held = new Spool(spoolDir(h.dataDir, "cam1")).list().length;
    await until(() => stills.length >= held, `${held} stills sent`, 5000);
    return stills.map((s) => s.start);
  };
  /** A frame every 10 s until `until` (clock ms). */
  const feedUntil = (end: number) => {
    while (clock.now() < end) {
      tl().receive(frameMessage(clock.now(), seq++) as never);
      clock.tick(10_000);
    }
  };

  it("is off by default (interval 0)", async () => {
    feedUntil(START + 30 * MINUTE);
    assert.deepEqual(await sent(), []);
    assert.deepEqual(new Spool(spoolDir(h.dataDir, "cam1")).list(), []);
  });

  it("keeps a still every N minutes, only inside the recording window, as a spool item that is its own thumbnail", async () => {
    settings({ timelapseMinutes: 5, recordingWindow: { from: "10:00", to: "10:20" } });
    feedUntil(local(10, 40));
    assert.deepEqual(
      await sent(),
      [local(10, 0), local(10, 5), local(10, 10), local(10, 15)],
    );
    const dir = spoolDir(h.dataDir, "cam1");
    for (const s of stills) {
      assert.equal(s.id, `still-${s.start}`);
      assert.deepEqual([s.kind, s.format, s.media, s.thumbnail, s.frames, s.device], ["still", "jpeg", `${s.id}.jpg`, `${s.id}.jpg`, 1, "cam1"]);
      const bytes = fs.readFileSync(path.join(dir, s.media));
      assert.equal(s.sha256, sha256(bytes));
      assert.ok(bytes.equals(frameJpeg((s.start - START) / 10_000)), "the frame taken at that time");
    }
    assert.deepEqual(new Spool(dir).list().map((s) => s.id), stills.map((s) => s.id));
  });

  it("takes a new interval at once, on its own grid", async () => {
    settings({ timelapseMinutes: 10 });
    feedUntil(local(10, 21));
    settings({ timelapseMinutes: 2 });
    feedUntil(local(10, 27));
    settings({ timelapseMinutes: 0 });
    feedUntil(local(11, 0));
    assert.deepEqual(
      await sent(),
      [local(10, 0), local(10, 10), local(10, 20), local(10, 22), local(10, 24), local(10, 26)],
    );
  });

  it("fails bad input with a dead letter and goes on", async () => {
    settings({ timelapseMinutes: 1 });
    tl().receive({ payload: Buffer.from("not a jpeg"), frame: { at: clock.now(), seq: 1, width: 64, height: 48, device: "cam1" } } as never);
    tl().receive({ payload: frameJpeg(1) } as never);
    tl().receive({ topic: "camera/settings", settings: { ...DEFAULT_CAMERA_SETTINGS, timelapseMinutes: "often" } } as never);
    await until(() => caught.length >= 3, "3 errors", 5000);
    assert.match(caught[0]!.error.message, /not a JPEG/);
    assert.match(caught[1]!.error.message, /no msg\.frame/);
    assert.match(caught[2]!.error.message, /timelapseMinutes must be a number/);
    assert.equal(new DeadLetterFile(h.dataDir).read().length, 3);
    feedUntil(local(10, 1) + 1);
    assert.deepEqual(await sent(), [local(9, 59), local(10, 0), local(10, 1)]);
  });
});
