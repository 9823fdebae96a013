// The front door end to end on the real all-in-one runtime: a simulated visitor at the door → the camera's
// still → face detect → the crop (its box and score inside) on pifog/camerapi/faces → the forwarder →
// pifog/forwarded/camerapi/faces → stored by flows/facewriter.json in the data dir's local folder store; the
// still with its boxes on pifog/camerapi/camera/frame for the dashboard. An empty doorstep → no face.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { cameraTopics, compatTopics, topics } from "../../nodes/lib/contract";
import { readFaceRecord } from "../../nodes/lib/face-record";
import type { FrameFaces } from "../../nodes/face-detect/face-detect";
import { showScene as showCameraScene } from "../support/camera-scene";
import { TestClient, type Received } from "../support/mqtt";
import { MQTT_ADMIN, adminToken, startRuntime, type TestRuntime } from "../support/runtime";
import { until } from "../support/until";

const DEVICE = "camerapi";
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

describe("front door (all-in-one): visitor → faces → forwarder → local folder store", function () {
  this.timeout(60_000);
  let fog: TestRuntime;
  let client: TestClient;
  const facesTopic = cameraTopics.faces(DEVICE);
  const forwardedTopic = cameraTopics.forwardedFaces(DEVICE);
  const frameTopic = cameraTopics.frame(DEVICE);
  const sceneTopic = topics.simState(DEVICE, "scene");
  const facesDir = () => path.join(fog.dataDir, "faces", DEVICE);

  before(async () => {
    fog = await startRuntime({ role: "all" });
    client = await TestClient.connect(fog.info.mqtt, MQTT_ADMIN);
    await client.subscribe(facesTopic, forwardedTopic, frameTopic, sceneTopic, compatTopics.event("CameraPi"));
  });

  after(async () => {
    await client?.end();
    await fog?.stop();
  });

  const showScene = (kind: "visitor" | "empty") => showCameraScene(client, DEVICE, kind);

  async function takePicture(id: string): Promise<void> {
    const answered = client.waitFor(compatTopics.event("CameraPi"), (m) => m.payload.toString().includes(`"response-to": "${id}"`) || m.payload.toString().includes(`"response-to":"${id}"`), 20_000, false);
    await client.publish(compatTopics.command("CameraPi"), JSON.stringify({ command: "take-picture-low-res", id }));
    await answered;
  }

  it("a visitor's face arrives as a PNG crop with its box and score, is forwarded, and is stored under <dataDir>/faces/camerapi/", async () => {
    await showScene("visitor");
    const face = client.waitFor(facesTopic, () => true, 30_000, false);
    const forwarded = client.waitFor(forwardedTopic, () => true, 30_000, false);
    const frame = client.waitFor(frameTopic, (f) => (JSON.parse(f.payload.toString()) as FrameFaces).faces.length > 0, 30_000, false);
    await takePicture("t1");
    const m: Received = await face;
    assert.ok(m.payload.length > PNG_SIGNATURE.length, "a crop, not an empty payload");
    assert.deepEqual(m.payload.subarray(0, 8), PNG_SIGNATURE, "the crop is a PNG");
    assert.equal(m.retain, false);
    const record = readFaceRecord(m.payload);
    assert.ok(record, "the crop carries its record");
    assert.equal(record.device, DEVICE);
    assert.ok(record.score >= 0.5 && record.score <= 1, `score ${record.score}`);
    assert.ok(record.box.width > 20 && record.box.height > 20, `box ${JSON.stringify(record.box)}`);
    assert.ok((await forwarded).payload.equals(m.payload), "the forwarder carries the same bytes to pifog/forwarded/camerapi/faces");

    const still = JSON.parse((await frame).payload.toString()) as FrameFaces;
    assert.equal(still.encoding, "image/jpeg");
    assert.deepEqual([still.width, still.height], [500, 281]);
    assert.deepEqual(still.faces[0]!.box, record.box, "the frame for the dashboard has the same box");

    let stored: string[] = [];
    await until(() => (stored = filesUnder(facesDir()).filter((f) => fs.readFileSync(f).equals(m.payload))).length > 0, "the crop stored", 10_000)
      .catch(() => undefined); // the assertion below says what is there
    assert.equal(stored.length, 1, `the crop stored once under ${facesDir()}: ${filesUnder(facesDir()).join(", ")}`);
    assert.match(path.relative(facesDir(), stored[0]!), /^\d{4}[/\\]\d\d[/\\]\d\d[/\\]\d{6}-\d{3}-\d+\.png$/);
  });

  it("an empty doorstep: the picture is taken and answered, but no face is published", async () => {
    await showScene("empty");
    const before = client.received.filter((m) => m.topic === facesTopic).length;
    // every picture ends as a frame for the dashboard, after the detector has looked at it
    const frame = client.waitFor(frameTopic, () => true, 30_000, false);
    await takePicture("e1");
    assert.deepEqual((JSON.parse((await frame).payload.toString()) as FrameFaces).faces, [], "the detector found no face");
    const after = client.received.filter((m) => m.topic === facesTopic).length;
    assert.equal(after, before, "no face message for an empty scene");
  });

  it("the CameraPi tab's \"visitor rings\" button sets the scene to a visitor and a face follows", async () => {
    const access_token = await adminToken(fog.info.http);
    const face = client.waitFor(facesTopic, () => true, 30_000, false);
    const scene = client.waitFor(sceneTopic, (m) => m.payload.toString().startsWith("visitor-"), 10_000, false);
    const pressed = await fetch(`${fog.info.http}/admin/inject/camerapi-visitor`, { method: "POST", headers: { authorization: `Bearer ${access_token}` } });
    assert.equal(pressed.status, 200, await pressed.text());
    await scene;
    const m = await face;
    assert.deepEqual(m.payload.subarray(0, 8), PNG_SIGNATURE);
  });
});
