// Files of the spool as the recorders write them: whole and on disk before their item's JSON names them, and
// hashed by streaming (a minute of video never sits in memory).
import { createHash } from "node:crypto";
import fs from "node:fs";
import { PRIVATE_FILE } from "../runtime/file-modes";

/** Writes `data` to a new file `file` (never over one) and flushes it to the disk. */
export function writeDurable(file: string, data: Buffer): void {
  const fd = fs.openSync(file, "wx", PRIVATE_FILE);
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** SHA-256 (hex) and size of a file, read in chunks. */
export async function hashFile(file: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 256 * 1024 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), bytes };
}

export function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}
