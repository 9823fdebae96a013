// The PIFOG_* variables the runtime reads: every name written out in its sources (nodes/, settings.ts) or in the
// shipped flows' `${...}` placeholders. What a deployment file sets must be one of them (a misspelt name is silently
// ignored by the runtime, so a test has to catch it).
import fs from "node:fs";
import path from "node:path";

function files(dir: string, ext: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...files(full, ext));
    else if (entry.name.endsWith(ext)) out.push(full);
  }
  return out;
}

export function knownSettings(root: string): Set<string> {
  const sources = [...files(path.join(root, "nodes"), ".ts"), path.join(root, "settings.ts"), ...files(path.join(root, "flows"), ".json")];
  const names = new Set<string>();
  for (const file of sources) {
    for (const m of fs.readFileSync(file, "utf8").matchAll(/\bPIFOG_[A-Z0-9_]*[A-Z0-9]\b/g)) names.add(m[0]);
  }
  return names;
}
