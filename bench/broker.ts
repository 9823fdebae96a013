// The broker benchmark: QoS 1 pub → sub through a persistent session (clean session off, a fixed client id, a
// QoS 1 subscription), three brokers one after the other in the same run, with the same load:
//   memory:    PiFog's EmbeddedBroker with aedes' default in-memory persistence (forgets everything on restart);
//   sqlite:    PiFog's EmbeddedBroker with the SQLite persistence as the runtime ships it (broker.db, WAL,
//              synchronous=NORMAL; a QoS 1 message is journaled before its PUBACK, queued, marked sent and cleared,
//              each turn's writes group-committed on the event loop's thread);
//   sqlite-full: the same with PIFOG_BROKER_SYNC=full (an fsync per commit, on a writer thread), for comparison;
//   mosquitto: Mosquitto with PiFog's broker config (docker/mosquitto/pifog.conf: persistence on, queue limits off).
// Each broker runs in its own process; the load (one publisher, one subscriber, one clock) in another: two busy
// processes for a machine that may have two cores. The publisher keeps WINDOW messages unacknowledged at most.
// Target: sqlite ≥ 80 % of memory's throughput.
//
// This file is also the children's entry point: `node dist/bench/broker.js <broker|load> <json>`.
import { fork, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import mqtt from "mqtt";
import { EmbeddedBroker } from "../nodes/lib/broker/embedded-broker";
import { SqlitePersistence } from "../nodes/lib/broker/sqlite-persistence";
import { topics } from "../nodes/lib/contract";
import { startMosquitto } from "../test/support/mosquitto";
import type { BenchContext, Scope } from "./run";
import { killChildSync, ms, stats, stopChild, table, tempDir, waitExit, type Stats } from "./support";

const MESSAGES = 20_000;
const WINDOW = 100;
/** The machine's other work moves single rounds by tens of per cent: the median of five. */
const ROUNDS = 5;
const PAYLOAD_BYTES = 64;
/** The steady part: between the 10 % and the 90 % receipt marks. */
const STEADY_FROM = 0.1;
const STEADY_TO = 0.9;
const STALL_MS = 15_000;
const DEVICE = "benchpi";
const TOPIC = topics.simSet(DEVICE, "load");
const FILTER = `pifog/${DEVICE}/sim/#`;
const SUBSCRIBER_ID = "bench-persistent-subscriber";

/** sqlite: as shipped (NORMAL: safe from a crash of the process, not of the machine); sqlite-full: FULL (a power cut too). */
type Kind = "memory" | "sqlite" | "sqlite-full" | "mosquitto";

// ---- the children -------------------------------------------------------------------------------------------

interface BrokerConfig {
  persistence: "memory" | "sqlite";
  file?: string;
  synchronous?: "full" | "normal";
}

type BrokerMessage = { type: "ready"; port: number } | { type: "stats"; commits: number } | { type: "error"; message: string };

async function brokerMain(c: BrokerConfig): Promise<void> {
  const persistence = c.persistence === "sqlite" ? new SqlitePersistence({ file: c.file!, synchronous: c.synchronous }) : undefined;
  const broker = await EmbeddedBroker.start({ port: 0, host: "127.0.0.1", persistence });
  process.on("message", (m: { cmd: string }) => {
    if (m.cmd === "stats") process.send?.({ type: "stats", commits: persistence?.commits ?? 0 } satisfies BrokerMessage);
    if (m.cmd === "stop") {
      setTimeout(() => process.exit(0), 5_000).unref();
      broker.close().finally(() => process.exit(0));
    }
  });
  process.send?.({ type: "ready", port: broker.port } satisfies BrokerMessage);
}

interface LoadConfig {
  url: string;
  count: number;
  window: number;
}

interface LoadReport {
  type: "done";
  acked: number;
  received: number;
  duplicates: number;
  error: string | null;
  /** ms (one clock: this process's) per sequence number; NaN: never. */
  sentAt: number[];
  recvAt: number[];
}

async function loadMain(c: LoadConfig): Promise<void> {
  const sentAt = new Float64Array(c.count).fill(NaN);
  const recvAt = new Float64Array(c.count).fill(NaN);
  let received = 0;
  let duplicates = 0;
  let acked = 0;
  let finished = false;
  const options = { reconnectPeriod: 0, connectTimeout: 10_000, keepalive: 60 };
  const subscriber = await mqtt.connectAsync(c.url, { ...options, clientId: SUBSCRIBER_ID, clean: false });
  await subscriber.subscribeAsync(FILTER, { qos: 1 });
  const publisher = await mqtt.connectAsync(c.url, { ...options, clientId: `bench-publisher-${process.pid}` });
  for (const client of [subscriber, publisher]) (client.stream as import("node:net").Socket).setNoDelay(true);
  const pad = "x".repeat(PAYLOAD_BYTES);

  const finish = (error: string | null) => {
    if (finished) return;
    finished = true;
    clearInterval(watchdog);
    const report: LoadReport = { type: "done", acked, received, duplicates, error, sentAt: [...sentAt], recvAt: [...recvAt] };
    process.send?.(report, () => {
      void Promise.all([subscriber.endAsync(true), publisher.endAsync(true)]).finally(() => process.exit(0));
    });
  };
  let lastMove = Date.now();
  let lastCount = 0;
  const watchdog = setInterval(() => {
    if (received + acked !== lastCount) {
      lastCount = received + acked;
      lastMove = Date.now();
    } else if (Date.now() - lastMove > STALL_MS) finish(`stalled at ${acked} acknowledged, ${received} received`);
  }, 250);

  subscriber.on("message", (_topic, payload) => {
    const at = performance.now();
    const seq = Number(payload.subarray(0, payload.indexOf(32)).toString());
    if (!(seq >= 0 && seq < c.count)) return;
    if (!Number.isNaN(recvAt[seq]!)) duplicates++;
    else {
      recvAt[seq] = at;
      received++;
    }
    if (received === c.count && acked === c.count) finish(null);
  });
  let next = 0;
  let inFlight = 0;
  const pump = () => {
    while (inFlight < c.window && next < c.count && !finished) {
      const seq = next++;
      inFlight++;
      sentAt[seq] = performance.now();
      publisher.publish(TOPIC, `${seq} ${pad}`, { qos: 1 }, (err) => {
        inFlight--;
        if (err) return finish(`publish ${seq}: ${err.message}`);
        acked++;
        if (received === c.count && acked === c.count) finish(null);
        else pump();
      });
    }
  };
  pump();
}

function childMain(mode: string, config: string): void {
  process.on("disconnect", () => process.exit(0));
  const fail = (err: unknown) => {
    process.send?.({ type: "error", message: (err as Error).stack ?? String(err) });
    setTimeout(() => process.exit(1), 100);
  };
  process.on("uncaughtException", fail);
  const run = mode === "broker" ? brokerMain : mode === "load" ? loadMain : null;
  if (!run) return fail(new Error(`unknown child mode ${mode}`));
  run(JSON.parse(config)).catch(fail);
}

if (require.main === module) childMain(process.argv[2] ?? "", process.argv[3] ?? "{}");

// ---- the parent -----------------------------------------------------------------------------------------------

function forkChild(scope: Scope, label: string, mode: string, config: unknown): ChildProcess {
  const child = fork(__filename, [mode, JSON.stringify(config)], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    serialization: "advanced",
    execArgv: [],
  });
  scope.defer(
    `stop ${label} (pid ${child.pid})`,
    async () => {
      if (child.connected) child.send({ cmd: "stop" });
      if (!(await waitExit(child, 5_000))) await stopChild(child);
    },
    () => killChildSync(child),
  );
  child.on("error", () => undefined);
  return child;
}

function nextMessage<T extends { type: string }>(child: ChildProcess, type: T["type"], timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no "${type}" from pid ${child.pid} within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m: { type: string; message?: string }) => {
      if (m.type === "error") done(new Error(m.message));
      else if (m.type === type) done(null, m as T);
    };
    const onExit = (code: number | null) => done(new Error(`pid ${child.pid} exited (${code}) before "${type}"`));
    const done = (err: Error | null, m?: T) => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
      if (err) reject(err);
      else resolve(m!);
    };
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}

/** User + system CPU seconds a process has used. */
function cpuOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Round {
  kind: Kind;
  rate: number;
  latency: Stats;
  acked: number;
  received: number;
  duplicates: number;
  brokerCpuMsPerK: number;
  commitsPerMessage: number | null;
  error: string | null;
}

interface StartedBroker {
  url: string;
  pid: number;
  commits(): Promise<number | null>;
}

async function startBroker(ctx: BenchContext, scope: Scope, kind: Kind): Promise<StartedBroker> {
  if (kind === "mosquitto") {
    const shipped = fs
      .readFileSync(path.join(ctx.root, "docker", "mosquitto", "pifog.conf"), "utf8")
      .split("\n")
      .filter((l) => !/^\s*(listener|persistence_location)\b/.test(l));
    const data = tempDir(scope, "pifog-bench-mosquitto-");
    const mosquitto = await startMosquitto([...shipped, `persistence_location ${data}/`], { replaceDefaults: true });
    scope.defer("stop mosquitto", () => mosquitto.stop());
    const pid = mosquittoPid(mosquitto.port);
    return { url: mosquitto.url, pid, commits: async () => null };
  }
  const dir = tempDir(scope, "pifog-bench-broker-");
  const config: BrokerConfig =
    kind === "memory" ? { persistence: "memory" } : { persistence: "sqlite", file: path.join(dir, "broker.db"), synchronous: kind === "sqlite-full" ? "full" : "normal" };
  const child = forkChild(scope, `${kind} broker`, "broker", config);
  const ready = await nextMessage<Extract<BrokerMessage, { type: "ready" }>>(child, "ready", 20_000);
  return {
    url: `mqtt://127.0.0.1:${ready.port}`,
    pid: child.pid!,
    commits: async () => {
      child.send({ cmd: "stats" });
      return config.persistence === "sqlite" ? (await nextMessage<Extract<BrokerMessage, { type: "stats" }>>(child, "stats", 5_000)).commits : null;
    },
  };
}

/** The Mosquitto process listening on `port` (startMosquitto keeps its child to itself). */
function mosquittoPid(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    if (!fs.existsSync(table)) continue;
    for (const line of fs.readFileSync(table, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[1]?.endsWith(`:${hex}`) && f[3] === "0A") inodes.add(f[9]!);
    }
  }
  for (const entry of fs.readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      for (const fd of fs.readdirSync(`/proc/${entry}/fd`)) {
        const link = fs.readlinkSync(`/proc/${entry}/fd/${fd}`);
        const m = /^socket:\[(\d+)\]$/.exec(link);
        if (m && inodes.has(m[1]!)) return Number(entry);
      }
    } catch {
      // not ours, or gone
    }
  }
  return NaN;
}

async function runRound(ctx: BenchContext, kind: Kind): Promise<Round> {
  const scope = ctx.scope();
  try {
    const broker = await startBroker(ctx, scope, kind);
    const cpu0 = Number.isNaN(broker.pid) ? NaN : cpuOf(broker.pid);
    const commits0 = await broker.commits();
    const load = forkChild(scope, `${kind} load`, "load", { url: broker.url, count: MESSAGES, window: WINDOW } satisfies LoadConfig);
    const report = await nextMessage<LoadReport>(load, "done", 300_000);
    const cpu = Number.isNaN(broker.pid) ? NaN : cpuOf(broker.pid) - cpu0;
    const commits1 = await broker.commits();
    const recv = report.recvAt.filter((t) => !Number.isNaN(t)).sort((a, b) => a - b);
    const from = recv[Math.floor(recv.length * STEADY_FROM)]!;
    const to = recv[Math.max(0, Math.ceil(recv.length * STEADY_TO) - 1)]!;
    const steady = Math.ceil(recv.length * STEADY_TO) - Math.floor(recv.length * STEADY_FROM) - 1;
    const latencies = report.recvAt.map((t, i) => t - report.sentAt[i]!).filter((l) => !Number.isNaN(l));
    return {
      kind,
      rate: recv.length > 10 ? (steady * 1000) / (to - from) : 0,
      latency: stats(latencies),
      acked: report.acked,
      received: report.received,
      duplicates: report.duplicates,
      brokerCpuMsPerK: (cpu * 1000 * 1000) / Math.max(1, report.received),
      commitsPerMessage: commits0 === null || commits1 === null ? null : (commits1 - commits0) / Math.max(1, report.received),
      error: report.error,
    };
  } finally {
    await scope.close();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const rate = (r: number) => `${Math.round(r).toLocaleString("en-US")}/s`;
const pct = (r: number) => `${(r * 100).toFixed(0)} %`;

export async function runBroker(ctx: BenchContext): Promise<void> {
  console.log(
    `  ${MESSAGES.toLocaleString("en-US")} QoS 1 messages (${PAYLOAD_BYTES + 6}-byte payloads) a round, window ${WINDOW}, ` +
      `to one persistent-session subscriber (clean session off, QoS 1); ${ROUNDS} rounds each, interleaved, median reported`,
  );
  const kinds: Kind[] = ["memory", "sqlite", "sqlite-full", "mosquitto"];
  const rounds: Round[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const kind of kinds) {
      const round = await runRound(ctx, kind);
      rounds.push(round);
      console.log(
        `  round ${r + 1} ${kind.padEnd(13)} ${rate(round.rate).padStart(9)}  p50 ${ms(round.latency.p50)}  p99 ${ms(round.latency.p99)}` +
          `  received ${round.received}/${round.acked}${round.duplicates ? `, ${round.duplicates} duplicates` : ""}${round.error ? `  ERROR ${round.error}` : ""}`,
      );
    }
  }
  const summary = kinds.map((kind) => {
    const own = rounds.filter((r) => r.kind === kind);
    return {
      kind,
      range: `${rate(Math.min(...own.map((r) => r.rate)))}–${rate(Math.max(...own.map((r) => r.rate)))}`,
      rate: median(own.map((r) => r.rate)),
      p50: median(own.map((r) => r.latency.p50)),
      p99: median(own.map((r) => r.latency.p99)),
      cpu: median(own.map((r) => r.brokerCpuMsPerK)),
      commits: own[0]!.commitsPerMessage === null ? null : median(own.map((r) => r.commitsPerMessage!)),
      lost: own.reduce((n, r) => n + (r.acked - r.received), 0),
      errors: own.filter((r) => r.error).length,
    };
  });
  const memory = summary.find((s) => s.kind === "memory")!;
  const sqlite = summary.find((s) => s.kind === "sqlite")!;
  const mosquitto = summary.find((s) => s.kind === "mosquitto")!;
  const label: Record<Kind, string> = {
    memory: "aedes, in-memory persistence",
    sqlite: "aedes, SQLite persistence (PiFog)",
    "sqlite-full": "  the same, PIFOG_BROKER_SYNC=full",
    mosquitto: "Mosquitto 2, pifog.conf (persistence on)",
  };
  console.log(
    "\n" +
      table(
        ["broker", "msg/s", "(rounds)", "vs memory", "vs mosquitto", "p50", "p99", "broker CPU ms / 1k msg", "commits / msg", "lost"],
        summary.map((s) => [
          label[s.kind],
          rate(s.rate),
          s.range,
          pct(s.rate / memory.rate),
          pct(s.rate / mosquitto.rate),
          ms(s.p50),
          ms(s.p99),
          Number.isNaN(s.cpu) ? "–" : s.cpu.toFixed(0),
          s.commits === null ? "–" : s.commits.toFixed(2),
          String(s.lost),
        ]),
      ),
  );
  console.log(
    "  (msg/s: the steady 10–90 % of receipts, median of the rounds; p50/p99: publish → receipt; broker CPU: the broker\n" +
      "   process, its threads included. PiFog's SQLite persistence commits a QoS 1 message before the PUBACK: as shipped\n" +
      "   (synchronous=NORMAL, WAL) on the event loop's thread with no fsync, safe from a SIGKILL, not from a power cut;\n" +
      "   with PIFOG_BROKER_SYNC=full an fsync per transaction, on a writer thread, safe from a power cut too. Mosquitto's\n" +
      "   persistence writes a snapshot every autosave_interval (30 s in pifog.conf): what it acknowledged since is lost\n" +
      "   to a crash.)",
  );
  const ratio = sqlite.rate / memory.rate;
  ctx.target({ target: "SQLite persistence (as shipped) ≥ 80 % of in-memory QoS 1 throughput (persistent session)", measured: `${pct(ratio)} (${rate(sqlite.rate)} vs ${rate(memory.rate)}; Mosquitto ${rate(mosquitto.rate)})`, pass: ratio >= 0.8 });
  ctx.target({
    target: "nothing acknowledged is lost (every round, every broker)",
    measured: `${summary.reduce((n, s) => n + s.lost, 0)} lost, ${summary.reduce((n, s) => n + s.errors, 0)} rounds with errors`,
    pass: summary.every((s) => s.lost === 0 && s.errors === 0),
  });
}
