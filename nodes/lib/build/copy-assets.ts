// The build is tsc plus this: each node's editor .html, locales/ and icons/ must sit beside its compiled .js.
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(__dirname, "..", "..", "..", "..");
const from = path.join(root, "nodes");
const to = path.join(root, "dist", "nodes");

function copy(dir: string): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const src = path.join(dir, entry.name);
    const rel = path.relative(from, src);
    if (entry.isDirectory()) {
      copy(src);
    } else if (entry.name.endsWith(".html") || /(^|\/)(locales|icons)\//.test(rel)) {
      const dest = path.join(to, rel);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(src, dest);
    }
  }
}

copy(from);
