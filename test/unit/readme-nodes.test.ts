// The README a palette user reads first (npm and the palette manager show it): its first section is a table that
// says, in a line each, what every node of the package does.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ROOT } from "../support/runtime";

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { "node-red": { nodes: Record<string, string> } };
const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");

/** The README's first `## ` section: its heading and text, up to the next `## `. */
function firstSection(text: string): { heading: string; body: string } {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.startsWith("## "));
  assert.ok(start >= 0, "README.md has a section");
  const end = lines.findIndex((l, i) => i > start && l.startsWith("## "));
  return { heading: lines[start]!, body: lines.slice(start + 1, end < 0 ? undefined : end).join("\n") };
}

describe("the README's opening", () => {
  it("starts with a table of every node the package registers, one line each on what it does", () => {
    const { heading, body } = firstSection(readme);
    const rows = new Map<string, string>();
    for (const line of body.split("\n")) {
      const m = /^\|\s*`([a-z0-9-]+)`\s*\|\s*(.*?)\s*\|\s*$/.exec(line);
      if (m) {
        assert.ok(!rows.has(m[1]!), `${m[1]} is in the table once`);
        rows.set(m[1]!, m[2]!);
      }
    }
    const nodes = Object.keys(pkg["node-red"].nodes);
    assert.deepEqual(
      nodes.filter((n) => !rows.has(n)),
      [],
      `the first section (${heading}) names every node of package.json's node-red.nodes, as a row | \`name\` | what it does |`,
    );
    assert.deepEqual([...rows.keys()].filter((n) => !nodes.includes(n)), [], "and no node the package does not have");
    for (const [name, what] of rows) assert.ok(what.length >= 20 && !what.includes("|"), `${name}: says what it does`);
  });
});
