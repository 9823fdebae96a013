// A camera Pi's upload to a real hub process: the hub dies in the middle of a transfer and starts again on its data
// dir; the Pi's retry stores the clip exactly once. Then signed-in people (and nobody else) see it: the list, the
// thumbnail, the media by ranges, and the frames played as multipart/x-mixed-replace.
import assert from "node:assert/strict";
import fs from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { Spool } from "../../nodes/lib/camera/spool";
import { encodeItemHeader } from "../../nodes/lib/camera/spool-item";
import type { ClipRecord } from "../../nodes/lib/camera/types";
import { ITEM_HEADER } from "../../nodes/lib/camera/upload-routes";
import { SpoolUploader, type UploadTarget } from "../../nodes/lib/camera/uploader";
import { addDevice, ensureCa } from "../../nodes/lib/identity/admin";
import { jpegFrame, spoolItem } from "../support/clip-items";
import { FakeClock } from "../support/fake-clock";
import { ensureTestIdentities, startRuntime, type TestRuntime } from "../support/runtime";
import { until } from "../support/until";

describe("clip upload to a hub that restarts mid-transfer", function () {
  this.timeout(120_000);
  let dataDir: string;
  let piDir: string;
  let hub: TestRuntime | null = null;
  let bundle: { cert: string; key: string; ca: string };

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-clip-hub-"));
    piDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-clip-pi-"));
    await ensureTestIdentities(dataDir);
    const ca = await ensureCa(dataDir, { now: new Date() });
    const b = await addDevice(dataDir, "yardcam", "camerapi", { hubUrl: "mqtts://127.0.0.1:8883", now: new Date() });
    bundle = { cert: b.cert, key: b.key, ca: ca.cert };
  });
  after(async () => {
    await hub?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(piDir, { recursive: true, force: true });
  });

  const startHub = async () => {
    hub = await startRuntime({ role: "hub", dataDir });
    assert.ok(hub.info.deviceHttps, "the hub runs its device listener");
    // the clip store node registers once the flows run: the listener answers 503 until then
    await until(async () => (await fetch(`${hub!.info.http}/api/clips`, { headers: { cookie: hub!.cookies.viewer } })).status === 200, "the clip store");
    return hub;
  };
  const target = (): UploadTarget => ({ url: hub!.info.deviceHttps!, ...bundle });

  it("stores the clip once after the hub died in the middle of its media, and people see it", async () => {
    await startHub();
    const spool = new Spool(path.join(piDir, "yardcam"));
    const frames = Array.from({ length: 12 }, (_, i) => jpegFrame(20 * i, 64, 48));
    // recorded a minute ago (the hub's clock is the real one: an older clip would go by its 30-day retention)
    const item = spoolItem(spool, "yardcam", Date.now() - 60_000, { frames: 12, durationMs: 1200, media: Buffer.concat(frames) });

    // the Pi's first attempt, cut by the hub's death: the thumbnail arrived, half the media, then SIGKILL
    const put = (url: string, body: Buffer, length: number) =>
      https.request(`${target().url}${url}`, {
        method: "PUT",
        ca: bundle.ca,
        cert: bundle.cert,
        key: bundle.key,
        agent: false,
        headers: { "content-length": String(length), [ITEM_HEADER]: encodeItemHeader(item) },
      });
    const thumb = fs.readFileSync(spool.file(item.thumbnail));
    const thumbAnswer = await new Promise<number>((resolve, reject) => {
      const req = put(`/device/v1/items/${item.id}/thumbnail`, thumb, thumb.length);
      req.on("response", (res) => (res.resume(), resolve(res.statusCode ?? 0)));
      req.on("error", reject);
      req.end(thumb);
    });
    assert.equal(thumbAnswer, 202);
    const media = fs.readFileSync(spool.file(item.media));
    const cut = put(`/device/v1/items/${item.id}`, media, media.length);
    const cutResult = new Promise<string>((resolve) => {
      cut.on("response", (res) => resolve(`answered ${res.statusCode}`));
      cut.on("error", (err) => resolve(err.message));
    });
    cut.write(media.subarray(0, Math.floor(media.length / 2)));
    const partial = path.join(dataDir, "clips-incoming", "yardcam", `${item.id}.media.tmp`);
    await until(() => fs.existsSync(partial) && fs.statSync(partial).size > 0, "half the media on the hub", 20_000, async () => [await Promise.race([cutResult, new Promise((r) => setTimeout(() => r("no answer"), 100))]), fs.readdirSync(path.dirname(partial))]);
    await hub!.kill();
    assert.doesNotMatch(await cutResult, /answered/, "the hub never answered the cut transfer");
    assert.equal(spool.list().length, 1, "the Pi keeps the item");

    // the hub starts again on its data dir (on another port: the Pi's target follows it); the Pi's uploader retries
    await startHub();
    const clock = new FakeClock();
    const uploaded: Array<[string, boolean]> = [];
    const uploader = new SpoolUploader({ spool, clock, target, events: { uploaded: (i, d) => uploaded.push([i.id, d]) } });
    uploader.start();
    await until(() => uploaded.length === 1, "the retried upload");
    assert.deepEqual(uploaded, [[item.id, false]]);
    assert.deepEqual(spool.list(), []);

    // the Pi never heard the answer and sends it again: the hub has it already
    spoolItem(spool, "yardcam", item.start, { frames: 12, durationMs: 1200, media: Buffer.concat(frames) });
    uploader.kick();
    await until(() => uploaded.length === 2, "the repeated upload");
    assert.deepEqual(uploaded[1], [item.id, true]);
    await uploader.stop();

    // exactly once, for the people who may see it
    const http = hub!.info.http;
    const anonymous = await fetch(`${http}/api/clips`);
    assert.equal(anonymous.status, 401);
    const viewer = { cookie: hub!.cookies.viewer };
    const list = (await (await fetch(`${http}/api/clips?camera=yardcam`, { headers: viewer })).json()) as { clips: Array<ClipRecord & { links: Record<string, string> }>; cameras: string[] };
    assert.deepEqual(list.cameras, ["yardcam"]);
    assert.deepEqual(list.clips.map((c) => [c.id, c.status, c.sha256]), [[item.id, "stored", item.sha256]]);
    const links = list.clips[0]!.links;
    assert.equal((await fetch(`${http}${links.thumbnail}`)).status, 401, "the thumbnail too: signed-in only");
    const thumbnail = await fetch(`${http}${links.thumbnail}`, { headers: viewer });
    assert.equal(thumbnail.headers.get("content-type"), "image/jpeg");
    assert.deepEqual(Buffer.from(await thumbnail.arrayBuffer()), thumb);
    const ranged = await fetch(`${http}${links.media}`, { headers: { ...viewer, range: "bytes=0-99" } });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers.get("content-range"), `bytes 0-99/${item.bytes}`);
    assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), media.subarray(0, 100));
    const whole = await fetch(`${http}${links.media}`, { headers: viewer });
    assert.deepEqual(Buffer.from(await whole.arrayBuffer()), media);

    const play = await fetch(`${http}${links.play}`, { headers: viewer });
    assert.match(String(play.headers.get("content-type")), /^multipart\/x-mixed-replace; boundary=/);
    const body = Buffer.from(await play.arrayBuffer());
    const played: Buffer[] = [];
    for (let at = body.indexOf("\r\n\r\n"); at >= 0; at = body.indexOf("\r\n\r\n", at + 1)) {
      const header = body.subarray(body.lastIndexOf("--pifogframe", at), at).toString();
      const length = /Content-Length: (\d+)/.exec(header);
      if (length) played.push(body.subarray(at + 4, at + 4 + Number(length[1])));
    }
    assert.deepEqual(played, frames, "every frame, in order");
  });
});
