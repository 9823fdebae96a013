// Tightening a data dir at start: files 0600, folders 0700, links left alone (what they point to is not ours).
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { tightenDataDir } from "../../nodes/lib/runtime/file-modes";

const modeOf = (p: string) => (fs.lstatSync(p).mode & 0o777).toString(8);

describe("data dir modes", () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-modes-unit-"));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it("makes every file 0600 and every folder 0700, deep down, and says what it changed", () => {
    const data = path.join(root, "data");
    fs.mkdirSync(path.join(data, "faces", "cam", "2026"), { recursive: true });
    fs.writeFileSync(path.join(data, ".sessions.json"), "{}");
    fs.writeFileSync(path.join(data, "faces", "cam", "2026", "a.png"), "x");
    fs.writeFileSync(path.join(data, "already.json"), "{}");
    for (const d of ["", "faces", "faces/cam", "faces/cam/2026"]) fs.chmodSync(path.join(data, d), 0o755);
    fs.chmodSync(path.join(data, ".sessions.json"), 0o644);
    fs.chmodSync(path.join(data, "faces", "cam", "2026", "a.png"), 0o664);
    fs.chmodSync(path.join(data, "already.json"), 0o600);

    const result = tightenDataDir(data);
    assert.deepEqual(result.failed, []);
    assert.deepEqual(result.changed.map((p) => path.relative(data, p) || ".").sort(), [".", ".sessions.json", "faces", "faces/cam", "faces/cam/2026", "faces/cam/2026/a.png"]);
    assert.equal(modeOf(data), "700");
    assert.equal(modeOf(path.join(data, "faces", "cam", "2026")), "700");
    assert.equal(modeOf(path.join(data, ".sessions.json")), "600");
    assert.equal(modeOf(path.join(data, "faces", "cam", "2026", "a.png")), "600");
  });

  it("follows no symbolic link and leaves what it points to alone; an executable stays its owner's to run", () => {
    const data = path.join(root, "data");
    const outside = path.join(root, "outside.txt");
    fs.mkdirSync(data);
    fs.writeFileSync(outside, "x");
    fs.chmodSync(outside, 0o644);
    fs.symlinkSync(outside, path.join(data, "link"));
    fs.writeFileSync(path.join(data, "tool.sh"), "#!/bin/sh\n");
    fs.chmodSync(path.join(data, "tool.sh"), 0o755);
    tightenDataDir(data);
    assert.equal(modeOf(outside), "644");
    assert.equal(modeOf(path.join(data, "tool.sh")), "700");
  });

  it("a data dir not made yet is nothing to do", () => {
    assert.deepEqual(tightenDataDir(path.join(root, "missing")), { changed: [], failed: [] });
  });
});
