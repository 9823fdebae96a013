// The door's audit trail: every open-door attempt (opened or refused, with why), who asked, when and through
// what, appended as JSON lines to `<data dir>/door-audit.jsonl` and fsync'd before the door moves.
import fs from "node:fs";
import path from "node:path";
import type { DoorOpenResult } from "./contract";

export interface DoorAuditRecord extends DoorOpenResult {
  /** When the record was written (ISO). */
  at: string;
  /** The door-opener node that decided. */
  node: string;
}

export const DOOR_AUDIT_FILE = "door-audit.jsonl";

export class DoorAudit {
  readonly file: string;

  constructor(dataDir: string) {
    this.file = path.join(dataDir, DOOR_AUDIT_FILE);
  }

  /** Appends one record and waits until it is on the disk; throws when it cannot be written. */
  append(record: DoorAuditRecord): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const fd = fs.openSync(this.file, "a", 0o600);
    try {
      fs.writeSync(fd, `${JSON.stringify(record)}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Every record, oldest first; a line that is not JSON (a torn write) is skipped. */
  read(): DoorAuditRecord[] {
    let text: string;
    try {
      text = fs.readFileSync(this.file, "utf8");
    } catch {
      return [];
    }
    const out: DoorAuditRecord[] = [];
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line) as DoorAuditRecord);
      } catch {
        // a line cut short by a power cut: the ones after it still count
      }
    }
    return out;
  }
}
