// The face-detect node in a flow: one message per face with its crop and box, a "no face" message for empty
// scenes, and a still it cannot read fails to Catch and the dead letters.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { PNG } from "pngjs";
import faceDetect from "../../nodes/face-detect/face-detect";
import { DeadLetterFile } from "../../nodes/lib/dead-letter";
import { loadFaceApi } from "../../nodes/lib/faces/backend";
import { helper, waitForEvent } from "../support/node-harness";
import os from "node:os";
import { testServices } from "../support/services";

const SCENES = path.resolve(__dirname, "..", "..", "..", "nodes", "camera", "scenes");
const scene = (name: string) => fs.readFileSync(path.join(SCENES, name));

type Msg = Record<string, any>;
const get = (id: string) => helper.getNode(id)!;

const flow = [
  { id: "faces", type: "face-detect", z: "tab", wires: [["out"], ["none"]] },
  { id: "out", type: "helper", z: "tab" },
  { id: "none", type: "helper", z: "tab" },
  { id: "catcher", type: "catch", z: "tab", scope: null, uncaught: false, wires: [["caught"]] },
  { id: "caught", type: "helper", z: "tab" },
  { id: "tab", type: "tab" },
];

describe("face-detect node", function () {
  this.timeout(60_000);
  let dataDir: string;
  before(async () => {
    await loadFaceApi(); // the first load takes a few seconds; the tests below then do not
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-faces-"));
    helper.settings({ pifogServices: testServices({ dataDir }) });
  });
  afterEach(() => helper.unload());
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("sends the visitor's face as a grayscale PNG crop with its box, passing device and timestamp on", async () => {
    await helper.load([faceDetect], flow);
    const out = get("out");
    const none = get("none");
    const empties: Msg[] = [];
    none.on("input", (m: Msg) => empties.push(m));
    const got = waitForEvent<Msg>(out, "input", 30_000);
    get("faces").receive({ payload: scene("visitor-astronaut.png"), device: "front", timestamp: "2026-01-01T00:00:00Z" } as never);
    const msg = await got;
    assert.equal(msg.device, "front");
    assert.equal(msg.timestamp, "2026-01-01T00:00:00Z");
    assert.deepEqual(msg.image, { width: 512, height: 512 });
    assert.equal(msg.face.index, 0);
    assert.equal(msg.face.count, 1);
    const { x, y, width, height } = msg.face.box;
    assert.ok(x >= 120 && x + width <= 350 && y >= 0 && y + height <= 260, JSON.stringify(msg.face.box));
    const crop = PNG.sync.read(msg.payload as Buffer);
    assert.deepEqual([crop.width, crop.height], [width, height]);
    assert.deepEqual(empties, []);
  });

  for (const empty of ["empty-cat.png", "empty-coffee.png"]) {
    it(`sends one "no face" message and no face for ${empty}`, async () => {
      await helper.load([faceDetect], flow);
      const faces: Msg[] = [];
      get("out").on("input", (m: Msg) => faces.push(m));
      const got = waitForEvent<Msg>(get("none"), "input", 30_000);
      get("faces").receive({ payload: scene(empty), device: "front" } as never);
      const msg = await got;
      assert.equal(msg.payload.count, 0);
      assert.equal(msg.device, "front");
      assert.deepEqual(faces, []);
    });
  }

  it("fails a still it cannot read to Catch and the dead letters, and keeps going", async () => {
    await helper.load([faceDetect], flow);
    const caught = waitForEvent<Msg>(get("caught"), "input", 30_000);
    const node = get("faces");
    const corrupt = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from("garbage garbage garbage")]);
    node.receive({ payload: corrupt, topic: "camera/front" } as never);
    const msg = await caught;
    assert.match(msg.error.message, /JPEG image could not be decoded/);
    const letters = new DeadLetterFile(dataDir).read();
    assert.ok(letters.some((l) => l.type === "face-detect" && /could not be decoded/.test(l.error)), JSON.stringify(letters));

    const got = waitForEvent<Msg>(get("out"), "input", 30_000);
    node.receive({ payload: scene("visitor-astronaut.png") } as never);
    assert.equal((await got).face.count, 1);
  });
});
