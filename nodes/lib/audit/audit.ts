// The audit record: every refusal the runtime makes to someone outside it (a wrong or throttled sign-in, a
// refused broker connection or publish, a client cut for not reading, a replayed request), who it was as far as
// the path tells (address, MQTT client id, user), and why; appended to `<data dir>/audit.jsonl`, bounded
// (1 MiB a file, 4 rotated files, strings cut to 512 characters). The door's own record is door-audit.jsonl.
import path from "node:path";
import { JsonlLog } from "./jsonl-log";

export const AUDIT_FILE = "audit.jsonl";

export interface AuditEvent {
  /** What was refused or done, a short dotted name: `auth.throttled`, `mqtt.publish.refused`, … */
  event: string;
  /** Through what it arrived: `http`, `mqtt`, `dashboard`, `slack`, `editor`, `process`. */
  via: string;
  /** Who, as far as the path tells: an address, `mqtt:<client id>`, a user name. */
  who?: string;
  /** Why, in words a person reading the record understands. */
  reason: string;
  [detail: string]: unknown;
}

export interface AuditRecord extends AuditEvent {
  at: string;
}

export class Audit {
  private readonly log: JsonlLog<AuditRecord>;

  constructor(dataDir: string, private readonly now: () => number = Date.now) {
    this.log = new JsonlLog<AuditRecord>(path.join(dataDir, AUDIT_FILE), { maxBytes: 1024 * 1024, keep: 4, maxString: 512, fsync: false });
  }

  get file(): string {
    return this.log.file;
  }

  /** Records one event; never throws (an audit that cannot be written must not take the caller down). */
  record(event: AuditEvent): void {
    try {
      this.log.append({ at: new Date(this.now()).toISOString(), ...event });
    } catch (err) {
      console.error(`PiFog: audit record not written (${(err as Error).message}):`, event.event, event.reason);
    }
  }

  read(): AuditRecord[] {
    return this.log.read();
  }
}
