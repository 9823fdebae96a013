// The faces pipeline split as in the field, each part its own runtime with its shipped flow: a CameraPi with its
// own embedded broker, whose forwarder carries faces to a remote Mosquitto (persistent, as a cloud broker is), and a
// face writer on that broker storing each face in S3 (s3rver, enabled through the editor API as a user would) and
// in its local folder. The remote broker goes away during a burst of visitors and comes back: every face the
// camera found arrives, once, byte for byte, with its box and score as S3 metadata.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { cameraTopics, topics } from "../../nodes/lib/contract";
import { readFaceRecord } from "../../nodes/lib/face-record";
import { startMosquitto, type Mosquitto } from "../support/mosquitto";
import { TestClient, type Received } from "../support/mqtt";
import { showScene } from "../support/camera-scene";
import { MQTT_ADMIN, redeploy, startRuntime, type TestRuntime } from "../support/runtime";
import { S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, TestS3 } from "../support/s3";
import { until } from "../support/until";

const CAMERA = "camerapi";
const BURST = 4;

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

describe("faces pipeline across brokers: CameraPi → forwarder → remote Mosquitto → face writer → S3", function () {
  this.timeout(120_000);
  let remote: Mosquitto;
  let s3: TestS3;
  let camera: TestRuntime;
  let writer: TestRuntime;
  let local: TestClient;
  const persistence = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-remote-broker-"));
  // mosquitto started as root runs as the `mosquitto` user: it must be able to write its database here
  fs.chmodSync(persistence, 0o777);

  before(async function () {
    this.timeout(90_000);
    s3 = await TestS3.start(["pifog-faces"]);
    remote = await startMosquitto(["persistence true", `persistence_location ${persistence}/`, "autosave_interval 1"]);
    writer = await startRuntime({ role: "facewriter", env: { PIFOG_MQTT_URL: remote.url } });
    // the user sets up the bucket and enables "to S3" in the editor
    await redeploy(writer.info.http, (flows) => {
      Object.assign(flows.find((n) => n.type === "s3-bucket")!, {
        endpoint: s3.endpoint,
        credentials: { accessKeyId: S3_ACCESS_KEY_ID, secretAccessKey: S3_SECRET_ACCESS_KEY },
      });
      Object.assign(flows.find((n) => n.type === "s3-writer")!, { d: false });
    });

    camera = await startRuntime({ role: "camerapi", env: { PIFOG_FACES_REMOTE_URL: remote.url } });
    local = await TestClient.connect(camera.info.mqtt, MQTT_ADMIN);
    await local.subscribe(cameraTopics.faces(CAMERA), topics.event(CAMERA));
    await showScene(local, CAMERA, "visitor");
  });

  after(async function () {
    this.timeout(30_000);
    await local?.end().catch(() => undefined);
    await camera?.stop();
    await writer?.stop();
    await remote?.stop();
    await s3?.close();
    fs.rmSync(persistence, { recursive: true, force: true });
  });

  const localFaces = (): Received[] => local.received.filter((m) => m.topic === cameraTopics.faces(CAMERA));
  /** Faces the camera's forwarder holds on disk, not yet acknowledged by the remote broker. */
  function forwarderQueued(): number {
    const db = new Database(path.join(camera.dataDir, "outbox.db"), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE queue LIKE 'forwarder/%'").get() as { n: number }).n;
    } finally {
      db.close();
    }
  }
  const storedFiles = () => filesUnder(path.join(writer.dataDir, "faces", CAMERA)).map((f) => fs.readFileSync(f));

  async function visitor(id: string): Promise<void> {
    const before = localFaces().length;
    await local.publish(topics.command(CAMERA), JSON.stringify({ command: "take-picture-low-res", id, by: "test" }));
    await until(() => localFaces().length > before, `a face from picture ${id}`);
  }

  it("a visitor's face reaches the face writer: in S3 with its box and score, and in the local folder", async () => {
    await visitor("first");
    await until(async () => (await s3.keys("pifog-faces")).length >= 1 && storedFiles().length >= 1, "stored in S3 and in the folder");
    const [key] = await s3.keys("pifog-faces");
    assert.match(key!, /^faces\/camerapi\/\d{4}\/\d\d\/\d\d\/.+\.png$/);
    const object = await s3.get(key!, "pifog-faces");
    const sent = localFaces()[0]!.payload;
    assert.ok(object.body.equals(sent), "S3 holds the crop byte for byte");
    assert.equal(object.contentType, "image/png");
    const record = readFaceRecord(sent)!;
    assert.equal(object.metadata["face-box"], [record.box.x, record.box.y, record.box.width, record.box.height].map(Math.round).join(","));
    assert.equal(object.metadata["face-score"], record.score.toFixed(3));
    assert.ok(storedFiles()[0]!.equals(sent), "the local folder holds the same bytes");
  });

  it("the remote broker is down during a burst of visitors and comes back: every face arrives once", async () => {
    await remote.pause();
    for (let i = 0; i < BURST; i++) await visitor(`burst-${i}`);
    await until(() => forwarderQueued() >= BURST, "the burst held in the forwarder's queue");
    assert.ok((await s3.keys("pifog-faces")).length < localFaces().length, "nothing can arrive while the remote broker is down");
    await remote.resume();
    await until(
      async () => (await s3.keys("pifog-faces")).length >= localFaces().length && storedFiles().length >= localFaces().length,
      "every face in S3 and in the folder",
      60_000,
      async () => ({ sent: localFaces().length, s3: (await s3.keys("pifog-faces")).length, folder: storedFiles().length }),
    );
    // one more face after all of them: the pipeline keeps the order, so anything sent twice arrives before it
    await visitor("last");
    await until(
      async () => (await s3.keys("pifog-faces")).length >= localFaces().length && storedFiles().length >= localFaces().length,
      "the last face in S3 and in the folder",
      60_000,
    );
    const sent = localFaces().map((m) => m.payload.toString("base64")).sort();
    const inS3 = await Promise.all((await s3.keys("pifog-faces")).map(async (k) => (await s3.get(k, "pifog-faces")).body.toString("base64")));
    assert.deepEqual(inS3.sort(), sent, "S3 holds exactly the faces the camera found");
    assert.deepEqual(storedFiles().map((b) => b.toString("base64")).sort(), sent, "so does the local folder");
    assert.ok(sent.length >= BURST + 1);
  });
});
