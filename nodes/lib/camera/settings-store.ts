// Where camera settings are kept across restarts: one JSON file, written whole (temp + rename, 0600), read at start.
// The hub keeps every camera's settings in `<data dir>/camera-settings.json`; a camera Pi keeps the settings it last
// applied in `<data dir>/camera-settings-applied-<device>.json`, so a restart without the broker starts with them.
// A file that is not what we wrote (a torn or hand-edited one) is set aside as `.bad` and said, never half-used.
import fs from "node:fs";
import path from "node:path";
import { writeFileAtomic } from "../identity/files";
import { validateCameraSettings } from "./settings";
import type { CameraSettings } from "./types";

export const HUB_SETTINGS_FILE = "camera-settings.json";

export function appliedSettingsFile(dataDir: string, device: string): string {
  return path.join(dataDir, `camera-settings-applied-${device}.json`);
}

function setAside(file: string): void {
  try {
    fs.renameSync(file, `${file}.bad`);
  } catch {
    // gone already
  }
}

/** The hub's settings of every camera, by device id. */
export class CameraSettingsStore {
  private readonly cameras = new Map<string, CameraSettings>();
  readonly file: string;
  /** What was wrong with the file at start (it was set aside), for the node to warn about. */
  readonly problem: string | null = null;

  constructor(dataDir: string) {
    this.file = path.join(dataDir, HUB_SETTINGS_FILE);
    let text: string | null = null;
    try {
      text = fs.readFileSync(this.file, "utf8");
    } catch {
      return;
    }
    try {
      const parsed = JSON.parse(text) as { cameras?: Record<string, unknown> };
      for (const [device, s] of Object.entries(parsed.cameras ?? {})) this.cameras.set(device, validateCameraSettings(s));
    } catch (err) {
      this.cameras.clear();
      this.problem = `${this.file} could not be read (${(err as Error).message}); set aside as .bad`;
      setAside(this.file);
    }
  }

  devices(): string[] {
    return [...this.cameras.keys()].sort();
  }

  get(device: string): CameraSettings | undefined {
    return this.cameras.get(device);
  }

  /** Stores a camera's settings (on disk before it returns). */
  put(device: string, settings: CameraSettings): void {
    const next = new Map(this.cameras).set(device, settings);
    const cameras = Object.fromEntries([...next.entries()].sort(([a], [b]) => a.localeCompare(b)));
    writeFileAtomic(this.file, `${JSON.stringify({ cameras }, null, 2)}\n`);
    this.cameras.set(device, settings);
  }
}

/** The settings a Pi last applied, or null (none yet, or a file that is not valid: set aside). */
export function readAppliedSettings(file: string): { settings: CameraSettings | null; problem: string | null } {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return { settings: null, problem: null };
  }
  try {
    return { settings: validateCameraSettings(JSON.parse(text)), problem: null };
  } catch (err) {
    setAside(file);
    return { settings: null, problem: `${file} could not be read (${(err as Error).message}); set aside as .bad` };
  }
}

export function writeAppliedSettings(file: string, settings: CameraSettings): void {
  writeFileAtomic(file, `${JSON.stringify(settings, null, 2)}\n`);
}
