// The data dir is private: the all-in-one runtime, after an editor login (a live admin token in .sessions.json), a
// visitor's picture taken and its face stored (faces/…), its history and accounts written, holds only files 0600 and folders 0700; and
// what was there before at 0644/0755 is tightened at start. Before, .sessions.json, accounts.db, history.db and the
// face crops were 0644, readable by every user of the machine.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { compatTopics } from "../../nodes/lib/contract";
import { showScene } from "../support/camera-scene";
import { TestClient } from "../support/mqtt";
import { MQTT_ADMIN, adminToken, startRuntime, type TestRuntime } from "../support/runtime";
import { until } from "../support/until";
import { signInCookie } from "../support/people";

/** Every path under `dir` (itself included) with its permission bits; symbolic links are not followed. */
function modes(dir: string): Array<{ path: string; kind: "file" | "dir" | "link"; mode: string }> {
  const out: Array<{ path: string; kind: "file" | "dir" | "link"; mode: string }> = [];
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    const kind = st.isSymbolicLink() ? "link" : st.isDirectory() ? "dir" : "file";
    out.push({ path: path.relative(dir, p) || ".", kind, mode: (st.mode & 0o777).toString(8).padStart(4, "0") });
    if (kind === "dir") for (const e of fs.readdirSync(p)) walk(path.join(p, e));
  };
  walk(dir);
  return out;
}

describe("the data dir is private (all-in-one runtime)", function () {
  this.timeout(90_000);
  let fog: TestRuntime;
  let client: TestClient;
  let dataDir: string;

  before(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-modes-"));
    // left by an older version, or copied in with a permissive umask
    fs.chmodSync(dataDir, 0o755);
    fs.writeFileSync(path.join(dataDir, "old-notes.json"), "{}", { mode: 0o644 });
    fs.mkdirSync(path.join(dataDir, "old-folder"), { mode: 0o755 });
    fs.writeFileSync(path.join(dataDir, "old-folder", "inside.txt"), "x", { mode: 0o644 });
    fs.chmodSync(path.join(dataDir, "old-folder"), 0o755);
    fs.chmodSync(path.join(dataDir, "old-folder", "inside.txt"), 0o644);
  });

  after(async () => {
    await client?.end();
    await fog?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("holds only files 0600 and folders 0700 after a login and a stored face, and tightened what was there", async () => {
    fog = await startRuntime({ role: "all", dataDir });
    const token = await adminToken(fog.info.http);
    assert.ok(token, "logged in to the editor");
    await signInCookie(fog.info.http, "viewer");
    client = await TestClient.connect(fog.info.mqtt, MQTT_ADMIN);
    // retried until the camera says so: just after the start its link may still be subscribing
    await showScene(client, "camerapi", "visitor");
    await client.publish(compatTopics.command("CameraPi"), JSON.stringify({ command: "take-picture-low-res", id: "modes" }));
    const faces = path.join(dataDir, "faces");
    await until(
      () => fs.existsSync(faces) && fs.readdirSync(faces, { recursive: true }).some((f) => String(f).endsWith(".png")),
      "a face crop stored under the data dir's faces/",
      30_000,
    );
    await until(() => fs.existsSync(path.join(dataDir, ".sessions.json")), "the editor session saved");

    const all = modes(dataDir);
    const names = all.map((e) => e.path);
    for (const expected of [".sessions.json", "sessions.json", "identity/identities.json", "credential-secret", "history.db", "old-notes.json", "old-folder/inside.txt"]) {
      assert.ok(names.includes(expected), `${expected} is in the data dir (${names.join(", ")})`);
    }
    assert.ok(names.some((n) => n.startsWith("faces/") && n.endsWith(".png")));
    const open = all.filter((e) => (e.kind === "file" && e.mode !== "0600") || (e.kind === "dir" && e.mode !== "0700"));
    assert.deepEqual(open, [], "every file 0600 and every folder 0700");
  });
});
