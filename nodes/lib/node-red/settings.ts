// What PiFog nodes read from the runtime's settings (settings.ts puts it there; tests may inject it).
import type { NodeAPI } from "node-red";
import { Audit } from "../audit/audit";
import { systemClock, type Clock } from "../clock";

export interface PifogSettings {
  pifogDataDir?: string;
  pifogClock?: Clock;
  pifogMqttUrl?: string;
}

export function pifogSettings(RED: NodeAPI): PifogSettings {
  return RED.settings as unknown as PifogSettings;
}

export function clockOf(RED: NodeAPI): Clock {
  return pifogSettings(RED).pifogClock ?? systemClock;
}

/** A config value left as `${VAR}` (the variable was not set) or blank counts as not given. */
export function given(value: string | undefined): string | undefined {
  const v = (value ?? "").trim();
  return v === "" || /^\$\{[^}]*\}$/.test(v) ? undefined : v;
}

export function dataDirOf(RED: NodeAPI): string {
  return pifogSettings(RED).pifogDataDir ?? process.env.PIFOG_DATA_DIR ?? "./data";
}

/** The runtime's audit record of refusals (`<data dir>/audit.jsonl`). */
export function auditOf(RED: NodeAPI): Audit {
  const clock = clockOf(RED);
  return new Audit(dataDirOf(RED), () => clock.now());
}
