// The shipped flows as a person sees them in the editor: every node where it can be read (nothing on top of
// another, nothing cut off at a negative coordinate), each pipeline in a group with a comment saying what it does,
// wires running left to right inside their group, and tab descriptions that render as written (the info panel
// reads them as markdown, where a bare <device> is an HTML tag and vanishes).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { groupBox, groupBoxAround, inside, isOnCanvas, labelOf, nodeBox, nodeSize, overlaps, textWidth, type Box, type FlowNode } from "../support/node-box";

const FLOWS = path.resolve(__dirname, "..", "..", "..", "flows");
const files = fs.readdirSync(FLOWS).filter((f) => f.endsWith(".json")).sort();
const read = (file: string) => JSON.parse(fs.readFileSync(path.join(FLOWS, file), "utf8")) as FlowNode[];
const show = (b: Box) => `[${b.left},${b.top} – ${b.right},${b.bottom}]`;

/** A bare `<word>` (or `</word>`, `<!…`) outside code spans: markdown passes it on as HTML. */
function bareTags(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, "").replace(/(`+)[\s\S]*?\1/g, "");
  return prose.match(/<[/!]?[A-Za-z][^>\n]*>?/g) ?? [];
}

describe("shipped flows in the editor: layout and descriptions", () => {
  it("sizes nodes as the editor does (so the checks below can fail)", () => {
    assert.deepEqual(nodeSize({ id: "a", type: "debug", name: "x" }), { w: 100, h: 30 }, "a short label: the editor's minimum");
    // "to the camera / the door opener" is 226 px in DejaVu Sans at 14 px (what the editor measures here): 20 · ceil((226 + 57) / 20) = 300
    assert.equal(textWidth("to the camera / the door opener"), 226);
    assert.deepEqual(nodeSize({ id: "b", type: "function", name: "to the camera / the door opener", outputs: 1 }), { w: 300, h: 30 });
    assert.deepEqual(nodeSize({ id: "c", type: "face-detect", name: "faces", wires: [[], [], []] }), { w: 100, h: 45 }, "15 px per output");
    assert.deepEqual(nodeSize({ id: "d", type: "link out", name: "a long name that is not shown" }), { w: 30, h: 30 });
    const left = nodeBox({ id: "e", type: "inject", name: "x", x: 100, y: 50 });
    assert.deepEqual(left, { left: 30, right: 150, top: 35, bottom: 65 }, "inject's button on the left");
    assert.ok(overlaps(nodeBox({ id: "f", type: "function", name: "a long label here", x: 100, y: 50 }), nodeBox({ id: "g", type: "debug", name: "b", x: 220, y: 60 })));
    assert.deepEqual(bareTags("on pifog/<device>/doors"), ["<device>"]);
    assert.deepEqual(bareTags("on `pifog/<device>/doors`, `23.1` ← x, a < b"), []);
  });

  for (const file of files) {
    describe(file, () => {
      const nodes = read(file);
      const onCanvas = nodes.filter(isOnCanvas);
      const groups = nodes.filter((n) => n.type === "group");
      const byId = new Map(nodes.map((n) => [n.id, n]));

      it("gives every node on the canvas a name (its label says what it does)", () => {
        assert.deepEqual(onCanvas.filter((n) => !n.name || n.name.trim() === "").map((n) => n.id), []);
      });

      it("puts no node at a negative coordinate", () => {
        const cut = onCanvas.filter((n) => nodeBox(n).left < 0 || nodeBox(n).top < 0).map((n) => `${n.id} ${show(nodeBox(n))}`);
        const cutGroups = groups.filter((g) => (g.x ?? 0) < 0 || (g.y ?? 0) < 0).map((g) => g.id);
        assert.deepEqual([...cut, ...cutGroups], []);
      });

      it("puts no node on top of another", () => {
        const found: string[] = [];
        for (let i = 0; i < onCanvas.length; i++) {
          for (let j = i + 1; j < onCanvas.length; j++) {
            const a = onCanvas[i]!;
            const b = onCanvas[j]!;
            if (a.z === b.z && overlaps(nodeBox(a), nodeBox(b))) found.push(`"${labelOf(a)}" ${show(nodeBox(a))} and "${labelOf(b)}" ${show(nodeBox(b))}`);
          }
        }
        assert.deepEqual(found, []);
      });

      it("puts every node in a group, inside the group's box, and no group over another", () => {
        assert.ok(groups.length > 0, "at least one group");
        assert.deepEqual(onCanvas.filter((n) => !n.g || byId.get(n.g)?.type !== "group").map((n) => n.id), [], "nodes outside any group");
        for (const g of groups) {
          const members = onCanvas.filter((n) => n.g === g.id);
          assert.deepEqual([...(g.nodes ?? [])].sort(), members.map((n) => n.id).sort(), `${g.id} lists its nodes`);
          for (const n of members) assert.ok(inside(nodeBox(n), groupBox(g)), `${n.id} ${show(nodeBox(n))} inside ${g.id} ${show(groupBox(g))}`);
          // as the editor will draw it, and as stored
          assert.ok(inside(groupBoxAround(members), groupBox(g)) || JSON.stringify(groupBoxAround(members)) === JSON.stringify(groupBox(g)), `${g.id} is stored as the editor draws it`);
        }
        for (let i = 0; i < groups.length; i++) {
          for (let j = i + 1; j < groups.length; j++) {
            assert.ok(!overlaps(groupBox(groups[i]!), groupBox(groups[j]!)), `${groups[i]!.id} and ${groups[j]!.id} overlap`);
          }
        }
      });

      it("says what each group does in a comment inside it", () => {
        for (const g of groups) {
          const comment = onCanvas.find((n) => n.g === g.id && n.type === "comment");
          assert.ok(comment && (comment.name ?? "").length > 10, `${g.id} has a comment`);
          assert.ok(g.name && g.name.length > 2, `${g.id} has a name`);
        }
      });

      it("runs every wire left to right inside its group", () => {
        const backwards: string[] = [];
        for (const n of onCanvas) {
          for (const target of (n.wires ?? []).flat()) {
            const t = byId.get(target);
            if (!t || !isOnCanvas(t)) continue;
            if (t.g !== n.g) backwards.push(`${n.id} → ${t.id} leaves its group`);
            else if (nodeBox(t).left <= nodeBox(n).right) backwards.push(`${n.id} → ${t.id} runs right to left`);
          }
        }
        assert.deepEqual(backwards, []);
      });

      it("writes its descriptions so they render as written (no bare <word> outside code)", () => {
        const found = nodes.filter((n) => typeof n.info === "string" && bareTags(n.info).length > 0).map((n) => `${n.id}: ${bareTags(n.info!).join(" ")}`);
        assert.deepEqual(found, []);
      });
    });
  }
});
