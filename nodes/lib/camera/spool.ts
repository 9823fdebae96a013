// The camera Pi's spool: clips and time-lapse stills wait here, on disk, until the hub has stored them. One folder
// per device: `<root>/<item id>.<ext>` for the media and the thumbnail, and `<root>/<item id>.json` (the SpoolItem),
// written LAST and by rename, so an item whose JSON exists is complete; media without JSON (a crash mid-write) is
// swept. The recorder puts, the uploader lists oldest first and removes what the hub confirmed.
import fs from "node:fs";
import path from "node:path";
import { isTopicLevel } from "../contract";
import { PRIVATE_DIR, PRIVATE_FILE } from "../runtime/file-modes";
import type { SpoolItem } from "./types";

const ITEM_ID = /^(clip|still)-\d{1,16}(-\d{1,4})?$/;

/** Whether `id` is a well-formed item id (`clip-<ms>` / `still-<ms>`, optionally `-<n>`): also a safe file name. */
export function isItemId(id: string): boolean {
  return ITEM_ID.test(id);
}

/** The spool folder of a device in a data dir. */
export function spoolDir(dataDir: string, device: string): string {
  if (!isTopicLevel(device)) throw new Error(`not a device id: ${JSON.stringify(device)}`);
  return path.join(dataDir, "spool", device);
}

export class Spool {
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
  }

  /** Where the media or thumbnail of an item is (or will be). */
  file(name: string): string {
    if (path.basename(name) !== name || name.startsWith(".")) throw new Error(`not a spool file name: ${name}`);
    return path.join(this.dir, name);
  }

  /** Completes an item whose files (item.media, item.thumbnail) are already in the folder: writes its JSON last. */
  put(item: SpoolItem): void {
    if (!isItemId(item.id)) throw new Error(`not a spool item id: ${item.id}`);
    for (const name of [item.media, item.thumbnail]) {
      if (!fs.existsSync(this.file(name))) throw new Error(`spool item ${item.id}: ${name} is missing`);
    }
    const target = this.file(`${item.id}.json`);
    const tmp = `${target}.tmp`;
    const fd = fs.openSync(tmp, "w", PRIVATE_FILE);
    try {
      fs.writeSync(fd, JSON.stringify(item));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, target);
  }

  /** The complete items, oldest first. */
  list(): SpoolItem[] {
    const items: SpoolItem[] = [];
    for (const name of fs.readdirSync(this.dir)) {
      if (!name.endsWith(".json")) continue;
      try {
        items.push(JSON.parse(fs.readFileSync(path.join(this.dir, name), "utf8")) as SpoolItem);
      } catch {
        // a torn or foreign file: never uploaded, left for a person to look at
      }
    }
    return items.sort((a, b) => a.start - b.start || a.id.localeCompare(b.id));
  }

  /** Deletes an item and its files (after the hub confirmed it). */
  remove(item: SpoolItem): void {
    fs.rmSync(this.file(`${item.id}.json`), { force: true });
    for (const name of [item.media, item.thumbnail]) fs.rmSync(this.file(name), { force: true });
  }

  /** Deletes files no complete item names (left by a crash mid-write). Returns their names. */
  sweep(): string[] {
    const named = new Set<string>();
    for (const item of this.list()) {
      named.add(`${item.id}.json`).add(item.media).add(item.thumbnail);
    }
    const swept: string[] = [];
    for (const name of fs.readdirSync(this.dir)) {
      if (named.has(name)) continue;
      fs.rmSync(path.join(this.dir, name), { force: true, recursive: true });
      swept.push(name);
    }
    return swept;
  }

  /** Bytes the spool holds. */
  bytes(): number {
    let total = 0;
    for (const name of fs.readdirSync(this.dir)) total += fs.statSync(path.join(this.dir, name)).size;
    return total;
  }
}
