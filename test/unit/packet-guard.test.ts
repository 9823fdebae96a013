import assert from "node:assert/strict";
import { Duplex } from "node:stream";
import { generate } from "mqtt-packet";
import type { AuditEvent } from "../../nodes/lib/audit/audit";
import { GuardedConnection, type Refusal } from "../../nodes/lib/broker/connection-guard";
import { PacketSizeGuard, type PacketVerdict } from "../../nodes/lib/broker/packet-guard";
import { checkOrigin } from "../../nodes/lib/broker/ws-origin";
import { FakeClock } from "../support/fake-clock";

const publish = (payloadBytes: number, topic = "t") =>
  generate({ cmd: "publish", topic, payload: Buffer.alloc(payloadBytes, 0x61), qos: 1, messageId: 7, dup: false, retain: false });

/** A fixed header alone: type 3 (PUBLISH, QoS 1) and `remaining` as MQTT's variable-length integer. */
function header(remaining: number): Buffer {
  const bytes = [0x32];
  do {
    let digit = remaining % 128;
    remaining = Math.floor(remaining / 128);
    if (remaining > 0) digit |= 0x80;
    bytes.push(digit);
  } while (remaining > 0);
  return Buffer.from(bytes);
}

function feedAll(guard: PacketSizeGuard, chunks: Buffer[]): PacketVerdict {
  let last: PacketVerdict = { ok: true };
  for (const c of chunks) last = guard.feed(c);
  return last;
}

describe("MQTT packet size guard", () => {
  it("lets packets up to the limit through, whole or split anywhere, several in one chunk", () => {
    const stream = Buffer.concat([publish(10), publish(900), generate({ cmd: "pingreq" }), publish(1000 - 8)]);
    for (let size = 1; size <= 7; size++) {
      const guard = new PacketSizeGuard(1000);
      const chunks: Buffer[] = [];
      for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size));
      assert.deepEqual(feedAll(guard, chunks), { ok: true }, `in chunks of ${size}`);
    }
    assert.deepEqual(new PacketSizeGuard(1000).feed(stream), { ok: true });
  });

  it("refuses a packet over the limit at its fixed header, even with a header split byte by byte", () => {
    const big = header(50 * 1024 * 1024);
    const guard = new PacketSizeGuard(8 * 1024 * 1024);
    assert.deepEqual(guard.feed(publish(20)), { ok: true });
    assert.deepEqual(guard.feed(big.subarray(0, 1)), { ok: true });
    assert.deepEqual(guard.feed(big.subarray(1, 3)), { ok: true });
    assert.deepEqual(guard.feed(big.subarray(3)), { ok: false, reason: "too-large", size: 5 + 50 * 1024 * 1024, type: 3 });
    assert.equal(guard.feed(publish(1)).ok, false, "the refusal sticks");
  });

  it("counts the fixed header in the size: one byte over is refused", () => {
    const exact = publish(100);
    assert.deepEqual(new PacketSizeGuard(exact.length).feed(exact), { ok: true });
    assert.deepEqual(new PacketSizeGuard(exact.length - 1).feed(exact), { ok: false, reason: "too-large", size: exact.length, type: 3 });
  });

  it("reads every length of the variable-length integer, its edges included", () => {
    for (const remaining of [0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455]) {
      const h = header(remaining);
      const size = h.length + remaining;
      assert.deepEqual(new PacketSizeGuard(size).feed(h), { ok: true }, `remaining ${remaining} at the limit`);
      assert.deepEqual(new PacketSizeGuard(size - 1).feed(h), { ok: false, reason: "too-large", size, type: 3 }, `remaining ${remaining} over`);
    }
    // after a header at the limit, the body is skipped and the next header is read
    const guard = new PacketSizeGuard(200);
    assert.deepEqual(guard.feed(Buffer.concat([header(128), Buffer.alloc(128)])), { ok: true });
    assert.deepEqual(guard.feed(header(300)), { ok: false, reason: "too-large", size: 303, type: 3 });
  });

  it("refuses a length with a fifth continuation byte: nothing after it can be followed", () => {
    assert.deepEqual(new PacketSizeGuard(1e9).feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])), { ok: false, reason: "malformed" });
  });
});

/** A peer connection: what is written stays buffered until the peer `take()`s it (a peer that stops reading). */
function peer() {
  const pending: Array<() => void> = [];
  const stream = new Duplex({
    read() {},
    write(_chunk, _encoding, callback) {
      pending.push(callback);
    },
  });
  return {
    stream,
    take: () => {
      while (pending.length) pending.shift()!();
    },
  };
}

describe("guarded connection", () => {
  const limits = { maxPacketBytes: 1000, maxBufferedBytes: 10_000, stallMs: 5000, via: "mqtt", address: "127.0.0.1:5000" };

  it("passes bytes both ways and closes at a header over the limit, before the body is handed on", async () => {
    const p = peer();
    const refusals: Refusal[] = [];
    const events: AuditEvent[] = [];
    const guarded = new GuardedConnection(p.stream, { ...limits, onRefusal: (e, r) => (events.push(e), refusals.push(r)) });
    const seen: Buffer[] = [];
    guarded.on("data", (c: Buffer) => seen.push(c));
    p.stream.push(publish(50));
    await new Promise((r) => setImmediate(r));
    assert.equal(Buffer.concat(seen).length, publish(50).length);
    p.stream.push(Buffer.concat([header(5000), Buffer.alloc(100)]));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(refusals, [{ kind: "too-large", size: 5003, packetType: 3 }]);
    assert.equal(events[0]!.event, "mqtt.packet.too-large");
    assert.equal(events[0]!.who, "127.0.0.1:5000", "before a CONNECT, the address");
    assert.equal(Buffer.concat(seen).length, publish(50).length, "nothing of the big packet was handed on");
    assert.ok(guarded.destroyed && p.stream.destroyed);
  });

  it("never makes the writer wait, and cuts a peer that has more than the bound waiting", () => {
    const p = peer();
    const refusals: Refusal[] = [];
    const guarded = new GuardedConnection(p.stream, { ...limits, clock: new FakeClock(), onRefusal: (_event, r) => refusals.push(r) });
    for (let i = 0; i < 9; i++) assert.equal(guarded.write(Buffer.alloc(1000)), true, "no backpressure for the broker");
    assert.deepEqual(refusals, []);
    p.take();
    for (let i = 0; i < 11; i++) guarded.write(Buffer.alloc(1000));
    assert.deepEqual(refusals, [{ kind: "not-reading", bufferedBytes: 11_000, stalledMs: null }]);
    assert.ok(p.stream.destroyed);
  });

  it("keeps what waits for a slow peer in a few pieces, and a cut ends the broker's reads without an error per piece", async () => {
    const p = peer();
    const refusals: Refusal[] = [];
    const guarded = new GuardedConnection(p.stream, { ...limits, maxBufferedBytes: 200_000, clock: new FakeClock(), onRefusal: (_e, r) => refusals.push(r) });
    const errors: Error[] = [];
    guarded.on("error", (err: Error) => errors.push(err));
    const ended = new Promise<void>((resolve) => guarded.on("end", () => resolve()));
    guarded.resume();
    // the peer's own buffer fills at its high-water mark (16 KiB); the rest waits here
    for (let i = 0; i < 1500; i++) guarded.write(Buffer.alloc(100, i % 256));
    assert.ok(p.stream.writableLength <= 17_000, `the peer's stream holds ${p.stream.writableLength} bytes`);
    assert.deepEqual(refusals, []);
    for (let i = 0; i < 600; i++) guarded.write(Buffer.alloc(100));
    assert.equal(refusals.length, 1, "cut past the bound");
    for (let i = 0; i < 100; i++) guarded.write(Buffer.alloc(100)); // deliveries already under way: dropped quietly
    await ended;
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(errors, [], "no error for what was still waiting");
    assert.ok(p.stream.destroyed);
  });

  it("hands on what waited, in order, once the peer reads again", async () => {
    const pending: Array<() => void> = [];
    const received: Buffer[] = [];
    const stream = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        received.push(chunk);
        pending.push(callback);
      },
    });
    const guarded = new GuardedConnection(stream, { ...limits, maxBufferedBytes: 200_000, clock: new FakeClock(), onRefusal: () => undefined });
    const sent: Buffer[] = [];
    for (let i = 0; i < 400; i++) {
      const b = Buffer.alloc(100, i % 256);
      sent.push(b);
      guarded.write(b);
    }
    for (let round = 0; round < 100 && Buffer.concat(received).length < 40_000; round++) {
      while (pending.length) pending.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(received.length < 400, `joined into ${received.length} writes`);
    assert.deepEqual(Buffer.concat(received), Buffer.concat(sent), "every byte, in order");
  });

  it("cuts a peer that takes nothing for the stall time, and leaves a slow one that takes something", () => {
    const clock = new FakeClock();
    const p = peer();
    const refusals: Refusal[] = [];
    const events: AuditEvent[] = [];
    const guarded = new GuardedConnection(p.stream, { ...limits, clock, onRefusal: (e, r) => (events.push(e), refusals.push(r)) });
    (guarded as unknown as { client: { id: string } }).client = { id: "slow-one" }; // as aedes does after CONNECT
    guarded.write(Buffer.alloc(100));
    clock.tick(4000);
    p.take(); // it read something
    guarded.write(Buffer.alloc(100));
    clock.tick(4000);
    assert.deepEqual(refusals, [], "progress within the stall time");
    clock.tick(5000);
    assert.deepEqual(refusals, [{ kind: "not-reading", bufferedBytes: 100, stalledMs: 5000 }]);
    assert.equal(events[0]!.event, "mqtt.client.cut");
    assert.equal(events[0]!.who, "mqtt:slow-one");
    assert.match(events[0]!.reason, /nothing taken for 5 s/);
    assert.ok(p.stream.destroyed);
  });
});

describe("WebSocket origin check", () => {
  it("allows programs without an Origin, the fog's own pages and listed origins; refuses other sites", () => {
    assert.equal(checkOrigin(undefined, "hub:1880", []).allowed, true);
    assert.equal(checkOrigin("http://hub:1880", "hub:1880", []).allowed, true);
    assert.equal(checkOrigin("http://HUB:1880", "hub:1880", []).allowed, true);
    assert.equal(checkOrigin("https://fog.example", "hub:1880", ["https://fog.example"]).allowed, true);
    assert.equal(checkOrigin("http://hub:1881", "hub:1880", []).allowed, false, "another port is another site");
    assert.equal(checkOrigin("https://evil.example", "hub:1880", ["https://fog.example"]).allowed, false);
    assert.equal(checkOrigin("null", "hub:1880", []).allowed, false, "a sandboxed page or a file");
    assert.equal(checkOrigin("https://evil.example", "hub:1880", ["*"]).allowed, true);
  });
});
