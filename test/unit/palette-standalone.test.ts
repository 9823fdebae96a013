// PiFog's nodes in a Node-RED that PiFog's settings did not start (a palette install): the services the package makes
// for a user dir, and the examples `npm pack` ships under examples/.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { examples, exampleFileName, writeExamples } from "../../nodes/lib/build/examples";
import { ALL_IN_ONE } from "../../nodes/lib/runtime/flows";
import { makeStandaloneServices, offerFunctionContext, standaloneDataDir } from "../../nodes/lib/runtime/standalone";
import type { FunctionContext } from "../../nodes/lib/views";

describe("a stock Node-RED's PiFog services", () => {
  let userDir: string;
  const lines: string[] = [];
  const log = { info: (l: string) => lines.push(`info ${l}`), warn: (l: string) => lines.push(`warn ${l}`) };
  beforeEach(() => {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-standalone-"));
    lines.length = 0;
  });
  afterEach(() => fs.rmSync(userDir, { recursive: true, force: true }));

  it("keep their data in the user dir's pifog folder, private, and say where and which broker", () => {
    // its own environment, never the test process's (the services export the flows' placeholders into it)
    const env: NodeJS.ProcessEnv = {};
    const services = makeStandaloneServices({ userDir, uiPort: 1999 }, log, env);
    assert.equal(services.dataDir, standaloneDataDir(userDir));
    assert.equal(fs.statSync(services.dataDir).mode & 0o777, 0o700);
    assert.equal(services.broker.url, "mqtt://127.0.0.1:1883");
    assert.equal(services.broker.embedded, null);
    assert.equal(env.PIFOG_MQTT_URL, "mqtt://127.0.0.1:1883", "the examples' ${PIFOG_MQTT_URL}");
    assert.equal(env.PIFOG_HTTP_URL, "http://127.0.0.1:1999");
    assert.match(lines.join("\n"), /info PiFog: started without PiFog's settings .*data in .*pifog, broker mqtt:\/\/127\.0\.0\.1:1883/);
    assert.match(lines.join("\n"), /warn PiFog: no embedded MQTT broker/);
  });

  it("take the PIFOG_* environment a user sets (the data dir, the broker)", () => {
    const dataDir = path.join(userDir, "elsewhere");
    const services = makeStandaloneServices({ userDir }, log, { PIFOG_DATA_DIR: dataDir, PIFOG_MQTT_URL: "mqtt://broker.example:1883" });
    assert.equal(services.dataDir, dataDir);
    assert.equal(services.broker.url, "mqtt://broker.example:1883");
    assert.doesNotMatch(lines.join("\n"), /no embedded MQTT broker/, "a named broker is what the user wants");
  });

  it("run on the defaults when a PIFOG_* variable is wrong, and say which", () => {
    const services = makeStandaloneServices({ userDir }, log, { PIFOG_ROLE: "toaster", PIFOG_MQTT_URL: "mqtt://broker.example:1883" });
    assert.equal(services.config.role, "all");
    assert.equal(services.broker.url, "mqtt://127.0.0.1:1883");
    assert.equal(services.dataDir, standaloneDataDir(userDir));
    assert.match(lines.join("\n"), /warn PiFog: PIFOG_ROLE must be one of .*not "toaster"; the PiFog nodes use the defaults/);
  });

  it("give the examples' function nodes global.get(\"pifog\") beside the settings' own entries, never over the user's", () => {
    const services = makeStandaloneServices({ userDir }, log, {});
    const mine = { os: "kept" };
    assert.equal(offerFunctionContext(mine, services), "added");
    assert.equal(mine.os, "kept");
    const pifog = (mine as unknown as { pifog: FunctionContext }).pifog;
    assert.equal(pifog.topics.status("doorpi"), "pifog/doorpi/status");
    assert.match(pifog.history.headers().authorization ?? "", /^Bearer \S+/);
    const users = { pifog: "the user's own" };
    assert.equal(offerFunctionContext(users, services), "kept");
    assert.equal(users.pifog, "the user's own");
    assert.equal(offerFunctionContext(undefined, services), "absent");
  });

  it("say what to add when the settings have no functionGlobalContext", () => {
    makeStandaloneServices({ userDir }, log, {});
    assert.match(lines.join("\n"), /warn PiFog: the settings have no functionGlobalContext.*add `functionGlobalContext: \{\}`/);
  });
});

describe("the palette's examples", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-examples-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("are every role's flow, named by its tab, each tab its own device and MQTT client", () => {
    const all = examples();
    assert.deepEqual(all.map((e) => e.role), [...ALL_IN_ONE]);
    for (const e of all) {
      const tab = e.nodes.find((n) => n.type === "tab")!;
      assert.equal(e.file, exampleFileName(String(tab.label)));
      const env = Object.fromEntries((tab.env ?? []).map((v) => [v.name, v.value]));
      assert.equal(env.PIFOG_DEVICE_ID, e.role);
      assert.equal(env.PIFOG_ROLE, e.role);
      assert.equal(env.PIFOG_MQTT_CLIENT_ID, `pifog-${e.role}-flows`);
    }
    assert.ok(all.some((e) => e.file === "Hub.json"));
    // the hub's own tab variables (which Pis its front door is) stay
    const hubTab = all.find((e) => e.role === "hub")!.nodes.find((n) => n.type === "tab")!;
    assert.ok(hubTab.env!.some((v) => v.name === "FRONT_DOOR_OPENER"));
  });

  it("take a name the editor shows and every file system accepts", () => {
    assert.equal(exampleFileName("ESPEasy sensors (simulated)"), "ESPEasy sensors (simulated).json");
    assert.equal(exampleFileName("a/b: c?"), "a-b- c-.json");
  });

  it("replace what an earlier pack left in examples/", () => {
    fs.writeFileSync(path.join(dir, "Old role.json"), "[]");
    const written = writeExamples(dir);
    assert.deepEqual(fs.readdirSync(dir).sort(), [...written].sort());
    for (const f of written) assert.ok(Array.isArray(JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"))));
  });
});
