// Hostile MQTT clients against the real runtime's embedded broker (role all): a packet far over the limit, a web page
// on another site, a subscriber that stops reading. Each attack is replayed; the broker refuses it without
// acknowledging anything it did not store, stays small, and everyone else keeps their latency.
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import mqtt from "mqtt";
import { generate, parser as mqttParser, type Packet } from "mqtt-packet";
import WebSocket from "ws";
import { AUDIT_FILE, type AuditRecord } from "../../nodes/lib/audit/audit";
import { DEFAULT_MAX_PACKET_BYTES } from "../../nodes/lib/broker/packet-guard";
import { RoundTripProbe } from "../support/rtt";
import { MQTT_ADMIN, startRuntime, viewerHeaders, type TestRuntime } from "../support/runtime";
import { until } from "../support/until";

function rssMiB(pid: number): number {
  const kB = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kB) / 1024;
}

function audited(dataDir: string, event: string): AuditRecord[] {
  const file = path.join(dataDir, AUDIT_FILE);
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditRecord)
    .filter((r) => r.event === event);
}

/** Publishes one QoS 1 message; "acked" when the PUBACK came, "closed" when the broker closed the connection first. */
async function publishOutcome(url: string, clientId: string, topic: string, payload: Buffer): Promise<"acked" | "closed"> {
  const client = await mqtt.connectAsync(url, { ...MQTT_ADMIN, clientId, reconnectPeriod: 0, connectTimeout: 5000 });
  client.on("error", () => undefined); // EPIPE/ECONNRESET while it still writes a refused packet
  try {
    return await new Promise<"acked" | "closed">((resolve) => {
      client.once("close", () => resolve("closed"));
      client.publish(topic, payload, { qos: 1 }, (err) => {
        if (!err) resolve("acked");
      });
    });
  } finally {
    client.end(true);
  }
}

/** The same over MQTT-over-WebSocket, the whole PUBLISH as one WebSocket message (as a browser client may send it). */
async function publishAsOneWebSocketMessage(url: string, clientId: string, topic: string, payload: Buffer): Promise<"acked" | "closed"> {
  const ws = new WebSocket(url, "mqtt");
  ws.on("error", () => undefined);
  const parser = mqttParser();
  const packets: Packet[] = [];
  parser.on("packet", (p: Packet) => packets.push(p));
  ws.on("message", (data: Buffer) => parser.parse(data));
  let closed = false;
  ws.on("close", () => (closed = true));
  await new Promise<void>((resolve) => ws.once("open", () => resolve()));
  ws.send(generate({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clean: true, clientId, keepalive: 30, username: MQTT_ADMIN.username, password: Buffer.from(MQTT_ADMIN.password) }));
  await until(() => packets.some((p) => p.cmd === "connack"), "CONNACK over WebSocket");
  ws.send(generate({ cmd: "publish", topic, payload, qos: 1, messageId: 1, dup: false, retain: false }));
  await until(() => closed || packets.some((p) => p.cmd === "puback"), "a PUBACK or the close");
  ws.terminate();
  return packets.some((p) => p.cmd === "puback") ? "acked" : "closed";
}

/** Opens a WebSocket on /mqtt as a browser page from `origin` would; the HTTP status of the upgrade's answer. */
function upgradeStatus(url: string, origin: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, "mqtt", { origin });
    ws.once("open", () => {
      ws.terminate();
      resolve({ status: 101, body: "" });
    });
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once("error", reject);
  });
}

/** A raw TCP client that connects, subscribes to `#` at QoS 1 and then stops reading (its socket paused). */
async function stalledSubscriber(port: number, clientId: string): Promise<{ socket: net.Socket; closed: () => boolean }> {
  const socket = net.connect(port, "127.0.0.1");
  let closed = false;
  socket.on("close", () => (closed = true));
  socket.on("error", () => undefined);
  const parser = mqttParser();
  const packets: Packet[] = [];
  parser.on("packet", (p: Packet) => packets.push(p));
  const onData = (d: Buffer) => parser.parse(d);
  socket.on("data", onData);
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  socket.write(generate({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clean: true, clientId, keepalive: 0, username: MQTT_ADMIN.username, password: Buffer.from(MQTT_ADMIN.password) }));
  await until(() => packets.some((p) => p.cmd === "connack"), "CONNACK for the stalled subscriber");
  socket.write(generate({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "#", qos: 1 }] }));
  await until(() => packets.some((p) => p.cmd === "suback"), "SUBACK for the stalled subscriber");
  socket.off("data", onData);
  socket.pause();
  return { socket, closed: () => closed };
}

/** `count` QoS 1 publishes of `bytes` each, `window` in flight at a time; stops at the deadline. */
async function flood(url: string, count: number, bytes: number, window: number, deadline: number): Promise<{ acked: number; ms: number }> {
  const client = await mqtt.connectAsync(url, { ...MQTT_ADMIN, clientId: `hostile-flood-${process.pid}`, reconnectPeriod: 0, connectTimeout: 5000 });
  const payload = Buffer.alloc(bytes, 0x41);
  const start = performance.now();
  let acked = 0;
  let timer: NodeJS.Timeout | undefined;
  const timeUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))));
  try {
    for (let sent = 0; sent < count && Date.now() < deadline; ) {
      const batch: Promise<unknown>[] = [];
      for (let i = 0; i < window && sent < count; i++, sent++) {
        batch.push(client.publishAsync(`hostile/flood/${sent % 16}`, payload, { qos: 1 }).then(() => acked++));
      }
      await Promise.race([Promise.all(batch), timeUp]);
    }
  } finally {
    clearTimeout(timer);
    client.end(true);
  }
  return { acked, ms: performance.now() - start };
}

describe("hostile MQTT clients against the embedded broker", function () {
  this.timeout(180_000);
  let rt: TestRuntime;

  before(async () => {
    rt = await startRuntime({ role: "all", env: { PIFOG_MQTT_WS_ORIGINS: "https://fog.example" } });
    // past the start (flows, dashboard, first messages), so the RSS figures show the attack, not the warm-up
    const probe = await RoundTripProbe.connect(rt.info.mqtt, "warm-up");
    await probe.measure(20);
    await probe.close();
  });
  after(async () => {
    await rt?.stop();
  });

  const huge = [
    { via: "mqtt", name: "TCP", send: (url: string, id: string, payload: Buffer) => publishOutcome(url, id, "hostile/huge", payload) },
    { via: "mqtt-ws", name: "WebSocket", send: (url: string, id: string, payload: Buffer) => publishOutcome(url, id, "hostile/huge", payload) },
    { via: "mqtt-ws", name: "WebSocket, as one message", send: (url: string, id: string, payload: Buffer) => publishAsOneWebSocketMessage(url, id, "hostile/huge", payload) },
  ];
  huge.forEach(({ via, name, send }, i) => {
    it(`refuses a 50 MB publish over ${name}: connection closed before the payload is read, no PUBACK, memory stays bounded`, async () => {
      const url = via === "mqtt" ? rt.info.mqtt : rt.info.mqttWebSocket!;
      const clientId = `hostile-huge-${i}`;
      const before = rssMiB(rt.info.pid);
      const outcome = await send(url, clientId, Buffer.alloc(50 * 1000 * 1000, 0x42));
      const after = rssMiB(rt.info.pid);
      console.log(`      50 MB publish over ${name}: ${outcome}; runtime RSS ${before.toFixed(1)} MiB before, ${after.toFixed(1)} MiB after`);
      assert.equal(outcome, "closed", "never acknowledged");
      assert.ok(after - before < 24, `RSS grew by ${(after - before).toFixed(1)} MiB`);
      const refusal = () => audited(rt.dataDir, "mqtt.packet.too-large").find((r) => r.who === `mqtt:${clientId}`);
      await until(() => refusal() !== undefined, "the refusal in the audit");
      assert.equal(refusal()!.via, via);
      assert.match(refusal()!.reason, /over the 8388608-byte limit/);
      assert.equal(audited(rt.dataDir, "mqtt.packet.too-large").filter((r) => r.who === `mqtt:${clientId}`).length, 1, "audited once");
      // the broker and the history are still there
      const probe = await RoundTripProbe.connect(rt.info.mqtt, "after-huge");
      assert.equal((await probe.measure(3)).lost, 0);
      await probe.close();
    });
  });

  it("acknowledges a publish just under the limit (a high-res still) only once the history has stored it", async () => {
    const image = Buffer.alloc(DEFAULT_MAX_PACKET_BYTES - 64 * 1024, 0x2f).toString("latin1");
    const payload = Buffer.from(JSON.stringify({ device: "cam1", preset: "high", width: 1900, height: 1200, image }).slice(0, DEFAULT_MAX_PACKET_BYTES - 1024));
    assert.equal(await publishOutcome(rt.info.mqtt, "hostile-still", "hostile/still", payload), "acked");
    const res = await fetch(`${rt.info.http}/api/history?topic=${encodeURIComponent("hostile/still")}&limit=1`, { headers: viewerHeaders(rt.dataDir) });
    assert.equal(res.status, 200);
    const { messages } = (await res.json()) as { messages: Array<{ payload: string }> };
    assert.equal(messages.length, 1, "stored by the time it was acknowledged");
    assert.equal(messages[0]!.payload.length, payload.length);
    assert.equal(messages[0]!.payload, payload.toString());
  });

  it("refuses MQTT over WebSocket to a web page on another site (403, audited); its own host and listed origins connect", async () => {
    const url = rt.info.mqttWebSocket!;
    const foreign = await upgradeStatus(url, "https://evil.example");
    assert.equal(foreign.status, 403);
    assert.match((JSON.parse(foreign.body) as { error: string }).error, /evil\.example/);
    assert.equal((await upgradeStatus(url, rt.info.http)).status, 101, "the fog's own pages");
    assert.equal((await upgradeStatus(url, "https://fog.example")).status, 101, "listed in PIFOG_MQTT_WS_ORIGINS");
    const refusals = audited(rt.dataDir, "mqtt.ws.origin-refused");
    assert.equal(refusals.length, 1);
    assert.equal(refusals[0]!.origin, "https://evil.example");
  });

  it("cuts a subscriber to # that stops reading, while everyone else keeps their round trips", async () => {
    const probe = await RoundTripProbe.connect(rt.info.mqtt, "stall");
    const quiet = await probe.measure(20);
    const stalled = await stalledSubscriber(Number(new URL(rt.info.mqtt).port), "hostile-stalled");
    probe.start(20);
    // 40 MiB: more than the kernel's socket buffers and the broker's per-client bound together
    const flooded = await flood(rt.info.mqtt, 2560, 16 * 1024, 32, Date.now() + 30_000);
    const during = await probe.stop();
    await probe.close();
    console.log(
      `      round trips: quiet p50 ${quiet.p50.toFixed(1)} ms p99 ${quiet.p99.toFixed(1)} ms; ` +
        `with a stalled # subscriber and a flood (${flooded.acked} × 16 KiB in ${(flooded.ms / 1000).toFixed(1)} s): ` +
        `p50 ${during.p50.toFixed(1)} ms p99 ${during.p99.toFixed(1)} ms max ${during.max.toFixed(1)} ms, ${during.count} measured, ${during.lost} lost`,
    );
    await until(() => audited(rt.dataDir, "mqtt.client.cut").length > 0, "the stalled subscriber cut", 20_000);
    // a paused socket sees the broker's close only after what was already sent to it: read it out
    stalled.socket.resume();
    await until(stalled.closed, "the stalled subscriber's connection closed by the broker");
    assert.equal(flooded.acked, 2560, "the flood went through");
    assert.equal(during.lost, 0);
    assert.ok(during.p99 < 2000, `p99 ${during.p99.toFixed(1)} ms (generous on shared cores; before, a round trip never came back)`);
    const cuts = audited(rt.dataDir, "mqtt.client.cut");
    assert.equal(cuts.length, 1);
    assert.equal(cuts[0]!.who, "mqtt:hostile-stalled");
    assert.match(rt.output(), /mqtt\.client\.cut mqtt:hostile-stalled/);
  });
});
