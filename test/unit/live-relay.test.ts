// The hub's live relay and the Pi's live pusher, with a fake clock and a fake link: the stream starts on the first
// viewer, viewers share one upstream, it stops 10 s after the last one leaves, a slow viewer never piles frames up,
// and the Pi sends at most its fps, drops rather than queues, and stops when told or when the lease runs out.
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { ServerResponse } from "node:http";
import { LIVE_BOUNDARY, MjpegResponse, enrolledCamera, enrolledCameras } from "../../nodes/lib/camera/live-http";
import { LivePusher, parseLiveControl } from "../../nodes/lib/camera/live-push";
import { LiveRelay, type LiveUpstream, type LiveViewer } from "../../nodes/lib/camera/live-relay";
import type { LiveControl } from "../../nodes/lib/camera/types";
import type { DeviceRecord } from "../../nodes/lib/identity/types";
import { FakeClock } from "../support/fake-clock";

/** What the relay and the pusher take for a JPEG frame (its SOI marker), numbered: they never decode one. */
function frameOf(n: number): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from(`frame ${n}`), Buffer.from([0xff, 0xd9])]);
}

class FakeUpstream implements LiveUpstream {
  readonly listeners = new Map<string, Set<(p: Buffer) => void>>();
  readonly controls: Array<{ device: string } & LiveControl> = [];
  subscribes = 0;
  frames(device: string, onFrame: (p: Buffer) => void): () => void {
    this.subscribes++;
    const set = this.listeners.get(device) ?? new Set();
    this.listeners.set(device, set);
    set.add(onFrame);
    return () => set.delete(onFrame);
  }
  control(device: string, control: LiveControl): Promise<void> {
    this.controls.push({ device, ...control });
    return Promise.resolve();
  }
  following(device: string): number {
    return this.listeners.get(device)?.size ?? 0;
  }
  publish(device: string, frame: Buffer): void {
    for (const l of this.listeners.get(device) ?? []) l(frame);
  }
}

class CountingViewer implements LiveViewer {
  readonly got: Buffer[] = [];
  ended = false;
  frame(jpeg: Buffer): void {
    this.got.push(jpeg);
  }
  end(): void {
    this.ended = true;
  }
}

describe("live relay (hub)", () => {
  let clock: FakeClock;
  let up: FakeUpstream;
  let relay: LiveRelay;
  beforeEach(() => {
    clock = new FakeClock(Date.UTC(2026, 5, 1, 12));
    up = new FakeUpstream();
    relay = new LiveRelay(up, { clock, graceMs: 10_000, maxViewersPerCamera: 3, leaseMs: 60_000 });
  });

  it("asks the camera for its stream on the first viewer, shares one upstream among three, stops 10 s after the last leaves", () => {
    assert.equal(up.controls.length, 0, "nothing is asked before anyone watches");
    const a = new CountingViewer(), b = new CountingViewer(), c = new CountingViewer();
    const wa = relay.watch("cam1", a);
    assert.ok(wa.ok);
    assert.deepEqual(up.controls, [{ device: "cam1", stream: true, at: clock.now(), leaseMs: 60_000 }]);
    const wb = relay.watch("cam1", b), wc = relay.watch("cam1", c);
    assert.ok(wb.ok && wc.ok);
    assert.equal(up.subscribes, 1, "one upstream subscription for three viewers");
    assert.equal(up.controls.length, 1, "asked once");
    up.publish("cam1", frameOf(10));
    up.publish("cam1", frameOf(200));
    for (const v of [a, b, c]) assert.equal(v.got.length, 2, "every viewer gets every frame");

    wa.leave();
    wb.leave();
    wc.leave();
    assert.equal(relay.viewers("cam1"), 0);
    clock.tick(9_999);
    assert.equal(up.following("cam1"), 1, "still following within the grace");
    assert.equal(up.controls.filter((x) => !x.stream).length, 0);
    clock.tick(1);
    assert.equal(up.following("cam1"), 0, "the upstream subscription is dropped");
    assert.deepEqual(up.controls.at(-1), { device: "cam1", stream: false, at: clock.now() });
    assert.equal(relay.streaming("cam1"), false);
  });

  it("renews the lease every 20 s while someone watches; a viewer back within the grace keeps the stream", () => {
    const w = relay.watch("cam1", new CountingViewer());
    assert.ok(w.ok);
    clock.tick(45_000);
    assert.deepEqual(up.controls.map((x) => x.stream), [true, true, true], "asked, and renewed at 20 s and 40 s");
    w.leave();
    clock.tick(5_000);
    const back = new CountingViewer();
    up.publish("cam1", frameOf(99));
    const w2 = relay.watch("cam1", back);
    assert.ok(w2.ok);
    assert.equal(back.got.length, 1, "a viewer who joins a running stream gets its newest frame at once");
    clock.tick(30_000);
    assert.equal(up.subscribes, 1, "the same upstream");
    assert.ok(up.controls.every((x) => x.stream), "never stopped");
  });

  it("answers a {stream: true} left from before it started with {stream: false}, unless it streams that camera now", () => {
    assert.equal(relay.stale("cam1", { stream: true, at: clock.now() - 30_000, leaseMs: 60_000 }), true);
    assert.deepEqual(up.controls, [{ device: "cam1", stream: false, at: clock.now() }], "the camera stops at once, not when the old lease ends");
    assert.equal(relay.stale("cam2", { stream: false, at: 0 }), false, "a stop needs no answer");
    assert.ok(relay.watch("cam3", new CountingViewer()).ok);
    assert.equal(relay.stale("cam3", { stream: true, at: clock.now(), leaseMs: 60_000 }), false, "someone watches cam3 now");
    assert.deepEqual(up.controls.map((c) => `${c.device} ${c.stream}`), ["cam1 false", "cam3 true"]);
  });

  it("serves at most maxViewersPerCamera, saying why; another camera is not affected", () => {
    for (let i = 0; i < 3; i++) assert.ok(relay.watch("cam1", new CountingViewer()).ok);
    const refused = relay.watch("cam1", new CountingViewer());
    assert.equal(refused.ok, false);
    assert.match((refused as { reason: string }).reason, /camera "cam1" has 3 viewers, the most it serves/);
    assert.ok(relay.watch("cam2", new CountingViewer()).ok);
  });

  it("drops a frame that is not a JPEG (and says so once); closing ends every viewer and stops every stream", async () => {
    const problems: string[] = [];
    relay = new LiveRelay(up, { clock, onProblem: (d, p) => problems.push(`${d}: ${p}`) });
    const v = new CountingViewer();
    assert.ok(relay.watch("cam1", v).ok);
    up.publish("cam1", Buffer.from("<script>alert(1)</script>"));
    up.publish("cam1", Buffer.from("not a jpeg either"));
    assert.equal(v.got.length, 0);
    assert.deepEqual(relay.counts("cam1"), { frames: 0, dropped: 2 });
    assert.equal(problems.length, 1);
    await relay.close();
    assert.equal(v.ended, true);
    assert.deepEqual(up.controls.at(-1), { device: "cam1", stream: false, at: clock.now() });
    assert.equal(relay.watch("cam1", new CountingViewer()).ok, false, "no new viewer once closing");
  });
});

/** A response whose socket takes writes until `full`, then waits for a drain. */
class FakeResponse extends EventEmitter {
  readonly chunks: Buffer[] = [];
  headersSent = false;
  status = 0;
  headers: Record<string, string> = {};
  full = false;
  ended = false;
  writeHead(status: number, headers: Record<string, string>): this {
    this.status = status;
    this.headers = headers;
    this.headersSent = true;
    return this;
  }
  flushHeaders(): void {}
  write(chunk: string | Buffer): boolean {
    this.chunks.push(Buffer.from(chunk));
    return !this.full;
  }
  end(): void {
    this.ended = true;
  }
  get bytes(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }
}

describe("multipart answer to one viewer", () => {
  it("writes each frame as a part of multipart/x-mixed-replace", () => {
    const res = new FakeResponse();
    const viewer = new MjpegResponse(res as unknown as ServerResponse);
    viewer.open();
    assert.equal(res.status, 200);
    assert.equal(res.headers["Content-Type"], `multipart/x-mixed-replace; boundary=${LIVE_BOUNDARY}`);
    const f = frameOf(50);
    viewer.frame(f);
    const text = Buffer.concat(res.chunks);
    assert.ok(text.subarray(0, 200).toString("latin1").startsWith(`--${LIVE_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: ${f.length}\r\n\r\n`));
    assert.ok(text.includes(f));
  });

  it("a slow viewer is sent the newest frame when its connection drains; the rest are dropped, nothing piles up", () => {
    const res = new FakeResponse();
    const viewer = new MjpegResponse(res as unknown as ServerResponse);
    res.full = true;
    viewer.frame(frameOf(1));
    const afterFirst = res.bytes;
    for (let i = 2; i <= 200; i++) viewer.frame(frameOf(i));
    assert.equal(res.bytes, afterFirst, "nothing more is written while the socket is full");
    assert.equal(viewer.sent, 1);
    assert.equal(viewer.dropped, 198, "all but the newest waiting frame dropped");
    res.full = false;
    res.emit("drain");
    assert.equal(viewer.sent, 2, "the newest frame goes out on drain");
    assert.ok(Buffer.concat(res.chunks).includes(frameOf(200)));
  });
});

describe("the hub's cameras", () => {
  const record = (id: string, role: DeviceRecord["role"], revokedAt?: string): DeviceRecord => ({ id, role, serial: "01", notBefore: "", notAfter: "", ...(revokedAt ? { revokedAt } : {}) });
  const dir = { device: (id: string) => all.find((d) => d.id === id), devices: () => all };
  const all = [record("yard", "camerapi"), record("door", "doorpi"), record("old", "camerapi", "2026-01-01T00:00:00Z"), record("attic", "camerapi")];

  it("are the enrolled camerapis not revoked", () => {
    assert.deepEqual(enrolledCameras(dir), ["attic", "yard"]);
    assert.equal(enrolledCamera(dir, "yard"), true);
    assert.equal(enrolledCamera(dir, "door"), false);
    assert.equal(enrolledCamera(dir, "old"), false);
    assert.equal(enrolledCamera(dir, "nobody"), false);
    assert.equal(enrolledCamera(null, "yard"), false, "no identity directory: no camera");
  });
});

describe("live pusher (Pi)", () => {
  let clock: FakeClock;
  let published: Buffer[];
  let connected: boolean;
  let pending: Array<() => void>;
  let changes: string[];
  let pusher: LivePusher;
  beforeEach(() => {
    clock = new FakeClock(Date.UTC(2026, 5, 1, 12));
    published = [];
    connected = true;
    pending = [];
    changes = [];
    pusher = new LivePusher({
      clock,
      fps: 5,
      connected: () => connected,
      publish: (jpeg) => {
        published.push(jpeg);
        return new Promise<void>((resolve) => pending.push(resolve));
      },
      onChange: (on, why) => changes.push(`${on ? "on" : "off"} by ${why}`),
    });
  });
  const written = async () => {
    for (const r of pending.splice(0)) r();
    await Promise.resolve();
    await Promise.resolve();
  };

  it("reads the hub's control, refusing a malformed one", () => {
    assert.deepEqual(parseLiveControl(Buffer.from('{"stream":true,"at":5,"leaseMs":60000}')), { stream: true, at: 5, leaseMs: 60000 });
    assert.deepEqual(parseLiveControl(Buffer.alloc(0)), { stream: false, at: 0 }, "a cleared retained control is off");
    assert.throws(() => parseLiveControl(Buffer.from("{")), /not JSON/);
    assert.throws(() => parseLiveControl(Buffer.from('{"stream":"yes","at":1}')), /stream: true or false/);
    assert.throws(() => parseLiveControl(Buffer.from('{"stream":true,"at":1,"leaseMs":5}')), /leaseMs/);
  });

  it("sends nothing until the hub asks; then at most fps frames a second; stops when told", async () => {
    assert.equal(pusher.frame(frameOf(1)), "off");
    pusher.control({ stream: true, at: clock.now() });
    const outcomes: string[] = [];
    for (let i = 0; i < 20; i++) {
      outcomes.push(pusher.frame(frameOf(i)));
      await written();
      clock.tick(50); // a camera at 20 fps
    }
    assert.equal(outcomes.filter((o) => o === "sent").length, 5, `one second at 20 fps, 5 sent: ${outcomes.join(",")}`);
    assert.ok(outcomes.filter((o) => o !== "sent").every((o) => o === "rate"));
    pusher.control({ stream: false, at: clock.now() });
    assert.equal(pusher.frame(frameOf(1)), "off");
    assert.deepEqual(changes, ["on by hub", "off by hub"]);
  });

  it("drops frames while the previous one is still being written, or while the link is down", async () => {
    pusher.control({ stream: true, at: clock.now() });
    assert.equal(pusher.frame(frameOf(1)), "sent");
    clock.tick(1000);
    assert.equal(pusher.frame(frameOf(2)), "busy", "a slow link: dropped, not queued");
    assert.equal(published.length, 1);
    await written();
    assert.equal(pusher.frame(frameOf(3)), "sent");
    await written();
    connected = false;
    clock.tick(1000);
    assert.equal(pusher.frame(frameOf(4)), "offline");
    assert.equal(published.length, 2);
    assert.equal(pusher.dropped, 2);
  });

  it("stops by itself when the hub's lease runs out; a renewal keeps it going", () => {
    pusher.control({ stream: true, at: clock.now(), leaseMs: 60_000 });
    clock.tick(40_000);
    pusher.control({ stream: true, at: clock.now(), leaseMs: 60_000 });
    clock.tick(59_000);
    assert.equal(pusher.streaming, true, "renewed 59 s ago");
    clock.tick(1_000);
    assert.equal(pusher.streaming, false);
    assert.deepEqual(changes, ["on by hub", "off by lease"]);
  });
});
