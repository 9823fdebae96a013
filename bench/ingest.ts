// The ingest benchmark: publisher processes → broker → something that takes every message, three ways, one
// after the other in the same run, with the same publishers and the same message count:
//   (a) raw:   an aedes broker in a child process (PiFog's EmbeddedBroker class, nothing intercepting) and a
//              subscriber process that only counts: the ceiling this publisher setup reaches on this machine;
//   PiFog:     the runtime with role sensorhub (its embedded broker and the hub flow: history, and whatever
//              else flows/sensorhub.json holds at run time);
//   (b) stock: the same aedes child and a stock Node-RED 4.1 doing the job the usual way: mqtt in → json →
//              function (msg.params) → node-red-node-sqlite, one INSERT per message. node-red-node-sqlite is
//              the bench's own dependency (bench/stock/package.json), installed here on first use.
// Publishers are separate Node processes, each with its own mqtt.js connection, QoS 1, a bounded in-flight
// window, IoTitan topics (iotitan/home/<room>/<sensor>/<quantity>) and plain numeric payloads whose
// decimals carry the publisher's sequence number, e.g. `21.0001234` is message 1,234.
//
// This file is also the children's entry point: `node dist/bench/ingest.js <publisher|broker|counter> <json>`.
//
// PIFOG_BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the PiFog runtime into <dir> (for Chrome DevTools).
import { fork, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import type { Socket } from "node:net";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import mqtt, { type MqttClient } from "mqtt";
import { EmbeddedBroker } from "../nodes/lib/broker/embedded-broker";
import { freePort } from "../test/support/ports";
import { MQTT_ADMIN, startRuntime, type TestRuntime } from "../test/support/runtime";
import type { BenchContext, Scope } from "./run";
import { killChildSync, memoryOf, mib, ms, sleep, stats, stopChild, table, tempDir, waitExit, type Stats } from "./support";

// ---- the setup ------------------------------------------------------------------------------------------

/** (a) and PiFog run this many times, alternately; the report takes each one's median round. (b) runs once:
 * it takes a minute a round, and its distance from the target is not a matter of a few per cent. */
const ROUNDS = 3;
const PUBLISHERS = 4;
const MESSAGES_PER_PUBLISHER = 15_000;
/** QoS 1 messages a publisher has sent and not yet seen acknowledged, at most. */
const WINDOW = 64;
/** The steady part: between the 10 % and the 90 % completion marks. */
const STEADY_FROM = 0.1;
const STEADY_TO = 0.9;
/** A run whose acknowledged (or stored) count has not moved for this long is stalled. */
const STALL_MS = 15_000;
/** How long the stock flow may take to store its backlog after the last PUBACK. */
const STOCK_DRAIN_MS = 150_000;

const SUBSCRIPTION = "iotitan/#";
/** Published until acknowledged before a PiFog run: the embedded broker holds PUBACKs until the flows run. */
const READY_TOPIC = "bench/ready";

const ROOMS = ["up_bed1", "up_bed2", "up_bed3", "up_bed4", "downstairs", "kitchen", "hall", "garage"];
const QUANTITIES: Array<{ sensor: (room: string) => string; quantity: string; base: (i: number) => number }> = [
  { sensor: (room) => (room.startsWith("up_") ? "dht11" : "dht22"), quantity: "temperature", base: (i) => 19 + (i % 5) },
  { sensor: (room) => (room.startsWith("up_") ? "dht11" : "dht22"), quantity: "humidity", base: (i) => 42 + (i % 6) },
  { sensor: () => "xc-4444", quantity: "pir", base: () => 0 },
];
const SEQ_DIGITS = 7;

interface BenchTopic {
  topic: string;
  base: number;
}

/** Each publisher has its own rooms, so a topic names its publisher and the payload its sequence number. */
function topicsOf(publisher: number): BenchTopic[] {
  const perPublisher = ROOMS.length / PUBLISHERS;
  const rooms = ROOMS.slice(publisher * perPublisher, (publisher + 1) * perPublisher);
  return rooms.flatMap((room) => {
    const i = ROOMS.indexOf(room);
    return QUANTITIES.map((q) => ({ topic: `iotitan/home/${room}/${q.sensor(room)}/${q.quantity}`, base: q.base(i) }));
  });
}

/** A plausible reading whose decimals are the sequence number: base 21, seq 1234 → `21.0001234`. */
const reading = (base: number, seq: number) => `${base}.${String(seq).padStart(SEQ_DIGITS, "0")}`;
const seqOfText = (text: string) => Number(text.slice(text.indexOf(".") + 1));
/** The same from the number a JSON parse made of it (exact: the values stay far below 2^53 / 10^7). */
const seqOfValue = (value: number) => Math.round((value - Math.trunc(value)) * 10 ** SEQ_DIGITS);

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on this machine. */
const wallNow = () => performance.timeOrigin + performance.now();

// ---- the children ---------------------------------------------------------------------------------------

interface PublisherConfig {
  url: string;
  index: number;
  count: number;
  window: number;
  topics: BenchTopic[];
}

interface PublisherReport {
  type: "done";
  index: number;
  acked: number;
  failed: number;
  error: string | null;
  /** Wall-clock ms per sequence number: when it was handed to mqtt.js, when its PUBACK came (NaN: never). */
  sentAt: Float64Array;
  ackAt: Float64Array;
}

type ChildMessage =
  | { type: "ready"; port?: number; username?: string; password?: string }
  | { type: "progress"; count: number }
  | { type: "subscribed"; clientId: string; filters: string[] }
  | PublisherReport
  | CounterReport
  | { type: "error"; message: string };

type ParentCommand = { cmd: "go" } | { cmd: "stop" } | { cmd: "report" };

function tell(message: ChildMessage): void {
  process.send?.(message);
}

function onCommand(cmd: ParentCommand["cmd"], run: () => void): void {
  process.on("message", (m: ParentCommand) => {
    if (m.cmd === cmd) run();
  });
}

async function benchClient(url: string, clientId: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { clientId, clean: true, reconnectPeriod: 0, connectTimeout: 10_000, keepalive: 60 });
  // As in the doors bench: the instruments set TCP_NODELAY, so Nagle's wait for a delayed ACK is not measured.
  (client.stream as Socket).setNoDelay(true);
  return client;
}

async function publisherMain(c: PublisherConfig): Promise<void> {
  const client = await benchClient(c.url, `bench-publisher-${c.index}-${process.pid}`);
  const sentAt = new Float64Array(c.count).fill(NaN);
  const ackAt = new Float64Array(c.count).fill(NaN);
  let next = 0;
  let inFlight = 0;
  let acked = 0;
  let failed = 0;
  let finished = false;
  let progress: NodeJS.Timeout | undefined;
  const finish = (error: string | null) => {
    if (finished) return;
    finished = true;
    clearInterval(progress);
    tell({ type: "done", index: c.index, acked, failed: c.count - acked, error, sentAt, ackAt });
  };
  client.on("close", () => finish("the connection closed"));
  client.on("error", (err) => finish(err.message));
  onCommand("stop", () => {
    finish("stopped by the bench");
    client.end(true, () => process.exit(0));
    setTimeout(() => process.exit(0), 2_000).unref();
  });

  const pump = () => {
    while (inFlight < c.window && next < c.count && !finished) {
      const seq = next++;
      const t = c.topics[seq % c.topics.length]!;
      inFlight++;
      sentAt[seq] = wallNow();
      client.publish(t.topic, reading(t.base, seq), { qos: 1 }, (err) => {
        const at = wallNow();
        inFlight--;
        if (err) failed++;
        else {
          ackAt[seq] = at;
          acked++;
        }
        if (acked + failed === c.count) finish(failed > 0 ? `${failed} publishes failed` : null);
        else pump();
      });
    }
  };
  onCommand("go", () => {
    progress = setInterval(() => tell({ type: "progress", count: acked }), 250);
    pump();
  });
  tell({ type: "ready" });
}

async function brokerMain(): Promise<void> {
  const broker = await EmbeddedBroker.start({ port: 0, host: "127.0.0.1" });
  broker.aedes.on("subscribe", (subscriptions, client) => {
    tell({ type: "subscribed", clientId: client?.id ?? "", filters: subscriptions.map((s) => s.topic) });
  });
  onCommand("stop", () => {
    setTimeout(() => process.exit(0), 2_000).unref();
    broker.close().finally(() => process.exit(0));
  });
  // the bench's clients log in as the broker's own runtime user (anonymous clients may not publish telemetry)
  tell({ type: "ready", port: broker.port, ...broker.runtimeCredentials });
}

interface CounterConfig {
  url: string;
  count: number;
}

interface CounterReport {
  type: "counted";
  received: number;
  duplicates: number;
  /** Messages on topics no publisher uses. */
  strays: number;
  /** Wall-clock ms of each message's receipt, per publisher and sequence number (NaN: never). */
  recvAt: Float64Array[];
}

async function counterMain(c: CounterConfig): Promise<void> {
  const publisherOf = new Map<string, number>();
  for (let p = 0; p < PUBLISHERS; p++) for (const t of topicsOf(p)) publisherOf.set(t.topic, p);
  const recvAt = Array.from({ length: PUBLISHERS }, () => new Float64Array(c.count).fill(NaN));
  let received = 0;
  let duplicates = 0;
  let strays = 0;
  const client = await benchClient(c.url, `bench-counter-${process.pid}`);
  client.on("message", (topic, payload) => {
    const at = wallNow();
    const p = publisherOf.get(topic);
    const seq = seqOfText(payload.toString());
    const times = p === undefined ? undefined : recvAt[p];
    if (!times || !(seq >= 0 && seq < c.count)) strays++;
    else if (!Number.isNaN(times[seq]!)) duplicates++;
    else {
      times[seq] = at;
      received++;
    }
  });
  await client.subscribeAsync(SUBSCRIPTION, { qos: 1 });
  setInterval(() => tell({ type: "progress", count: received }), 250);
  onCommand("report", () => tell({ type: "counted", received, duplicates, strays, recvAt }));
  onCommand("stop", () => {
    client.end(true, () => process.exit(0));
    setTimeout(() => process.exit(0), 2_000).unref();
  });
  tell({ type: "ready" });
}

function childMain(mode: string, config: string): void {
  // the bench is gone (even SIGKILLed): so are we
  process.on("disconnect", () => process.exit(0));
  const fail = (err: unknown) => {
    tell({ type: "error", message: (err as Error).stack ?? String(err) });
    setTimeout(() => process.exit(1), 100);
  };
  process.on("uncaughtException", fail);
  const run = mode === "publisher" ? publisherMain : mode === "counter" ? counterMain : mode === "broker" ? brokerMain : null;
  if (!run) return fail(new Error(`unknown child mode ${mode}`));
  run(JSON.parse(config)).catch(fail);
}

if (require.main === module) childMain(process.argv[2] ?? "", process.argv[3] ?? "{}");

// ---- small helpers --------------------------------------------------------------------------------------

function withTimeout<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message())), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const count = (n: number) => n.toLocaleString("en-US");
const rate = (r: number) => `${count(Math.round(r))}/s`;

/** User + system CPU seconds a process has used. */
function cpuOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ ticks (100 on Linux)
}

/** A forked child speaking the protocol above. */
class Child {
  readonly process: ChildProcess;
  private readonly inbox: ChildMessage[] = [];
  private readonly waiters = new Set<() => void>();
  private out = "";
  progress = 0;
  /** A publisher has sent its report. */
  finished = false;

  constructor(scope: Scope, readonly label: string, mode: string, config: unknown) {
    this.process = fork(__filename, [mode, JSON.stringify(config)], {
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      serialization: "advanced",
      execArgv: [],
    });
    const child = this.process;
    scope.defer(
      `stop ${label} (pid ${child.pid})`,
      async () => {
        if (child.connected) child.send({ cmd: "stop" } satisfies ParentCommand);
        if (!(await waitExit(child, 3_000))) await stopChild(child);
      },
      () => killChildSync(child),
    );
    child.stdout?.on("data", (d: Buffer) => (this.out += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (this.out += d.toString()));
    // a child that has gone while we send to it: its exit is what the waits below see
    child.on("error", () => undefined);
    child.on("message", (m: ChildMessage) => {
      if (m.type === "progress") this.progress = m.count;
      else this.inbox.push(m);
      if (m.type === "done") {
        this.progress = m.acked;
        this.finished = true;
      }
      for (const wake of [...this.waiters]) wake();
    });
    child.on("exit", () => {
      for (const wake of [...this.waiters]) wake();
    });
  }

  get pid(): number {
    return this.process.pid!;
  }

  send(command: ParentCommand): void {
    if (this.process.connected) this.process.send(command);
  }

  /** The first message of `type` not taken yet. */
  async next<T extends ChildMessage["type"]>(type: T, timeoutMs: number): Promise<Extract<ChildMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const error = this.inbox.find((m) => m.type === "error");
      if (error) throw new Error(`${this.label}: ${(error as { message: string }).message}`);
      const i = this.inbox.findIndex((m) => m.type === type);
      if (i >= 0) return this.inbox.splice(i, 1)[0] as Extract<ChildMessage, { type: T }>;
      if (this.process.exitCode !== null || this.process.signalCode !== null) {
        throw new Error(`${this.label} exited (${this.process.exitCode ?? this.process.signalCode}) before "${type}":\n${this.out}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.label}: no "${type}" within ${timeoutMs} ms:\n${this.out}`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.waiters.add(wake);
      });
    }
  }
}

/** Polls `progress` until it reaches `target`; stops waiting when it has not moved for `stallMs` or at `deadline`. */
async function waitProgress(progress: () => number, target: number, stallMs: number, deadline: number, everyMs = 100): Promise<void> {
  let last = -1;
  let movedAt = Date.now();
  for (;;) {
    const now = progress();
    if (now >= target) return;
    if (now !== last) {
      last = now;
      movedAt = Date.now();
    }
    if (Date.now() - movedAt > stallMs || Date.now() > deadline) return;
    await sleep(everyMs);
  }
}

// ---- the systems under test -----------------------------------------------------------------------------

interface WorkProcess {
  /** What it does, e.g. "subscriber", "broker", "Node-RED". */
  role: string;
  pid: number;
}

interface Completions {
  /** When each message was stored (or received), per publisher and sequence number; NaN: never. */
  doneAt: Float64Array[];
  duplicates: number;
  /** Rows or messages on the bench's topics that do not decode to a message that was sent. */
  strays: number;
}

interface System {
  label: string;
  /** How "done" is measured, for the report. */
  measuredAs: string;
  url: string;
  processes: WorkProcess[];
  /** Waits until the system has taken what the publishers had acknowledged (or stalls). */
  drain(acked: number): Promise<void>;
  collect(publishers: PublisherReport[]): Promise<Completions>;
  notes: string[];
}

/** A broker URL with a user name and password in it (mqtt.js logs in with them). */
function withLogin(url: string, username: string, password: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(username);
  u.password = encodeURIComponent(password);
  return u.toString().replace(/\/$/, "");
}

function spawnBroker(scope: Scope): Promise<{ broker: Child; url: string }> {
  const broker = new Child(scope, "aedes broker", "broker", {});
  return broker.next("ready", 20_000).then((m) => ({ broker, url: withLogin(`mqtt://127.0.0.1:${m.port!}`, m.username!, m.password!) }));
}

async function waitSubscribed(broker: Child, filter: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await broker.next("subscribed", Math.max(1, deadline - Date.now()));
    if (m.filters.includes(filter)) return;
  }
}

async function rawSystem(scope: Scope): Promise<System> {
  const { broker, url } = await spawnBroker(scope);
  const counter = new Child(scope, "counting subscriber", "counter", { url, count: MESSAGES_PER_PUBLISHER } satisfies CounterConfig);
  await counter.next("ready", 20_000);
  await waitSubscribed(broker, SUBSCRIPTION, 10_000);
  return {
    label: "(a) raw mqtt.js → aedes → subscriber",
    measuredAs: "publish → receipt at the subscriber (wall clocks of two processes)",
    url,
    processes: [
      { role: "subscriber", pid: counter.pid },
      { role: "broker", pid: broker.pid },
    ],
    drain: (acked) => waitProgress(() => counter.progress, acked, 5_000, Date.now() + 60_000),
    collect: async () => {
      counter.send({ cmd: "report" });
      const r = await counter.next("counted", 20_000);
      return { doneAt: r.recvAt, duplicates: r.duplicates, strays: r.strays };
    },
    notes: [],
  };
}

/** The hub flow's node types as the runtime stored its flow, with the settings that decide what they take. */
function describeFlow(dataDir: string, role: string): string[] {
  const file = path.join(dataDir, `flows-${role}.json`);
  const flow = JSON.parse(fs.readFileSync(file, "utf8")) as Array<Record<string, unknown>>;
  const counts = new Map<string, number>();
  for (const n of flow) if (n.type !== "tab") counts.set(String(n.type), (counts.get(String(n.type)) ?? 0) + 1);
  const types = [...counts].map(([t, c]) => (c > 1 ? `${t} ×${c}` : t)).join(", ");
  const lines = [`flow nodes (${path.basename(file)}): ${types}`];
  for (const n of flow) {
    if (!["history", "stats", "alert", "thingspeak"].includes(String(n.type))) continue;
    const what: string[] = [];
    if (n.d === true) what.push("DISABLED");
    if (typeof n.filters === "string") what.push(`filters "${n.filters}"`);
    if (typeof n.topics === "string") what.push(`topics "${n.topics}"`);
    if (typeof n.backend === "string") what.push(`backend ${n.backend}, ingest ${String(n.ingest)}`);
    if (n.window !== undefined) what.push(`window ${String(n.window)} ${String(n.windowUnit ?? "")}`.trim());
    const rules = typeof n.rules === "string" ? (() => { try { return JSON.parse(n.rules as string) as unknown; } catch { return null; } })() : n.rules;
    if (Array.isArray(rules)) {
      const filters = rules.map((r: Record<string, unknown>) => r.topic ?? r.filter ?? r.topics).filter(Boolean);
      what.push(`${rules.length} rule(s)${filters.length > 0 ? ` on ${filters.map(String).join(", ")}` : ""}`);
    }
    if (Array.isArray(n.mappings)) what.push(`${n.mappings.length} mapping(s)`);
    lines.push(`  ${String(n.type)} "${String(n.name ?? n.id)}": ${what.join("; ") || "defaults"}`);
  }
  return lines;
}

/** A preload that profiles the process it is loaded into until it exits (NODE_OPTIONS may not hold --cpu-prof). */
function cpuProfiler(scope: Scope, outDir: string): string {
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(tempDir(scope, "pifog-bench-prof-"), "cpu-profile.js");
  fs.writeFileSync(
    file,
    `const inspector = require("node:inspector");
const fs = require("node:fs");
const path = require("node:path");
const session = new inspector.Session();
session.connect();
session.post("Profiler.enable");
session.post("Profiler.setSamplingInterval", { interval: 200 });
session.post("Profiler.start");
process.on("exit", () => {
  // a session in this thread answers synchronously, so the profile is written before the process ends
  session.post("Profiler.stop", (err, res) => {
    if (!err) fs.writeFileSync(path.join(${JSON.stringify(outDir)}, "pifog-" + process.pid + ".cpuprofile"), JSON.stringify(res.profile));
  });
});
`,
  );
  return file;
}

async function pifogSystem(ctx: BenchContext, scope: Scope, describe: boolean): Promise<System> {
  const role = "sensorhub";
  const dataDir = tempDir(scope, "pifog-bench-ingest-");
  const env: Record<string, string> = { PIFOG_HARDWARE: "sim" };
  const profileDir = process.env.PIFOG_BENCH_CPU_PROF;
  if (profileDir) env.NODE_OPTIONS = `--require ${cpuProfiler(scope, path.resolve(profileDir))}`;
  const t0 = Date.now();
  const rt: TestRuntime = await startRuntime({ role, dataDir, env, timeoutMs: 60_000 });
  scope.defer(`stop PiFog ${role} (pid ${rt.child.pid})`, () => stopChild(rt.child), () => killChildSync(rt.child));

  // The embedded broker holds every PUBACK until the flows have started: one acknowledged publish says they have.
  const probe = await benchClient(withLogin(rt.info.mqtt, MQTT_ADMIN.username, MQTT_ADMIN.password), `bench-ready-${process.pid}`);
  try {
    await withTimeout(probe.publishAsync(READY_TOPIC, "1", { qos: 1 }), 30_000, () => `PiFog ${role}: no PUBACK 30 s after ready; are its flows running?\n${rt.output()}`);
  } finally {
    await probe.endAsync(true);
  }
  const notes = [`role ${role} ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${rt.info.pid})`];
  if (describe) notes.push(...describeFlow(dataDir, role));
  if (profileDir) notes.push(`CPU profile of the runtime goes to ${path.resolve(profileDir)} when it stops`);

  const historyDb = path.join(dataDir, "history.db");
  return {
    label: `PiFog ${role} (embedded broker + hub flow)`,
    measuredAs: "publish → PUBACK at the publisher, which the embedded broker sends only after the history commit",
    url: withLogin(rt.info.mqtt, MQTT_ADMIN.username, MQTT_ADMIN.password),
    processes: [{ role: "runtime", pid: rt.info.pid }],
    drain: async () => undefined, // a PUBACK comes after the commit: nothing acknowledged is still on its way
    collect: async (publishers) => {
      // stored = a row in history.db; its completion time is the PUBACK that followed the commit
      const rows = readRows(ctx, historyDb, "SELECT topic, payload AS text FROM history_messages WHERE topic LIKE 'iotitan/home/%'");
      const c = decodeRows(rows, (r) => seqOfText(Buffer.from(r.text as Buffer).toString()), () => NaN);
      for (let p = 0; p < PUBLISHERS; p++) {
        const stored = c.doneAt[p]!;
        const ackAt = publishers[p]!.ackAt;
        for (let s = 0; s < stored.length; s++) if (!Number.isNaN(stored[s]!)) stored[s] = ackAt[s]!;
      }
      return c;
    },
    notes,
  };
}

/** Rows of a SQLite file read with the repo's better-sqlite3, read-only, beside a writer that may still be busy. */
function readRows(ctx: BenchContext, file: string, sql: string): Array<Record<string, unknown>> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Database = require(path.join(ctx.root, "node_modules", "better-sqlite3")) as typeof import("better-sqlite3");
  const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 1_000 });
  try {
    return db.prepare(sql).all() as Array<Record<string, unknown>>;
  } finally {
    db.close();
  }
}

/** Rows in the stock table: its rowids count up from 1 and nothing deletes, so max(id) is the count. */
function stockRows(ctx: BenchContext, file: string): number {
  return Number(readRows(ctx, file, "SELECT coalesce(max(id), 0) AS n FROM readings")[0]!.n);
}

/** Rows carrying (topic, sequence) → completions; `doneAt` gives a row's completion time (NaN: filled in later). */
function decodeRows(rows: Array<Record<string, unknown>>, seqOf: (r: Record<string, unknown>) => number, doneAt: (r: Record<string, unknown>) => number): Completions {
  const publisherOf = new Map<string, number>();
  for (let p = 0; p < PUBLISHERS; p++) for (const t of topicsOf(p)) publisherOf.set(t.topic, p);
  const done = Array.from({ length: PUBLISHERS }, () => new Float64Array(MESSAGES_PER_PUBLISHER).fill(NaN));
  const seen = Array.from({ length: PUBLISHERS }, () => new Uint8Array(MESSAGES_PER_PUBLISHER));
  let duplicates = 0;
  let strays = 0;
  for (const r of rows) {
    const p = publisherOf.get(String(r.topic));
    const seq = seqOf(r);
    if (p === undefined || !(seq >= 0 && seq < MESSAGES_PER_PUBLISHER)) {
      strays++;
      continue;
    }
    if (seen[p]![seq]) {
      duplicates++;
      continue;
    }
    seen[p]![seq] = 1;
    // a stored row with no time yet still counts as stored: 0 until the caller fills it in
    const t = doneAt(r);
    done[p]![seq] = Number.isNaN(t) ? 0 : t;
  }
  return { doneAt: done, duplicates, strays };
}

const STOCK_SETTINGS = (nodesDir: string) => `module.exports = {
    uiHost: "127.0.0.1",
    flowFile: "flows.json",
    // node-red-node-sqlite comes from the bench's own install, not from the project's dependencies
    nodesDir: [${JSON.stringify(nodesDir)}],
    diagnostics: { enabled: false, ui: false },
    telemetry: { enabled: false, updateNotification: false },
    // core nodes and node-red-node-sqlite only: not the palette modules of the repo's node_modules
    externalModules: { autoInstall: false, palette: { allowInstall: false, allowUpload: false, allowList: ["node-red-node-sqlite"] } },
    editorTheme: { projects: { enabled: false }, tours: false, palette: { catalogues: [] } },
    logging: { console: { level: "info", metrics: false, audit: false } },
};
`;

const STOCK_TABLE = `CREATE TABLE readings (
  id INTEGER PRIMARY KEY,
  topic TEXT NOT NULL,
  value REAL,
  stored_at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400000.0)
)`;
const STOCK_INSERT = "INSERT INTO readings (topic, value) VALUES ($topic, $value)";

/** `brokerUrl`: the raw broker, its login in the URL (Node-RED's broker node takes a whole URL as it is). */
function stockFlow(brokerUrl: string, dbFile: string): unknown[] {
  return [
    { id: "ingest-tab", type: "tab", label: "ingest", disabled: false, info: "" },
    {
      id: "ingest-broker", type: "mqtt-broker", name: "aedes", broker: brokerUrl, port: "", clientid: "",
      autoConnect: true, usetls: false, protocolVersion: "4", keepalive: "60", cleansession: true, autoUnsubscribe: true,
      birthTopic: "", birthQos: "0", birthPayload: "", birthMsg: {}, closeTopic: "", closeQos: "0", closePayload: "", closeMsg: {},
      willTopic: "", willQos: "0", willPayload: "", willMsg: {}, userProps: "", sessionExpiry: "",
    },
    {
      id: "ingest-in", type: "mqtt in", z: "ingest-tab", name: "sensors", topic: SUBSCRIPTION, qos: "1", datatype: "utf8",
      broker: "ingest-broker", nl: false, rap: true, rh: 0, inputs: 0, x: 110, y: 80, wires: [["ingest-json"]],
    },
    { id: "ingest-json", type: "json", z: "ingest-tab", name: "", property: "payload", action: "obj", pretty: false, x: 270, y: 80, wires: [["ingest-params"]] },
    {
      id: "ingest-params", type: "function", z: "ingest-tab", name: "params", outputs: 1, timeout: 0, noerr: 0, initialize: "", finalize: "", libs: [],
      func: "msg.params = { $topic: msg.topic, $value: msg.payload };\nreturn msg;", x: 410, y: 80, wires: [["ingest-insert"]],
    },
    { id: "ingest-db", type: "sqlitedb", db: dbFile, mode: "RWC" },
    { id: "ingest-insert", type: "sqlite", z: "ingest-tab", mydb: "ingest-db", sqlquery: "prepared", sql: STOCK_INSERT, name: "insert", x: 560, y: 80, wires: [[]] },
  ];
}

const stockDir = (root: string) => path.join(root, "bench", "stock");

function stockInstalled(root: string): boolean {
  const modules = path.join(stockDir(root), "node_modules");
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(path.join(modules, "sqlite3")); // the native part: an interrupted install may have left it unbuilt
    return fs.existsSync(path.join(modules, "node-red-node-sqlite", "package.json"));
  } catch {
    return false;
  }
}

/** npm install in bench/stock when its node_modules is missing or broken (sqlite3 compiles from source here: slow). */
async function ensureStockInstalled(ctx: BenchContext): Promise<void> {
  if (stockInstalled(ctx.root)) return;
  const dir = stockDir(ctx.root);
  console.log(
    `  installing node-red-node-sqlite into bench/stock/node_modules (first use; sqlite3 has no downloadable\n` +
      `  prebuilt binary here, so it compiles from source: a minute or more)…`,
  );
  fs.rmSync(path.join(dir, "node_modules"), { recursive: true, force: true });
  const scope = ctx.scope();
  try {
    const t0 = Date.now();
    const npm = process.platform === "win32" ? "npm.cmd" : "npm";
    // its own process group, so that an interrupted install stops the compiler processes under it too
    const child = spawn(npm, ["install", "--prefix", dir, "--no-audit", "--no-fund"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, signal);
      } catch {
        // gone
      }
    };
    scope.defer(`stop npm install (pid ${child.pid})`, () => killGroup("SIGTERM"), () => killGroup("SIGKILL"));
    let out = "";
    child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    if (code !== 0 || !stockInstalled(ctx.root)) throw new Error(`npm install in bench/stock failed (${code}):\n${out}`);
    console.log(`  installed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  } finally {
    await scope.close();
  }
}

/** The stock sqlite3's defaults, which the stock flow runs with. */
async function stockSqliteDefaults(root: string, file: string): Promise<string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sqlite3 = require(path.join(stockDir(root), "node_modules", "sqlite3")) as {
    Database: new (file: string) => { get(sql: string, cb: (err: Error | null, row: Record<string, unknown>) => void): void; close(cb: () => void): void };
  };
  const db = new sqlite3.Database(file);
  const get = (sql: string) => new Promise<Record<string, unknown>>((resolve, reject) => db.get(sql, (err, row) => (err ? reject(err) : resolve(row))));
  try {
    const version = await get("SELECT sqlite_version() AS v");
    const journal = await get("PRAGMA journal_mode");
    const sync = await get("PRAGMA synchronous");
    const names = ["OFF", "NORMAL", "FULL", "EXTRA"];
    return `SQLite ${String(version.v)}, journal_mode=${String(journal.journal_mode)}, synchronous=${names[Number(sync.synchronous)] ?? String(sync.synchronous)}`;
  } finally {
    await new Promise<void>((resolve) => db.close(() => resolve()));
  }
}

async function stockSystem(ctx: BenchContext, scope: Scope): Promise<System> {
  const { broker, url } = await spawnBroker(scope);
  const userDir = tempDir(scope, "pifog-bench-stock-");
  const dbFile = path.join(userDir, "readings.db");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Database = require(path.join(ctx.root, "node_modules", "better-sqlite3")) as typeof import("better-sqlite3");
  const setup = new Database(dbFile);
  setup.exec(STOCK_TABLE);
  setup.close();
  const sqliteInfo = await stockSqliteDefaults(ctx.root, dbFile);

  const flows = path.join(userDir, "flows.json");
  fs.writeFileSync(flows, JSON.stringify(stockFlow(url, dbFile), null, 2));
  fs.writeFileSync(path.join(userDir, "settings.js"), STOCK_SETTINGS(stockDir(ctx.root)));
  const redJs = path.join(ctx.root, "node_modules", "node-red", "red.js");
  const t0 = Date.now();
  const child = spawn(process.execPath, [redJs, "--port", String(await freePort()), "--userDir", userDir, flows], {
    cwd: userDir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  scope.defer(`stop stock node-red (pid ${child.pid})`, () => stopChild(child), () => killChildSync(child));
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const subscribed = waitSubscribed(broker, SUBSCRIPTION, 60_000);
  subscribed.catch(() => undefined); // awaited below, once the flows have started
  const deadline = Date.now() + 60_000;
  while (!/Started flows/.test(output)) {
    if (child.exitCode !== null) throw new Error(`stock node-red exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`stock node-red did not start its flows in time:\n${output}`);
    if (/Waiting for missing types/.test(output)) throw new Error(`stock node-red misses node types:\n${output}`);
    await sleep(50);
  }
  await subscribed;
  const nrVersion = (JSON.parse(fs.readFileSync(path.join(ctx.root, "node_modules", "node-red", "package.json"), "utf8")) as { version: string }).version;
  const sqliteNodeVersion = (JSON.parse(fs.readFileSync(path.join(stockDir(ctx.root), "node_modules", "node-red-node-sqlite", "package.json"), "utf8")) as { version: string }).version;
  const errorsLogged = () => (output.match(/\[error\]/g) ?? []).length;

  return {
    label: "(b) stock Node-RED → node-red-node-sqlite",
    measuredAs: "publish → the row's stored_at (SQLite's clock during the INSERT, ms resolution; its fsync comes after)",
    url,
    processes: [
      { role: "Node-RED", pid: child.pid! },
      { role: "broker", pid: broker.pid },
    ],
    drain: async (acked) => {
      // Node-RED acknowledges each message when it arrives; the rows follow at the rate the INSERTs go. The table
      // is not read while they do: in rollback-journal mode a reader starves beside a writer that never pauses
      // (and would hold it up). The file's modification time says when the writes have stopped.
      const t = Date.now();
      const journal = `${dbFile}-journal`;
      let last = "";
      let changedAt = Date.now();
      let rows: number | null = null;
      for (;;) {
        const stamp = `${fs.statSync(dbFile).mtimeMs}/${fs.existsSync(journal)}`;
        if (stamp !== last) {
          last = stamp;
          changedAt = Date.now();
          rows = null;
        }
        const quiet = Date.now() - changedAt;
        if (quiet >= 3_000 && rows === null) {
          try {
            rows = stockRows(ctx, dbFile);
          } catch (err) {
            if (!/locked|busy/i.test((err as Error).message)) throw err;
          }
          if (rows !== null && rows >= acked) break;
        }
        if (quiet >= STALL_MS || Date.now() - t > STOCK_DRAIN_MS) break;
        await sleep(250);
      }
      const stored = rows ?? stockRows(ctx, dbFile);
      if (stored < acked) console.log(`  (b) ${count(acked - stored)} rows short ${((Date.now() - t) / 1000).toFixed(0)} s after the last PUBACK: counted as lost`);
      console.log(`  stock Node-RED logged ${errorsLogged()} errors; its last row came ${((changedAt - t) / 1000).toFixed(1)} s after the last PUBACK`);
    },
    collect: async () => {
      const rows = readRows(ctx, dbFile, "SELECT topic, value, stored_at FROM readings");
      return decodeRows(rows, (r) => seqOfValue(Number(r.value)), (r) => Number(r.stored_at));
    },
    notes: [
      `node-red ${nrVersion} ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${child.pid}), node-red-node-sqlite ${sqliteNodeVersion}, ${sqliteInfo}`,
      `flow: mqtt in (${SUBSCRIPTION}, QoS 1, utf8) → json → function (msg.params) → sqlite prepared "${STOCK_INSERT}"`,
    ],
  };
}

// ---- one run --------------------------------------------------------------------------------------------

interface RunResult {
  system: System;
  publishers: PublisherReport[];
  completions: Completions;
  acked: number;
  notAcked: number;
  lost: number;
  storedNotAcked: number;
  /** Messages per second between the STEADY_FROM and STEADY_TO completion marks. */
  steadyRate: number;
  /** First publish → last completion. */
  wallS: number;
  latency: Stats;
  puback: Stats;
  /** The most messages at one time that publishers had seen acknowledged and that were not stored (received) yet. */
  atRisk: number;
  memory: Array<WorkProcess & { peak: number; end: number; cpuS: number }>;
  publisherCpuS: number;
  publishErrors: string[];
}

async function measure(scope: Scope, system: System): Promise<RunResult> {
  const publishers = Array.from(
    { length: PUBLISHERS },
    (_, index) =>
      new Child(scope, `publisher ${index}`, "publisher", {
        url: system.url,
        index,
        count: MESSAGES_PER_PUBLISHER,
        window: WINDOW,
        topics: topicsOf(index),
      } satisfies PublisherConfig),
  );
  await Promise.all(publishers.map((p) => p.next("ready", 20_000)));

  const watched = system.processes.filter((p) => fs.existsSync(`/proc/${p.pid}`));
  const peak = new Map<number, number>(watched.map((p) => [p.pid, 0]));
  const sample = () => {
    for (const p of watched) {
      try {
        peak.set(p.pid, Math.max(peak.get(p.pid)!, memoryOf(p.pid).rss));
      } catch {
        // gone: the run will say why
      }
    }
  };
  const cpu0 = new Map(watched.map((p) => [p.pid, cpuOf(p.pid)]));
  const pubCpu0 = publishers.map((p) => cpuOf(p.pid));
  const sampler = setInterval(sample, 200);
  try {
    for (const p of publishers) p.send({ cmd: "go" });
    const total = PUBLISHERS * MESSAGES_PER_PUBLISHER;
    const acked = () => publishers.reduce((sum, p) => sum + p.progress, 0);
    const done = Promise.all(publishers.map((p) => p.next("done", 600_000)));
    done.catch(() => undefined); // awaited below; a publisher gone before then (an interrupted run) is reported there
    await waitProgress(() => (publishers.every((p) => p.finished) ? total : acked()), total, STALL_MS, Date.now() + 300_000);
    // stalled or finished: whoever is not done stops now and reports what it has
    for (const p of publishers) p.send({ cmd: "stop" });
    const reports = (await done).sort((a, b) => a.index - b.index);
    const pubCpu = publishers.reduce((sum, p, i) => sum + (fs.existsSync(`/proc/${p.pid}`) ? cpuOf(p.pid) - pubCpu0[i]! : 0), 0);
    const totalAcked = reports.reduce((sum, r) => sum + r.acked, 0);
    await system.drain(totalAcked);
    sample();
    const memory = watched.map((p) => {
      const m = memoryOf(p.pid);
      return { ...p, peak: Math.max(peak.get(p.pid)!, m.hwm), end: m.rss, cpuS: cpuOf(p.pid) - cpu0.get(p.pid)! };
    });
    const completions = await system.collect(reports);
    return summarise(system, reports, completions, memory, pubCpu);
  } finally {
    clearInterval(sampler);
  }
}

function summarise(system: System, publishers: PublisherReport[], c: Completions, memory: RunResult["memory"], publisherCpuS: number): RunResult {
  let acked = 0;
  let notAcked = 0;
  let lost = 0;
  let storedNotAcked = 0;
  const latencies: number[] = [];
  const pubacks: number[] = [];
  const completions: number[] = [];
  /** (time, +1 acknowledged / −1 stored) for each message stored after its PUBACK, or never */
  const risk: Array<[number, number]> = [];
  let firstSent = Infinity;
  for (const r of publishers) {
    const done = c.doneAt[r.index]!;
    for (let s = 0; s < r.sentAt.length; s++) {
      const sent = r.sentAt[s]!;
      const ack = r.ackAt[s]!;
      const at = done[s]!;
      if (!Number.isNaN(sent)) firstSent = Math.min(firstSent, sent);
      if (Number.isNaN(ack)) notAcked++;
      else {
        acked++;
        pubacks.push(ack - sent);
      }
      if (!Number.isNaN(ack) && !(at <= ack)) {
        risk.push([ack, 1]);
        if (!Number.isNaN(at)) risk.push([at, -1]);
      }
      if (Number.isNaN(at)) {
        if (!Number.isNaN(ack)) lost++;
        continue;
      }
      if (Number.isNaN(ack)) storedNotAcked++;
      if (at > 0) {
        completions.push(at);
        latencies.push(at - sent);
      }
    }
  }
  risk.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let atRisk = 0;
  let held = 0;
  for (const [, d] of risk) atRisk = Math.max(atRisk, (held += d));
  const sorted = Float64Array.from(completions).sort();
  const mark = (f: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.floor(f * sorted.length)))]!;
  const steadyRate = sorted.length > 10 ? ((STEADY_TO - STEADY_FROM) * sorted.length) / ((mark(STEADY_TO) - mark(STEADY_FROM)) / 1000) : NaN;
  return {
    system,
    publishers,
    completions: c,
    acked,
    notAcked,
    lost,
    storedNotAcked,
    steadyRate,
    wallS: sorted.length > 0 ? (sorted[sorted.length - 1]! - firstSent) / 1000 : NaN,
    latency: stats(latencies),
    puback: stats(pubacks),
    atRisk,
    memory,
    publisherCpuS,
    publishErrors: publishers.filter((r) => r.error).map((r) => `publisher ${r.index}: ${r.error}`),
  };
}

// ---- the benchmark --------------------------------------------------------------------------------------

async function runSystem(ctx: BenchContext, title: string, make: (scope: Scope) => Promise<System>): Promise<RunResult> {
  console.log(`\n-- ${title}`);
  const scope = ctx.scope();
  try {
    const system = await make(scope);
    for (const n of system.notes) console.log(`  ${n}`);
    const t0 = Date.now();
    const result = await measure(scope, system);
    console.log(
      `  ${count(result.acked)} acknowledged, ${count(result.acked - result.lost + result.storedNotAcked)} stored/received, ` +
        `${rate(result.steadyRate)} steady, latency p50 ${ms(result.latency.p50)} p99 ${ms(result.latency.p99)}; run took ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    for (const e of result.publishErrors) console.log(`  ${e}`);
    return result;
  } finally {
    await scope.close();
  }
}

export async function runIngest(ctx: BenchContext): Promise<void> {
  const total = PUBLISHERS * MESSAGES_PER_PUBLISHER;
  const example = topicsOf(0)[0]!;
  console.log(
    `  ${PUBLISHERS} publisher processes × ${count(MESSAGES_PER_PUBLISHER)} messages = ${count(total)} per run, QoS 1, ` +
      `≤ ${WINDOW} in flight each, ${topicsOf(0).length * PUBLISHERS} topics like ${example.topic} ← ${reading(example.base, 1234)} ` +
      `(decimals = sequence number); (a) and PiFog ${ROUNDS} rounds each, alternately, then (b) once`,
  );
  await ensureStockInstalled(ctx); // first, so that a failed install costs no measuring
  const raws: RunResult[] = [];
  const pifogs: RunResult[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const of = `round ${round}/${ROUNDS}`;
    raws.push(await runSystem(ctx, `(a) raw, ${of}: aedes broker process + a subscriber process that only counts`, (s) => rawSystem(s)));
    pifogs.push(await runSystem(ctx, `PiFog, ${of}: role sensorhub`, (s) => pifogSystem(ctx, s, round === 1)));
  }
  const stock = await runSystem(ctx, "(b) stock Node-RED: mqtt in → json → one INSERT per message (node-red-node-sqlite)", (s) => stockSystem(ctx, s));
  report(ctx, raws, pifogs, stock);
}

/** The round with the median steady rate. */
function medianRound(rounds: RunResult[]): RunResult {
  const sorted = [...rounds].sort((a, b) => a.steadyRate - b.steadyRate);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

function report(ctx: BenchContext, raws: RunResult[], pifogs: RunResult[], stock: RunResult): void {
  const raw = medianRound(raws);
  const pifog = medianRound(pifogs);
  const results = [raw, pifog, stock];
  const worker = (r: RunResult) => r.memory[0];
  const broker = (r: RunResult) => r.memory.find((m) => m.role === "broker");
  const cpuPerMsg = (r: RunResult) => `${((r.memory.reduce((sum, m) => sum + m.cpuS, 0) / Math.max(1, r.acked)) * 1e6).toFixed(0)} µs`;

  console.log(`\n  Rounds (steady msg/s; latency p50 / p99; lost)`);
  const roundRow = (label: string, r: RunResult) => [label, rate(r.steadyRate), ms(r.latency.p50), ms(r.latency.p99), count(r.lost)];
  console.log(
    table(
      ["", "steady", "p50", "p99", "lost"],
      [
        ...raws.map((r, i) => roundRow(`(a) raw, round ${i + 1}${r === raw ? " (median)" : ""}`, r)),
        ...pifogs.map((r, i) => roundRow(`PiFog, round ${i + 1}${r === pifog ? " (median)" : ""}`, r)),
        roundRow("(b) stock", stock),
      ],
    ),
  );

  console.log(
    `\n  Side by side: the same ${PUBLISHERS} publishers and ${count(PUBLISHERS * MESSAGES_PER_PUBLISHER)} messages; the median round of ` +
      `(a) and of PiFog.\n  steady = messages completed between the ${STEADY_FROM * 100} % and ${STEADY_TO * 100} % completion marks per ` +
      `second; overall = first publish → last completion;\n  RSS peak = max(VmRSS every 200 ms, VmHWM); CPU = user + system of the ` +
      `worker and broker processes during the run`,
  );
  console.log(
    table(
      ["", "steady msg/s", "overall", "lost", "dup", "p50", "p99", "max", "worker RSS peak", "broker RSS peak", "CPU s", "CPU/msg"],
      results.map((r) => [
        r.system.label,
        rate(r.steadyRate),
        rate((r.acked - r.lost) / r.wallS),
        count(r.lost),
        count(r.completions.duplicates),
        ms(r.latency.p50),
        ms(r.latency.p99),
        ms(r.latency.max),
        worker(r) ? `${mib(worker(r)!.peak)} (${worker(r)!.role})` : "–",
        broker(r) ? mib(broker(r)!.peak) : "(inside)",
        r.memory.map((m) => m.cpuS.toFixed(1)).join(" + "),
        cpuPerMsg(r),
      ]),
    ),
  );
  console.log("  latency is:");
  for (const r of results) console.log(`    ${r.system.label}: ${r.system.measuredAs}`);

  console.log(`\n  Diagnostics (not targets)`);
  console.log(
    table(
      ["", "PUBACK p50", "PUBACK p99", "acked, not yet stored (max)", "not acked", "stored, not acked", "strays", "publishers' CPU s"],
      results.map((r) => [
        r.system.label,
        ms(r.puback.p50),
        ms(r.puback.p99),
        count(r.atRisk),
        count(r.notAcked),
        count(r.storedNotAcked),
        count(r.completions.strays),
        r.publisherCpuS.toFixed(1),
      ]),
    ),
  );
  console.log(
    `  PUBACK = publish → PUBACK at the publisher: (a)'s and (b)'s broker acknowledges on receipt, PiFog's after the\n` +
      `  commit. "acked, not yet stored" = the most messages at once that publishers had been told were taken and\n` +
      `  that a crash of the worker would have lost (PiFog: 0 by construction, the commit precedes the PUBACK).\n` +
      `  end-of-run RSS: ${results.map((r) => `${r.system.label.split(" ")[0]} ${r.memory.map((m) => `${m.role} ${mib(m.end)}`).join(", ")}`).join("; ")}\n` +
      `  ${os.cpus().length} CPUs here, shared by the ${PUBLISHERS} publishers, the broker and the worker`,
  );

  const vsRaw = pifog.steadyRate / raw.steadyRate;
  const vsStock = pifog.steadyRate / stock.steadyRate;
  const pifogLost = pifogs.reduce((sum, r) => sum + r.lost, 0);
  const pifogAcked = pifogs.reduce((sum, r) => sum + r.acked, 0);
  const pifogDup = pifogs.reduce((sum, r) => sum + r.completions.duplicates, 0);
  const pifogNotAcked = pifogs.reduce((sum, r) => sum + r.notAcked, 0);
  console.log(`\n  PiFog / (a) raw = ${(vsRaw * 100).toFixed(1)} %;  PiFog / (b) stock = ${vsStock.toFixed(2)}×  (median rounds)`);
  console.log("");
  ctx.target({
    target: "PiFog loses nothing: 0 acknowledged messages missing from history.db",
    measured: `${count(pifogLost)} lost of ${count(pifogAcked)} acknowledged over ${pifogs.length} rounds (${count(pifogDup)} stored twice, ${count(pifogNotAcked)} not acknowledged)`,
    pass: pifogLost === 0 && pifogAcked > 0,
  });
  ctx.target({
    target: "PiFog ≥ 70 % of (a) raw broker throughput",
    measured: `${rate(pifog.steadyRate)} vs ${rate(raw.steadyRate)} = ${(vsRaw * 100).toFixed(1)} %`,
    pass: vsRaw >= 0.7,
  });
  ctx.target({
    target: "PiFog ≥ 5× (b) stock Node-RED + node-red-node-sqlite",
    measured: `${rate(pifog.steadyRate)} vs ${rate(stock.steadyRate)} = ${vsStock.toFixed(2)}×`,
    pass: vsStock >= 5,
  });
}
