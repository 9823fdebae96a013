// The camera settings' checks (nodes/lib/camera/settings.ts), the one module the hub and the Pi both use: the
// defaults pass, every field is range-checked with a reason a person can act on, and all reasons come at once.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { defaultCameraSettings, isClockTime, SettingsError, validateCameraSettings, withChanges } from "../../nodes/lib/camera/settings";
import { CameraSettingsStore, readAppliedSettings } from "../../nodes/lib/camera/settings-store";
import { DEFAULT_CAMERA_SETTINGS } from "../../nodes/lib/camera/types";
import { statusOf } from "../../nodes/camera-settings/camera-settings";

function reasons(input: unknown): string[] {
  try {
    validateCameraSettings(input);
  } catch (err) {
    assert.ok(err instanceof SettingsError);
    return err.reasons;
  }
  return [];
}

describe("camera settings: validation", () => {
  it("takes the defaults, and rebuilds from the known fields only", () => {
    assert.deepEqual(validateCameraSettings({ ...DEFAULT_CAMERA_SETTINGS, extra: "<script>" }), defaultCameraSettings());
  });

  it("refuses each field out of range, naming it, all at once", () => {
    const bad = {
      ...defaultCameraSettings(),
      sensitivity: 0,
      minAreaPercent: 101,
      preSeconds: 31,
      timelapseMinutes: 1.5,
      width: 4000,
      height: 481,
      fps: 60,
      rotation: 45,
      healthSeconds: 5,
      notifications: "yes",
    };
    assert.deepEqual(reasons(bad).sort(), [
      "notifications must be true or false",
      "rotation must be 0, 90, 180 or 270, not 45",
      "sensitivity 0 is not within 1..100",
      "minAreaPercent 101 is not within 0.01..100",
      "preSeconds 31 is not within 0..30",
      "timelapseMinutes must be a whole number",
      "width 4000 is not within 160..1920",
      "height 481 must be even",
      "fps 60 is not within 1..30",
      "healthSeconds 5 is not within 10..3600",
    ].sort());
  });

  it("checks the recording window as HH:MM (null: always; across midnight allowed)", () => {
    assert.ok(isClockTime("00:00") && isClockTime("23:59") && !isClockTime("24:00") && !isClockTime("7:00") && !isClockTime("07:60"));
    assert.deepEqual(reasons({ ...defaultCameraSettings(), recordingWindow: { from: "22:00", to: "06:00" } }), []);
    assert.deepEqual(reasons({ ...defaultCameraSettings(), recordingWindow: { from: "25:00", to: "06:00" } }), ['recordingWindow must be null (always) or {from, to} as "HH:MM"']);
    assert.deepEqual(reasons({ ...defaultCameraSettings(), recordingWindow: { from: "06:00", to: "06:00" } }), ["recordingWindow's from and to are the same time (null records always)"]);
  });

  it("keeps mask boxes within the frame (fractions 0..1), at most 16", () => {
    assert.deepEqual(reasons({ ...defaultCameraSettings(), mask: [{ x: 0, y: 0, w: 1, h: 1 }, { x: 0.5, y: 0.25, w: 0.5, h: 0.75 }] }), []);
    assert.deepEqual(reasons({ ...defaultCameraSettings(), mask: [{ x: 0.8, y: 0, w: 0.3, h: 0.1 }] }), ["mask box 1 is not within the frame (fractions 0..1, width and height above 0)"]);
    assert.deepEqual(reasons({ ...defaultCameraSettings(), mask: [{ x: 0, y: 0, w: 0, h: 0.1 }] }), ["mask box 1 is not within the frame (fractions 0..1, width and height above 0)"]);
    assert.deepEqual(reasons({ ...defaultCameraSettings(), mask: [{ x: "0" }] }), ["mask box 1 needs numbers x, y, w, h"]);
    assert.deepEqual(reasons({ ...defaultCameraSettings(), mask: Array.from({ length: 17 }, () => ({ x: 0, y: 0, w: 0.1, h: 0.1 })) }), ["mask has 17 boxes, at most 16"]);
  });

  it("wants every field (a config is the whole settings) and a clip longer than its pre-roll", () => {
    const { fps: _fps, ...noFps } = defaultCameraSettings();
    assert.deepEqual(reasons(noFps), ["missing fps"]);
    assert.deepEqual(reasons(null), ["the settings must be an object"]);
    assert.deepEqual(reasons({ ...defaultCameraSettings(), preSeconds: 10, maxClipSeconds: 10 }), ["maxClipSeconds 10 must be longer than preSeconds 10"]);
  });

  it("applies a person's changes to the stored settings, never their version", () => {
    const merged = withChanges({ ...defaultCameraSettings(), version: 4 }, { sensitivity: 80, version: 99, other: 1 });
    assert.equal(merged.sensitivity, 80);
    assert.equal(merged.version, 4);
    assert.equal("other" in merged, false);
  });

  it("says applied, pending or refused from the Pi's report", () => {
    const s = { ...defaultCameraSettings(), version: 3 };
    assert.equal(statusOf(s, { version: 3, at: 1 }), "applied");
    assert.equal(statusOf(s, { version: 2, at: 1 }), "pending");
    assert.equal(statusOf(s, null), "pending");
    assert.equal(statusOf(s, { version: 2, at: 1, error: "width 4000…", refusedVersion: 3 }), "refused");
  });

  it("keeps the hub's settings in one file across restarts, and sets a damaged file aside", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-camset-"));
    try {
      const store = new CameraSettingsStore(dir);
      store.put("cam1", { ...defaultCameraSettings(), version: 2, fps: 15 });
      assert.equal((fs.statSync(store.file).mode & 0o777).toString(8), "600");
      assert.equal(new CameraSettingsStore(dir).get("cam1")?.fps, 15);
      fs.writeFileSync(store.file, "{ torn");
      const again = new CameraSettingsStore(dir);
      assert.deepEqual(again.devices(), []);
      assert.match(again.problem!, /set aside as \.bad/);
      assert.ok(fs.existsSync(`${store.file}.bad`));
      assert.deepEqual(readAppliedSettings(path.join(dir, "none.json")), { settings: null, problem: null });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
