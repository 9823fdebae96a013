// Live video end to end, below the dashboard: the embedded broker with real identities, the hub's link as the hub
// (its certificate), a camera Pi as itself, the hub's relay behind GET /api/cameras/<device>/live, and people with
// tokens. The first viewer makes the hub ask the camera; three viewers share one upstream; 10 s (fake clock) after
// the last leaves the hub says stop. Who may not watch is refused and audited, over HTTP and over MQTT.
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import type { MqttClient } from "mqtt";
import { Audit, type AuditRecord } from "../../nodes/lib/audit/audit";
import { EmbeddedBroker } from "../../nodes/lib/broker/embedded-broker";
import { enrolledCamera, livePath, liveRoutes } from "../../nodes/lib/camera/live-http";
import { LiveRelay } from "../../nodes/lib/camera/live-relay";
import type { LiveControl } from "../../nodes/lib/camera/types";
import { skycamTopics } from "../../nodes/lib/contract";
import { IdentityStore } from "../../nodes/lib/identity/store";
import { DeviceLink } from "../../nodes/lib/mqtt/device-link";
import { ApiTokens } from "../../nodes/lib/security/api-tokens";
import { systemClock } from "../../nodes/lib/clock";
import { FakeClock } from "../support/fake-clock";
import { MjpegReader } from "../support/mjpeg";
import { attempt, enrol, subscribeGranted, tlsAs, type Enrolled } from "../support/security";
import { until } from "../support/until";

/** A numbered stand-in for a JPEG (the relay checks the SOI marker only). */
const frameOf = (n: number) => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from(`frame ${n}`), Buffer.from([0xff, 0xd9])]);

describe("live video: hub relay, camera and viewers over the real broker and HTTP", function () {
  this.timeout(60_000);
  let fx: Enrolled;
  let identities: IdentityStore;
  let audit: Audit;
  let broker: EmbeddedBroker;
  let tls: string;
  let tcp: string;
  let hubLink: DeviceLink;
  let clock: FakeClock;
  let relay: LiveRelay;
  let upstreams = 0;
  let server: http.Server;
  let base: string;
  let viewerToken: string;
  let camera: MqttClient;
  const controls: LiveControl[] = [];

  before(async () => {
    fx = await enrol({ hub: "hub", cam1: "camerapi", cam2: "camerapi", door: "doorpi" });
    identities = await IdentityStore.open(fx.dataDir, { watch: false });
    audit = new Audit(fx.dataDir);
    broker = await EmbeddedBroker.start({ port: 0, host: "127.0.0.1", identities, tlsPort: 0, anonymous: ["127.0.0.1/32"], audit });
    tls = `mqtts://127.0.0.1:${broker.tlsPort}`;
    tcp = `mqtt://127.0.0.1:${broker.port}`;
    clock = new FakeClock(Date.now());
    hubLink = new DeviceLink({
      url: tls,
      device: "hub",
      role: "hub",
      tls: { ...fx.devices.hub!, ca: fx.ca },
      hardware: "sim",
      version: "test",
      addresses: () => [],
      bootTime: new Date(),
      clock,
    });
    const online = new Promise<void>((resolve) => hubLink.once("connection", () => resolve()));
    hubLink.start();
    await online;
    relay = new LiveRelay(
      {
        frames: (device, onFrame) => {
          upstreams++;
          return hubLink.subscribe(skycamTopics.liveFrame(device), (_t, p) => onFrame(p), 0);
        },
        control: (device, control) => hubLink.publish(skycamTopics.liveControl(device), control, { qos: 1, retain: true }),
      },
      { clock, maxViewersPerCamera: 3, graceMs: 10_000 },
    );
    const tokens = ApiTokens.forDataDir(fx.dataDir, systemClock);
    viewerToken = tokens.issue({ name: "vera", role: "viewer" }).token;
    const app = express();
    liveRoutes(app, { auth: { tokens: () => tokens, audit, sessions: () => null }, relay: () => relay, isCamera: (id) => enrolledCamera(identities, id) });
    server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // the camera Pi, as itself: it follows its control
    const cam = await attempt(tls, tlsAs("cam1", fx.devices.cam1!, fx.ca));
    assert.ok(cam.ok, "the camera connects as itself");
    camera = cam.client;
    camera.on("message", (topic, payload) => {
      if (topic === skycamTopics.liveControl("cam1") && payload.length) controls.push(JSON.parse(payload.toString()) as LiveControl);
    });
    assert.deepEqual(await subscribeGranted(camera, { [skycamTopics.liveControl("cam1")]: { qos: 1 } }), [1]);
  });

  after(async () => {
    camera?.end(true);
    await relay?.close();
    await hubLink?.dispose();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await broker?.close();
    identities?.close();
    fs.rmSync(fx.dataDir, { recursive: true, force: true });
  });

  const bearer = () => ({ authorization: `Bearer ${viewerToken}` });
  const audited = async (test: (r: AuditRecord) => boolean, what: string) => {
    await until(() => audit.read().some(test), `an audit record: ${what}`, 5000, () => audit.read().slice(-3));
  };

  it("starts on the first viewer, three viewers share one upstream, and it stops 10 s after the last leaves", async () => {
    assert.equal(controls.length, 0, "nobody watches: the camera is not asked");
    const first = await MjpegReader.open(`${base}${livePath("cam1")}`, bearer());
    assert.equal(first.response.status, 200);
    assert.match(first.response.headers.get("content-type") ?? "", /^multipart\/x-mixed-replace; boundary=/);
    await until(() => controls.some((c) => c.stream), "the camera told to stream (retained, from the hub)");
    assert.equal(controls.at(-1)!.leaseMs, 60_000);
    const others = [await MjpegReader.open(`${base}${livePath("cam1")}`, bearer()), await MjpegReader.open(`${base}${livePath("cam1")}`, bearer())];
    const viewers = [first, ...others];
    assert.deepEqual(viewers.map((v) => v.response.status), [200, 200, 200]);
    assert.equal(upstreams, 1, "one upstream subscription for three viewers");
    // the camera sends as itself; every viewer sees every frame
    for (let n = 1; n <= 3; n++) await camera.publishAsync(skycamTopics.liveFrame("cam1"), frameOf(n), { qos: 0 });
    await Promise.all(viewers.map((v) => v.until(3)));
    for (const v of viewers) assert.deepEqual(v.frames.slice(-3).map((f) => f.subarray(4, -2).toString()), ["frame 1", "frame 2", "frame 3"]);

    for (const v of viewers) await v.close();
    await until(() => relay.viewers("cam1") === 0, "the relay to see the three leave");
    clock.tick(9_999);
    assert.ok(relay.streaming("cam1"));
    assert.equal(controls.filter((c) => !c.stream).length, 0, "not stopped within the 10 s");
    clock.tick(1);
    await until(() => controls.at(-1)?.stream === false, "the camera told to stop");
    assert.equal(relay.streaming("cam1"), false);
  });

  it("refuses a fourth viewer of one camera with 503 and Retry-After, audited", async () => {
    const three = [];
    for (let i = 0; i < 3; i++) three.push(await MjpegReader.open(`${base}${livePath("cam2")}`, bearer()));
    const res = await fetch(`${base}${livePath("cam2")}`, { headers: bearer() });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "10");
    assert.match(((await res.json()) as { error: string }).error, /camera "cam2" has 3 viewers, the most it serves at once; try again later/);
    await audited((r) => r.event === "camera.live.refused" && r.status === 503 && /vera/.test(String(r.who)), "the refused fourth viewer");
    for (const v of three) await v.close();
  });

  it("anonymous: 401 with WWW-Authenticate, audited; ill-formed id 400, unknown camera 404, both audited", async () => {
    const anon = await fetch(`${base}${livePath("cam1")}`);
    assert.equal(anon.status, 401);
    assert.match(anon.headers.get("www-authenticate") ?? "", /^Bearer realm="pifog"/);
    await audited((r) => r.event === "api.refused" && r.status === 401 && String(r.path).startsWith("/api/cameras/cam1/live"), "the anonymous request");
    const bad = await fetch(`${base}/api/cameras/${encodeURIComponent("cam1 #")}/live`, { headers: bearer() });
    assert.equal(bad.status, 400);
    for (const id of ["door", "nobody"]) {
      const res = await fetch(`${base}${livePath(id)}`, { headers: bearer() });
      assert.equal(res.status, 404, id);
      assert.match(((await res.json()) as { error: string }).error, new RegExp(`no camera "${id}"`));
    }
    await audited((r) => r.event === "camera.live.refused" && r.status === 400, "the ill-formed id");
    await audited((r) => r.event === "camera.live.refused" && r.status === 404 && /nobody/.test(String(r.reason)), "the unknown camera");
    assert.equal(relay.streaming("door") || relay.streaming("nobody"), false, "nothing was asked of them");
  });

  it("over MQTT: an anonymous client cannot read live frames, nor can another camera; only the camera itself publishes them", async () => {
    const anon = await attempt(tcp, { clientId: "anon-live" });
    assert.ok(anon.ok, "anonymous connects from an allowed address");
    assert.deepEqual(await subscribeGranted(anon.client, { [skycamTopics.liveFrame("cam1")]: { qos: 0 }, [skycamTopics.anyLiveFrame()]: { qos: 0 } }), [128, 128]);
    const got: string[] = [];
    anon.client.on("message", (t) => got.push(t));
    const other = await attempt(tls, tlsAs("cam2", fx.devices.cam2!, fx.ca));
    assert.ok(other.ok);
    assert.deepEqual(await subscribeGranted(other.client, { [skycamTopics.liveFrame("cam1")]: { qos: 0 } }), [128]);
    // a viewer's stream is on: a frame goes out, the anonymous client sees nothing of it
    const viewer = await MjpegReader.open(`${base}${livePath("cam1")}`, bearer());
    const before = viewer.frames.length;
    await camera.publishAsync(skycamTopics.liveFrame("cam1"), frameOf(42), { qos: 0 });
    await viewer.until(before + 1);
    // cam2 may not publish cam1's frames: refused and audited (its connection is closed)
    other.client.publish(skycamTopics.liveFrame("cam1"), frameOf(666), { qos: 0 });
    await audited((r) => r.event === "mqtt.publish.refused" && r.topic === skycamTopics.liveFrame("cam1"), "cam2 publishing cam1's frames");
    await camera.publishAsync(skycamTopics.liveFrame("cam1"), frameOf(43), { qos: 0 });
    await viewer.until(before + 2);
    assert.ok(!viewer.frames.some((f) => f.includes("frame 666")), "the spoofed frame never reached a viewer");
    assert.deepEqual(got, []);
    await viewer.close();
    anon.client.end(true);
    other.client.end(true);
  });
});
