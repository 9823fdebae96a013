import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { INCOMING_MAX_AGE_MS, sweepIncoming } from "../../nodes/lib/camera/incoming-sweep";

describe("the hub's clips-incoming sweep", () => {
  const now = Date.UTC(2026, 11, 7, 12);
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-incoming-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const piece = (device: string, name: string, ageMs: number) => {
    const folder = path.join(dir, device);
    fs.mkdirSync(folder, { recursive: true });
    const file = path.join(folder, name);
    fs.writeFileSync(file, "x");
    const at = (now - ageMs) / 1000;
    fs.utimesSync(file, at, at);
    return file;
  };

  it("removes the pieces a Pi left more than a day ago, and a device folder left empty; keeps what is newer", () => {
    const old = piece("gone-cam", "a.thumb.jpg", INCOMING_MAX_AGE_MS + 1000);
    const oldTemp = piece("yardcam", "b.media.tmp", INCOMING_MAX_AGE_MS + 1000);
    const recent = piece("yardcam", "c.thumb.jpg", INCOMING_MAX_AGE_MS - 60_000);
    assert.deepEqual(sweepIncoming(dir, now).sort(), [old, oldTemp].sort());
    assert.equal(fs.existsSync(path.join(dir, "gone-cam")), false);
    assert.deepEqual(fs.readdirSync(path.join(dir, "yardcam")), [path.basename(recent)]);
  });

  it("sweeps one device's folder when asked, and keeps the folder (an upload is starting in it)", () => {
    const mine = piece("yardcam", "a.thumb.jpg", 2 * INCOMING_MAX_AGE_MS);
    const theirs = piece("frontcam", "b.thumb.jpg", 2 * INCOMING_MAX_AGE_MS);
    assert.deepEqual(sweepIncoming(dir, now, { device: "yardcam" }), [mine]);
    assert.ok(fs.existsSync(path.join(dir, "yardcam")));
    assert.ok(fs.existsSync(theirs));
  });

  it("is fine with no folder at all (no camera has uploaded yet)", () => {
    assert.deepEqual(sweepIncoming(path.join(dir, "missing"), now), []);
  });
});
