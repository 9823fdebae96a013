// `npm run bench -- [name…]`: runs the named benchmarks (all of them without a name), prints each one's
// figures and a PASS/FAIL line per target. A missed target does not fail the process; an error does.
// Every child process and temp dir a benchmark starts is registered here and cleaned up, on error and on
// SIGINT/SIGTERM too.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runBroker } from "./broker";
import { measureCameraMemory } from "./camera-memory";
import { runClips } from "./clips";
import { runDoors } from "./doors";
import { runFaces } from "./faces";
import { runHostile } from "./hostile";
import { runIngest } from "./ingest";
import { runMotion } from "./motion";

/** The repository root, from dist/bench/run.js. */
export const ROOT = path.resolve(__dirname, "..", "..");

export interface TargetResult {
  bench: string;
  target: string;
  measured: string;
  pass: boolean;
}

/** Clean-up steps for what a piece of a benchmark started: children to stop, temp dirs to remove. */
export class Scope {
  private readonly steps: Cleanup[] = [];
  private closed = false;

  constructor(private readonly live: Set<Scope>) {
    live.add(this);
  }

  /** `run` cleans up when the scope closes (newest first); `sync` is the last resort when the process exits
   * before `run` could (e.g. SIGKILL the child, rmSync the dir). */
  defer(name: string, run: () => Promise<void> | void, sync?: () => void): void {
    if (this.closed) {
      // started by something still under way when its scope was closed (an interrupted benchmark)
      if (sync) sync();
      else void Promise.resolve().then(run).catch(() => undefined);
      return;
    }
    this.steps.push({ name, run, sync });
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.run();
      } catch (err) {
        console.error(`bench: clean-up "${step.name}" failed: ${(err as Error).message}`);
        try {
          step.sync?.();
        } catch {
          // nothing more to do
        }
      }
    }
    this.live.delete(this);
  }

  closeSync(): void {
    this.closed = true;
    while (this.steps.length > 0) {
      try {
        this.steps.pop()!.sync?.();
      } catch {
        // exiting anyway
      }
    }
    this.live.delete(this);
  }
}

export interface BenchContext {
  root: string;
  /** A new clean-up scope; close it when its part is done. Any scope still open is closed when the
   * benchmark ends, however it ends (error, SIGINT/SIGTERM, exit). */
  scope(): Scope;
  target(result: Omit<TargetResult, "bench">): void;
}

export interface Benchmark {
  description: string;
  run(ctx: BenchContext): Promise<void>;
}

export const BENCHMARKS: Record<string, Benchmark> = {
  broker: {
    description:
      "QoS 1 pub → persistent-session sub through the embedded broker with the SQLite persistence, beside aedes in memory and Mosquitto (persistence on): msg/s, p50/p99, ratios",
    run: runBroker,
  },
  clips: {
    description: "the clip writer's CPU per minute of 640×480 10 fps video: recording into the spool, and the remux to MP4 (ffmpeg's own CPU)",
    run: runClips,
  },
  doors: {
    description: "door flip → matrix frame latency (role all) and idle RSS of role doorpi vs bare node-red",
    run: runDoors,
  },
  faces: {
    description: "face detection ms per 640×480 frame on the camera fixtures (face-api tiny, WASM) beside an OpenCV Haar baseline, faces found vs expected",
    run: runFaces,
  },
  hostile: {
    description: "the hostile-input attacks (wrong logins, heavy history queries, a stalled subscriber, dashboard garbage, a 50 MB publish): round trips and a door pulse under each, beside the quiet runtime",
    run: runHostile,
  },
  motion: {
    description:
      "decode + motion detection frames per CPU-second at 640×480 on a recorded simulated stream, beside Debian's motion daemon on the same stream; the clip writer's CPU per minute of video; the camera role's RSS while it records and streams, beside a bare Node-RED",
    run: async (ctx) => {
      await runMotion(ctx);
      await runClips(ctx);
      await measureCameraMemory(ctx);
    },
  },
  ingest: {
    description:
      "QoS 1 publishers → PiFog sensorhub (history + hub flow) beside raw aedes pub/sub and stock Node-RED + node-red-node-sqlite: msg/s, loss, latency, RSS",
    run: runIngest,
  },
};

interface Cleanup {
  name: string;
  run: () => Promise<void> | void;
  sync?: () => void;
}

const live = new Set<Scope>();

async function closeAll(): Promise<void> {
  await Promise.all([...live].map((scope) => scope.close()));
}

function closeAllSync(): void {
  for (const scope of [...live]) scope.closeSync();
  killOwnChildren();
}

/** The safety net: SIGKILLs this process's own children still running (e.g. a runtime interrupted while it
 * was starting, before the benchmark could register it); returns their pids. */
function killOwnChildren(): number[] {
  const killed: number[] = [];
  let entries: string[] = [];
  try {
    entries = fs.readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return killed;
  }
  for (const entry of entries) {
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      // pid (comm) state ppid …; comm may hold spaces and parentheses
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid) {
        process.kill(Number(entry), "SIGKILL");
        killed.push(Number(entry));
      }
    } catch {
      // gone already
    }
  }
  return killed;
}

const loadavg = () => os.loadavg().map((l) => l.toFixed(2)).join(" ");

let interrupted = false;
function onSignal(signal: NodeJS.Signals): void {
  if (interrupted) return;
  interrupted = true;
  console.error(`\nbench: ${signal}, cleaning up`);
  const force = setTimeout(() => {
    closeAllSync();
    process.exit(130);
  }, 15_000);
  force.unref();
  closeAll().finally(() => {
    killOwnChildren();
    process.exit(130);
  });
}

async function main(argv: string[]): Promise<number> {
  const names = argv.length > 0 ? argv : Object.keys(BENCHMARKS);
  const unknown = names.filter((n) => !(n in BENCHMARKS));
  if (unknown.length > 0) {
    console.error(`bench: no benchmark named ${unknown.join(", ")}; there are:`);
    for (const [name, b] of Object.entries(BENCHMARKS)) console.error(`  ${name.padEnd(8)} ${b.description}`);
    return 2;
  }
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  process.once("exit", closeAllSync);

  const cpus = os.cpus();
  console.log(
    `PiFog bench — node ${process.version}, ${os.platform()} ${os.arch()}, ` +
      `${cpus.length} × ${cpus[0]?.model.trim() ?? "cpu"}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ` +
      `load average ${loadavg()} (other work on the machine shows in the p99s)`,
  );
  const results: TargetResult[] = [];
  const errors: string[] = [];
  for (const name of names) {
    const bench = BENCHMARKS[name]!;
    console.log(`\n=== ${name}: ${bench.description}`);
    const started = Date.now();
    const ctx: BenchContext = {
      root: ROOT,
      scope: () => new Scope(live),
      target: (r) => {
        const result = { bench: name, ...r };
        results.push(result);
        console.log(`  ${result.pass ? "PASS" : "FAIL"}  ${r.target}: ${r.measured}`);
      },
    };
    try {
      await bench.run(ctx);
    } catch (err) {
      errors.push(name);
      console.error(`\nbench ${name}: ERROR ${(err as Error).stack ?? String(err)}`);
    } finally {
      await closeAll();
      const leaked = killOwnChildren();
      if (leaked.length > 0) console.error(`bench ${name}: killed child processes left running: ${leaked.join(", ")}`);
    }
    console.log(`  (${name} took ${((Date.now() - started) / 1000).toFixed(1)} s; load average now ${loadavg()})`);
  }

  console.log("\n=== targets");
  for (const r of results) console.log(`  ${r.pass ? "PASS" : "FAIL"}  [${r.bench}] ${r.target} — ${r.measured}`);
  for (const e of errors) console.log(`  ERROR [${e}] the benchmark did not finish; see above`);
  return errors.length > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error("bench:", err);
    process.exitCode = 1;
  },
);
