// The dead-letter record: what a node could not take, with why, appended as JSON lines to
// `<data dir>/dead-letter.jsonl`, so bad input is kept for a person to look at and never stops the runtime.
// Bounded: 1 MiB a file, 4 rotated files kept, every field cut (the payload to 4 KiB).
import path from "node:path";
import { JsonlLog } from "./audit/jsonl-log";

export interface DeadLetter {
  at: string;
  node: string;
  type: string;
  error: string;
  topic?: string;
  /** The payload as text (or base64 when binary), cut to 4 KiB. */
  payload?: string;
}

const MAX_PAYLOAD = 4096;

export function payloadText(payload: unknown): string | undefined {
  if (payload === undefined) return undefined;
  let text: string;
  if (Buffer.isBuffer(payload)) {
    const utf8 = payload.toString("utf8");
    text = utf8.includes("\uFFFD") ? `base64:${payload.toString("base64")}` : utf8;
  } else if (typeof payload === "string") {
    text = payload;
  } else {
    try {
      text = JSON.stringify(payload) ?? String(payload);
    } catch {
      text = String(payload);
    }
  }
  return text.length > MAX_PAYLOAD ? `${text.slice(0, MAX_PAYLOAD)}…` : text;
}

export class DeadLetterFile {
  private readonly log: JsonlLog<DeadLetter>;

  /** `onAppend`: told of each letter once it is written (the runtime's metrics count them). */
  constructor(dataDir: string, private readonly onAppend?: (letter: Omit<DeadLetter, "at">) => void) {
    this.log = new JsonlLog<DeadLetter>(path.join(dataDir, "dead-letter.jsonl"), {
      maxBytes: 1024 * 1024,
      keep: 4,
      maxString: MAX_PAYLOAD + 16,
      fsync: false,
    });
  }

  get file(): string {
    return this.log.file;
  }

  append(letter: Omit<DeadLetter, "at">, at: Date = new Date()): void {
    this.log.append({ at: at.toISOString(), ...letter, payload: payloadText(letter.payload) });
    try {
      this.onAppend?.(letter);
    } catch {
      // a watcher's problem never loses a letter
    }
  }

  read(): DeadLetter[] {
    return this.log.read();
  }
}
