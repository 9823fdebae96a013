// The attacks of the hostile-input issue as bounded loads on loopback, shared by the hostile-input tests and
// `npm run bench -- hostile`: each runs a fixed number of requests or messages (never open-ended) and resolves
// when done. `from` makes the attacker's connections come from another loopback address (any 127.x.y.z is local on
// Linux), as a second machine on the network would.
import http from "node:http";
import net from "node:net";
import mqtt from "mqtt";
import { MQTT_ADMIN } from "./runtime";
import { io } from "socket.io-client";
import { topics } from "../../nodes/lib/contract";
import { signPayload, type SigningIdentity } from "../../nodes/lib/identity/signing";

export interface HttpAnswer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** One HTTP request, optionally from a given local address. */
export function request(url: string, options: { method?: string; body?: string; headers?: Record<string, string>; from?: string } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: options.method ?? "GET", headers: options.headers, localAddress: options.from, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), headers: res.headers }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

/** Runs `count` tasks, `concurrency` at a time; the statuses (or "error") of each, in order of completion. */
async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(count, concurrency) }, async () => {
      while (next < count) out.push(await task(next++));
    }),
  );
  return out;
}

/** Wrong `/v1/auth` logins: the HTTP status of each. */
export function wrongLogins(httpUrl: string, count: number, options: { concurrency?: number; from?: string; username?: string } = {}): Promise<number[]> {
  return pool(count, options.concurrency ?? 10, (i) =>
    request(`${httpUrl}/v1/auth`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: options.username ?? "sam", password: `wrong-${i}` }),
      from: options.from,
    }).then(
      (a) => a.status,
      () => 0,
    ),
  );
}

/** Heavy history queries (every topic, the largest answer, the longest range the budget allows), `concurrency` at
 * once: their statuses. */
export function heavyHistoryQueries(httpUrl: string, count: number, options: { concurrency?: number; from?: string; headers?: Record<string, string> } = {}): Promise<number[]> {
  const since = Date.now() - 30 * 86_400_000;
  return pool(count, options.concurrency ?? 20, () =>
    request(`${httpUrl}/api/history?topic=%23&from=${since}&limit=10000`, { from: options.from, headers: options.headers }).then(
      (a) => a.status,
      () => 0,
    ),
  );
}

/** QoS 0 messages as fast as one client sends them (fills the history, loads the broker). */
export async function publishFlood(mqttUrl: string, count: number, options: { topic?: (i: number) => string; payload?: string } = {}): Promise<void> {
  const client = await mqtt.connectAsync(mqttUrl, { ...MQTT_ADMIN, reconnectPeriod: 0, clientId: `flood-${process.pid}-${Math.random().toString(36).slice(2, 8)}` });
  try {
    const topic = options.topic ?? ((i: number) => `flood/${i % 50}`);
    for (let i = 0; i < count; i++) {
      client.publish(topic(i), options.payload ?? String(i % 1000), { qos: 0 });
      if (i % 500 === 499) await new Promise((r) => setImmediate(r));
    }
    // a QoS 1 message after them all: when it is acknowledged, the broker has taken everything before it
    await client.publishAsync("flood/done", "1", { qos: 1 });
  } finally {
    await client.endAsync();
  }
}

function mqttString(s: string): Buffer {
  const b = Buffer.from(s, "utf8");
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function mqttPacket(header: number, body: Buffer): Buffer {
  const length: number[] = [];
  let n = body.length;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    length.push(byte);
  } while (n > 0);
  return Buffer.concat([Buffer.from([header, ...length]), body]);
}

/** A client that subscribes to `#` at QoS 1 and then stops reading its socket. Resolves once subscribed. */
export async function stalledSubscriber(mqttUrl: string, clientId = `stalled-${process.pid}`): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  const { hostname, port } = new URL(mqttUrl);
  const socket = net.connect({ host: hostname, port: Number(port) });
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  // clean session, user name and password (the test runtimes' MQTT admin, who may read `#`)
  const connect = mqttPacket(
    0x10,
    Buffer.concat([mqttString("MQTT"), Buffer.from([4, 0xc2, 0, 0]), mqttString(clientId), mqttString(MQTT_ADMIN.username), mqttString(MQTT_ADMIN.password)]),
  );
  const subscribe = mqttPacket(0x82, Buffer.concat([Buffer.from([0, 1]), mqttString("#"), Buffer.from([1])]));
  socket.write(Buffer.concat([connect, subscribe]));
  // CONNACK (4 bytes) and SUBACK (5 bytes) come first; then it reads nothing more
  await new Promise<void>((resolve) => {
    let seen = 0;
    const onData = (d: Buffer) => {
      seen += d.length;
      if (seen >= 9) {
        socket.off("data", onData);
        socket.pause();
        resolve();
      }
    };
    socket.on("data", onData);
  });
  return { socket, closed };
}

/** Malformed dashboard socket events (the null events that threw in node-red-dashboard 3.6.6), from a signed-in
 * browser (`cookie`: its session; the socket refuses anyone else before any event): how many were sent. */
export async function dashboardGarbage(httpUrl: string, count: number, cookie: string): Promise<number> {
  const socket = io(httpUrl, { path: "/ui/socket.io", reconnection: false, transports: ["polling", "websocket"], extraHeaders: { cookie } });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", reject);
  });
  const events = ["ui-collapse", "ui-params", "update-value", "ui-change", "ui-audio", "no-such-event"];
  let sent = 0;
  for (let i = 0; i < count && socket.connected; i++) {
    socket.emit(events[i % events.length]!, null);
    sent++;
    if (i % 50 === 49) await new Promise((r) => setTimeout(r, 5));
  }
  socket.close();
  return sent;
}

/** Opens the simulated door through MQTT and returns how long the output was really held (closedAt − openedAt,
 * as the door opener wrote them when it switched the output) beside the configured length. `signer`: the identity
 * the native command is signed with (the hub's, as its dashboard signs); unsigned, the door refuses it. */
export async function doorPulse(
  mqttUrl: string,
  signer: SigningIdentity | null,
  device = "buttonpi",
  timeoutMs = 30_000,
): Promise<{ heldMs: number; pulseMs: number; result: string; reason?: string }> {
  const client = await mqtt.connectAsync(mqttUrl, { ...MQTT_ADMIN, reconnectPeriod: 0, clientId: `pulse-${process.pid}-${Math.random().toString(36).slice(2, 8)}` });
  try {
    const id = `pulse-${Date.now().toString(36)}`;
    const event = topics.event(device);
    await client.subscribeAsync(event, { qos: 1 });
    const answer = new Promise<{ heldMs: number; pulseMs: number; result: string; reason?: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to open-door ${id} within ${timeoutMs} ms`)), timeoutMs);
      client.on("message", (topic, payload) => {
        if (topic !== event) return;
        const r = (JSON.parse(payload.toString()) as { "open-door"?: { id: unknown; result: string; reason?: string; pulseMs: number; openedAt?: string; closedAt?: string } })["open-door"];
        if (!r || r.id !== id) return;
        clearTimeout(timer);
        const heldMs = r.openedAt && r.closedAt ? Date.parse(r.closedAt) - Date.parse(r.openedAt) : NaN;
        resolve({ heldMs, pulseMs: r.pulseMs, result: r.result, reason: r.reason });
      });
    });
    const command = { command: "open-door", id };
    const payload = signer ? signPayload(command, signer, Date.now(), { topic: topics.command(device) }) : command;
    await client.publishAsync(topics.command(device), JSON.stringify(payload), { qos: 1 });
    return await answer;
  } finally {
    await client.endAsync();
  }
}
