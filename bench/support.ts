// What every benchmark uses: percentiles, printing, temp dirs and child processes tied to a cleanup scope,
// and a process's memory from /proc.
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Scope } from "./run";

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface Stats {
  n: number;
  p50: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/** Nearest-rank percentiles: p99 of 1,000 samples is the 990th smallest. NaN everywhere for no samples. */
export function stats(samples: Float64Array | number[]): Stats {
  if (samples.length === 0) return { n: 0, p50: NaN, p99: NaN, mean: NaN, min: NaN, max: NaN };
  const s = Float64Array.from(samples).sort();
  const rank = (p: number) => s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
  return { n: s.length, p50: rank(50), p99: rank(99), mean: s.reduce((a, b) => a + b, 0) / s.length, min: s[0]!, max: s[s.length - 1]! };
}

export const ms = (v: number) => (Number.isNaN(v) ? "–" : `${v.toFixed(v < 10 ? 2 : 1)} ms`);
export const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

export function table(header: string[], rows: string[][], alignLeft = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    "  " + cells.map((c, i) => (i < alignLeft ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("   ");
  return [line(header), "  " + widths.map((w) => "-".repeat(w)).join("   "), ...rows.map(line)].join("\n");
}

export function tempDir(scope: Scope, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const rm = () => fs.rmSync(dir, { recursive: true, force: true });
  scope.defer(`remove ${dir}`, rm, rm);
  return dir;
}

export function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** SIGTERM, then SIGKILL if it has not gone in 10 s. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  if (await waitExit(child, 10_000)) return;
  child.kill("SIGKILL");
  await waitExit(child, 5_000);
}

export function killChildSync(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}

/** VmRSS, RssAnon and VmHWM (peak) of a process, in KiB. */
export function memoryOf(pid: number): { rss: number; anon: number; hwm: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, "m").exec(status);
    if (!m) throw new Error(`no ${name} in /proc/${pid}/status`);
    return Number(m[1]);
  };
  return { rss: field("VmRSS"), anon: field("RssAnon"), hwm: field("VmHWM") };
}
