// What a health report says about the machine a role runs on (issue 13): CPU temperature (the Pi's thermal zone,
// through the device's driver; null off a Pi), load, memory, the data dir's disk, uptime, PiFog's version, and the
// last error: the newest record of this data dir's dead-letter file (`dead-letter.jsonl`, where every node puts the
// input it failed on, with why). Read from its tail only, so a full record costs a Pi Zero nothing every minute.
import fs from "node:fs";
import os from "node:os";
import type { DeadLetter } from "../dead-letter";
import type { HealthReport } from "../camera/types";

/** Where a report's numbers come from: the machine itself, or a test's stand-in. */
export interface HostProbe {
  /** °C, or null when there is no thermal zone to read (off a Pi). */
  cpuTemperatureC(): Promise<number | null>;
  load(): [number, number, number];
  memory(): { totalBytes: number; availableBytes: number };
  disk(dir: string): Promise<{ totalBytes: number; availableBytes: number }>;
  uptimeSeconds(): number;
  /** The newest error of this runtime, or null. */
  lastError(): { at: number; message: string } | null;
}

/** MemAvailable (what a new process can have without swapping); the free memory where the kernel does not say. */
export function availableMemory(meminfo = "/proc/meminfo"): number {
  try {
    const m = /^MemAvailable:\s+(\d+)\s*kB/m.exec(fs.readFileSync(meminfo, "utf8"));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return os.freemem();
}

export async function diskOf(dir: string): Promise<{ totalBytes: number; availableBytes: number }> {
  const s = await fs.promises.statfs(dir);
  return { totalBytes: s.blocks * s.bsize, availableBytes: s.bavail * s.bsize };
}

const TAIL_BYTES = 16 * 1024;

/** The last complete JSON line of `file` (its tail only), or null. */
function lastLine<T>(file: string): T | null {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch {
    return null;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const length = Math.min(size, TAIL_BYTES);
    const buf = Buffer.alloc(length);
    fs.readSync(fd, buf, 0, length, size - length);
    const lines = buf.toString("utf8").split("\n").filter((l) => l.trim() !== "");
    for (let i = lines.length - 1; i >= 0; i--) {
      try {
        return JSON.parse(lines[i]!) as T;
      } catch {
        // a torn line, or the first one cut by the tail: the one before
      }
    }
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

/** The newest dead letter of the record at `file` (the current file, else the last rotated one), as a report's lastError. */
export function newestDeadLetter(file: string): { at: number; message: string } | null {
  const letter = lastLine<DeadLetter>(file) ?? lastLine<DeadLetter>(`${file}.1`);
  if (!letter) return null;
  const at = Date.parse(letter.at);
  const message = `${letter.type ?? "node"}: ${letter.error ?? "?"}`;
  return { at: Number.isFinite(at) ? at : 0, message: message.length > 300 ? `${message.slice(0, 299)}…` : message };
}

/** The machine this runtime runs on. `temperature`: the device's CPU-temperature driver on a Pi, else null. */
export function hostProbe(o: { temperature: (() => Promise<number>) | null; deadLetterFile: string }): HostProbe {
  return {
    cpuTemperatureC: async () => {
      if (!o.temperature) return null;
      try {
        const t = await o.temperature();
        return Number.isFinite(t) ? Math.round(t * 10) / 10 : null;
      } catch {
        return null;
      }
    },
    load: () => os.loadavg().map((v) => Math.round(v * 100) / 100) as [number, number, number],
    memory: () => ({ totalBytes: os.totalmem(), availableBytes: availableMemory() }),
    disk: diskOf,
    uptimeSeconds: () => Math.round(os.uptime()),
    lastError: () => newestDeadLetter(o.deadLetterFile),
  };
}

/** One report, as `pifog/<device>/health` carries it. */
export async function healthReport(
  probe: HostProbe,
  o: { device: string; at: number; version: string; dataDir: string; intervalSeconds: number },
): Promise<HealthReport> {
  const [cpuTemperatureC, disk] = await Promise.all([probe.cpuTemperatureC(), probe.disk(o.dataDir).catch(() => ({ totalBytes: 0, availableBytes: 0 }))]);
  return {
    device: o.device,
    at: o.at,
    version: o.version,
    uptimeSeconds: probe.uptimeSeconds(),
    load: probe.load(),
    cpuTemperatureC,
    memory: probe.memory(),
    disk,
    lastError: probe.lastError(),
    intervalSeconds: o.intervalSeconds,
  };
}

/** Whether `value` is a health report as the contract has it (what the hub takes from the network). */
export function isHealthReport(value: unknown, device: string): value is HealthReport {
  if (!value || typeof value !== "object") return false;
  const r = value as Record<string, unknown>;
  const num = (v: unknown) => typeof v === "number" && Number.isFinite(v);
  const pair = (v: unknown) => !!v && typeof v === "object" && num((v as Record<string, unknown>).totalBytes) && num((v as Record<string, unknown>).availableBytes);
  return (
    r.device === device &&
    num(r.at) &&
    typeof r.version === "string" &&
    r.version.length <= 64 &&
    num(r.uptimeSeconds) &&
    Array.isArray(r.load) &&
    r.load.length === 3 &&
    r.load.every(num) &&
    (r.cpuTemperatureC === null || num(r.cpuTemperatureC)) &&
    pair(r.memory) &&
    pair(r.disk) &&
    num(r.intervalSeconds) &&
    (r.intervalSeconds as number) >= 1 &&
    (r.intervalSeconds as number) <= 86_400 &&
    (r.lastError === null ||
      (!!r.lastError && typeof r.lastError === "object" && num((r.lastError as Record<string, unknown>).at) && typeof (r.lastError as Record<string, unknown>).message === "string"))
  );
}
