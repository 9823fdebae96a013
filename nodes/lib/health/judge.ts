// The hub's judgement of every device's health reports (issue 13): a device whose reports stop (none for twice its
// interval plus a grace) is unhealthy, and healthy again when they return; each change is announced once, as Pi In
// The Sky did: "<name> is now UNHEALTHY" / "<name> is now HEALTHY". Time is the runtime's clock. A hub that restarts
// takes up its earlier judgements (the retained `health/state`) and the retained reports, judged by the time each
// report says it was made, so neither its own downtime nor its first look at a device raises an alarm.
import type { HealthReport, HealthState } from "../camera/types";

export type Health = HealthState["state"];

/** What the hub knows of one device's health (the Devices tab shows it). */
export interface DeviceHealth {
  device: string;
  /** The judgement announced last; null before the first. */
  state: Health | null;
  since: number | null;
  lastReportAt: number | null;
  report: HealthReport | null;
}

/** A judgement that changed: publish `state`; `notify` unless it is the first look at the device. */
export interface HealthChange {
  device: string;
  state: HealthState;
  notify: boolean;
  text: string;
}

interface Record {
  lastReportAt: number | null;
  report: HealthReport | null;
  announced: HealthState | null;
}

export function healthText(device: string, state: Health): string {
  return `${device} is now ${state.toUpperCase()}`;
}

export class HealthJudge {
  private readonly records = new Map<string, Record>();

  constructor(private readonly o: { graceMs: number; now: () => number }) {}

  private record(device: string): Record {
    let r = this.records.get(device);
    if (!r) this.records.set(device, (r = { lastReportAt: null, report: null, announced: null }));
    return r;
  }

  /** A report arrived. A retained one (sent again on a new subscription) counts from the time it says it was made. */
  report(report: HealthReport, retained: boolean): void {
    const r = this.record(report.device);
    const now = this.o.now();
    const at = retained ? Math.min(report.at, now) : now;
    r.lastReportAt = Math.max(r.lastReportAt ?? at, at);
    r.report = report;
  }

  /** The hub's own earlier judgement (retained): taken up only before it has judged the device itself. */
  earlier(state: HealthState): void {
    const r = this.record(state.device);
    if (r.announced) return;
    r.announced = { ...state };
    if (state.lastReportAt !== null && (r.lastReportAt === null || state.lastReportAt > r.lastReportAt)) r.lastReportAt = state.lastReportAt;
  }

  /** When the device's reports are overdue (ms), or null when it has not reported. */
  deadline(device: string): number | null {
    const r = this.records.get(device);
    if (!r?.report || r.lastReportAt === null) return null;
    return r.lastReportAt + 2 * r.report.intervalSeconds * 1000 + this.o.graceMs;
  }

  /** Judges every device now; returns what changed (and takes it as announced). */
  judge(): HealthChange[] {
    const now = this.o.now();
    const out: HealthChange[] = [];
    for (const [device, r] of this.records) {
      const due = this.deadline(device);
      if (due === null) continue;
      const state: Health = now <= due ? "healthy" : "unhealthy";
      if (r.announced?.state === state) {
        if (r.announced.lastReportAt !== r.lastReportAt) r.announced = { ...r.announced, lastReportAt: r.lastReportAt };
        continue;
      }
      const next: HealthState = { device, state, since: state === "unhealthy" ? due : now, lastReportAt: r.lastReportAt };
      out.push({ device, state: next, notify: r.announced !== null, text: healthText(device, state) });
      r.announced = next;
    }
    return out;
  }

  view(): DeviceHealth[] {
    return [...this.records.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([device, r]) => ({ device, state: r.announced?.state ?? null, since: r.announced?.since ?? null, lastReportAt: r.lastReportAt, report: r.report }));
  }
}

/** Whether `value` is a HealthState for `device` as the hub publishes it. */
export function isHealthState(value: unknown, device: string): value is HealthState {
  if (!value || typeof value !== "object") return false;
  const s = value as { [k: string]: unknown };
  return (
    s.device === device &&
    (s.state === "healthy" || s.state === "unhealthy") &&
    typeof s.since === "number" &&
    Number.isFinite(s.since) &&
    (s.lastReportAt === null || (typeof s.lastReportAt === "number" && Number.isFinite(s.lastReportAt)))
  );
}

/** What the runtime shares of the devices' health: the hub's health-monitor writes it, the Devices tab reads it. */
export class HealthBoard {
  private readonly sources = new Map<string, () => DeviceHealth[]>();

  /** A monitor node offers its view; returns the function that withdraws it. */
  offer(id: string, view: () => DeviceHealth[]): () => void {
    this.sources.set(id, view);
    return () => {
      if (this.sources.get(id) === view) this.sources.delete(id);
    };
  }

  /** Every device's health, by device (the first monitor that knows a device speaks for it). */
  devices(): DeviceHealth[] {
    const seen = new Map<string, DeviceHealth>();
    for (const view of this.sources.values()) for (const d of view()) if (!seen.has(d.device)) seen.set(d.device, d);
    return [...seen.values()].sort((a, b) => a.device.localeCompare(b.device));
  }
}
