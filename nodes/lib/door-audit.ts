// The door's audit trail: every open-door attempt (opened or refused, with why), who asked, when and through
// what, appended as JSON lines to `<data dir>/door-audit.jsonl` and fsync'd before the door moves.
import path from "node:path";
import { JsonlLog } from "./audit/jsonl-log";
import type { DoorOpenResult } from "./contract";

export interface DoorAuditRecord extends DoorOpenResult {
  /** When the record was written (ISO). */
  at: string;
  /** The door-opener node that decided. */
  node: string;
}

export const DOOR_AUDIT_FILE = "door-audit.jsonl";

/** Bounded: 4 MiB a file, 8 rotated files kept (tens of thousands of attempts), every field cut to 256 characters. */
export class DoorAudit {
  private readonly log: JsonlLog<DoorAuditRecord>;

  constructor(dataDir: string) {
    this.log = new JsonlLog<DoorAuditRecord>(path.join(dataDir, DOOR_AUDIT_FILE), { maxBytes: 4 * 1024 * 1024, keep: 8, maxString: 256, fsync: true });
  }

  get file(): string {
    return this.log.file;
  }

  /** Appends one record and waits until it is on the disk; throws when it cannot be written. */
  append(record: DoorAuditRecord): void {
    this.log.append(record);
  }

  /** Every record kept, oldest first; a line that is not JSON (a torn write) is skipped. */
  read(): DoorAuditRecord[] {
    return this.log.read();
  }
}
