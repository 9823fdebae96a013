// The dead-letter record: what a node could not take, with why, appended as JSON lines to
// `<data dir>/dead-letter.jsonl`, so bad input is kept for a person to look at and never stops the runtime.
import fs from "node:fs";
import path from "node:path";

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
  readonly file: string;

  constructor(dataDir: string) {
    this.file = path.join(dataDir, "dead-letter.jsonl");
  }

  append(letter: Omit<DeadLetter, "at">, at: Date = new Date()): void {
    const record: DeadLetter = { at: at.toISOString(), ...letter };
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    fs.appendFileSync(this.file, `${JSON.stringify(record)}\n`);
  }

  read(): DeadLetter[] {
    try {
      return fs
        .readFileSync(this.file, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as DeadLetter);
    } catch {
      return [];
    }
  }
}
