import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ALL_IN_ONE, composeFlow, flowsDir, readRoleFlow, seedFlowFile, type FlowNode } from "../../nodes/lib/runtime/flows";

const REPO_FLOWS = path.resolve(__dirname, "..", "..", "..", "flows");

function envOf(tab: FlowNode, name: string): string | undefined {
  const matches = (tab.env ?? []).filter((e) => e.name === name);
  assert.ok(matches.length <= 1, `${tab.id} has ${name} once at most`);
  return matches[0]?.value;
}

/** A flows dir of three tiny role files, for cases the real files do not show. */
function tempFlows(root: string, files: Record<string, unknown>): string {
  const dir = fs.mkdtempSync(path.join(root, "flows-"));
  for (const [name, nodes] of Object.entries(files)) fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(nodes));
  return dir;
}

const tiny = (role: string): FlowNode[] => [
  { id: `${role}-tab`, type: "tab", label: role, env: [] },
  { id: `${role}-debug`, type: "debug", z: `${role}-tab` },
];

describe("runtime flows", () => {
  let root: string;
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-unit-flows-"));
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it("finds the package's flows directory", () => {
    assert.equal(flowsDir(), REPO_FLOWS);
    for (const role of ALL_IN_ONE) assert.ok(fs.existsSync(path.join(flowsDir(), `${role}.json`)), role);
  });

  describe("composeFlow(\"all\") over the real flows", () => {
    it("has every node of every role, each id once", () => {
      const all = composeFlow("all");
      const ids = all.map((n) => n.id);
      assert.equal(new Set(ids).size, ids.length, "unique ids");
      const expected = ALL_IN_ONE.reduce((sum, role) => sum + readRoleFlow(role).length, 0);
      assert.equal(all.length, expected);
    });

    it("has one tab per role, in order hub, sensorhub, doorpi, statuspi, sensors, powerpi, powerhub, buttonpi, camerapi, facewriter, each with its own device id and role", () => {
      const all = composeFlow("all");
      const tabs = all.filter((n) => n.type === "tab");
      assert.equal(tabs.length, ALL_IN_ONE.length);
      ALL_IN_ONE.forEach((role, i) => {
        const tab = tabs[i]!;
        const roleIds = new Set(readRoleFlow(role).map((n) => n.id));
        assert.ok(roleIds.has(tab.id), `tab ${i} is ${role}'s`);
        assert.equal(envOf(tab, "PIFOG_DEVICE_ID"), role);
        assert.equal(envOf(tab, "PIFOG_ROLE"), role);
        // the core MQTT nodes' identity: each tab maps its own device's variables (flow-env.ts exports them)
        assert.equal(envOf(tab, "PIFOG_TLS_CERT"), `PIFOG_TLS_CERT__${role}`);
        assert.equal(envOf(tab, "PIFOG_MQTT_CLIENT_ID"), `PIFOG_MQTT_CLIENT_ID__${role}`);
        assert.ok(tab.env!.every((e) => (e.name.startsWith("PIFOG_TLS_") || e.name === "PIFOG_MQTT_CLIENT_ID" ? e.type === "env" : e.type === "str")));
      });
      assert.deepEqual(ALL_IN_ONE, ["hub", "sensorhub", "doorpi", "statuspi", "sensors", "powerpi", "powerhub", "buttonpi", "camerapi", "facewriter"]);
    });

    it("keeps every node on a tab of the same role", () => {
      const all = composeFlow("all");
      const tabIds = new Set(all.filter((n) => n.type === "tab").map((n) => n.id));
      for (const role of ALL_IN_ONE) {
        const own = readRoleFlow(role);
        const ownTabs = new Set(own.filter((n) => n.type === "tab").map((n) => n.id));
        for (const node of own) {
          if (node.z === undefined || node.z === "") continue;
          assert.ok(tabIds.has(node.z), `${node.id} is on tab ${node.z}`);
          assert.ok(ownTabs.has(node.z), `${node.id} stays on a ${role} tab`);
        }
      }
    });
  });

  describe("composeFlow of one role", () => {
    for (const role of ALL_IN_ONE) {
      it(`${role}: is the role's file as it is, with no injected env`, () => {
        const file = JSON.parse(fs.readFileSync(path.join(REPO_FLOWS, `${role}.json`), "utf8")) as FlowNode[];
        const flow = composeFlow(role);
        assert.deepEqual(flow, file);
        for (const tab of flow.filter((n) => n.type === "tab")) {
          assert.equal(envOf(tab, "PIFOG_DEVICE_ID"), undefined, "the device id comes from the runtime's env");
          assert.equal(envOf(tab, "PIFOG_ROLE"), undefined);
        }
      });
    }
  });

  describe("with a flows directory of our own", () => {
    it("replaces a tab's own PIFOG_DEVICE_ID in \"all\" and keeps its other env", () => {
      const hub = tiny("hub");
      hub[0]!.env = [
        { name: "PIFOG_DEVICE_ID", value: "someone-else", type: "str" },
        { name: "GREETING", value: "hi", type: "str" },
      ];
      const dir = tempFlows(root, { hub, doorpi: tiny("doorpi"), statuspi: tiny("statuspi"), sensorhub: tiny("sensorhub"), sensors: tiny("sensors"), powerpi: tiny("powerpi"), powerhub: tiny("powerhub"), buttonpi: tiny("buttonpi"), camerapi: tiny("camerapi"), facewriter: tiny("facewriter") });
      const tab = composeFlow("all", dir).find((n) => n.id === "hub-tab")!;
      assert.equal(envOf(tab, "PIFOG_DEVICE_ID"), "hub");
      assert.equal(envOf(tab, "GREETING"), "hi");
      assert.equal(envOf(tab, "PIFOG_ROLE"), "hub");
    });

    it("gives a tab without env one", () => {
      const doorpi = tiny("doorpi");
      delete doorpi[0]!.env;
      const dir = tempFlows(root, { hub: tiny("hub"), doorpi, statuspi: tiny("statuspi"), sensorhub: tiny("sensorhub"), sensors: tiny("sensors"), powerpi: tiny("powerpi"), powerhub: tiny("powerhub"), buttonpi: tiny("buttonpi"), camerapi: tiny("camerapi"), facewriter: tiny("facewriter") });
      const tab = composeFlow("all", dir).find((n) => n.id === "doorpi-tab")!;
      assert.equal(envOf(tab, "PIFOG_DEVICE_ID"), "doorpi");
    });

    it("refuses role files that share a node id, naming the id and the file", () => {
      const statuspi = tiny("statuspi");
      statuspi.push({ id: "doorpi-debug", type: "debug", z: "statuspi-tab" });
      const dir = tempFlows(root, { hub: tiny("hub"), doorpi: tiny("doorpi"), statuspi, sensorhub: tiny("sensorhub"), sensors: tiny("sensors"), powerpi: tiny("powerpi"), powerhub: tiny("powerhub"), buttonpi: tiny("buttonpi"), camerapi: tiny("camerapi"), facewriter: tiny("facewriter") });
      assert.throws(() => composeFlow("all", dir), (err: Error) => {
        assert.match(err.message, /statuspi\.json/);
        assert.match(err.message, /doorpi-debug/);
        return true;
      });
      // each role alone still loads
      assert.equal(composeFlow("statuspi", dir).length, 3);
    });

    it("refuses a role file that is not an array of nodes", () => {
      const dir = tempFlows(root, { hub: { id: "x", type: "tab" }, doorpi: tiny("doorpi"), statuspi: tiny("statuspi"), sensorhub: tiny("sensorhub"), sensors: tiny("sensors"), powerpi: tiny("powerpi"), powerhub: tiny("powerhub"), buttonpi: tiny("buttonpi"), camerapi: tiny("camerapi"), facewriter: tiny("facewriter") });
      assert.throws(() => readRoleFlow("hub", dir), /hub\.json is not a Node-RED flow/);
      assert.throws(() => composeFlow("all", dir), /not a Node-RED flow/);
    });

    it("fails on a missing role file", () => {
      const dir = tempFlows(root, { hub: tiny("hub") });
      assert.throws(() => composeFlow("doorpi", dir), /ENOENT/);
      assert.throws(() => composeFlow("all", dir), /ENOENT/);
    });
  });

  describe("seedFlowFile", () => {
    it("writes the role's flow into the data dir on first start", () => {
      const data = path.join(root, "data-seed", "nested");
      const name = seedFlowFile(data, "doorpi");
      assert.equal(name, "flows-doorpi.json");
      const stored = JSON.parse(fs.readFileSync(path.join(data, name), "utf8")) as FlowNode[];
      assert.deepEqual(stored, composeFlow("doorpi"));
    });

    it("writes the composed flow for all", () => {
      const data = fs.mkdtempSync(path.join(root, "data-"));
      const name = seedFlowFile(data, "all");
      assert.equal(name, "flows-all.json");
      const stored = JSON.parse(fs.readFileSync(path.join(data, name), "utf8")) as FlowNode[];
      assert.deepEqual(stored, composeFlow("all"));
      assert.equal(stored.filter((n) => n.type === "tab").length, ALL_IN_ONE.length);
    });

    it("never overwrites a flow already stored (the user's edits are kept)", () => {
      const data = fs.mkdtempSync(path.join(root, "data-"));
      const file = path.join(data, seedFlowFile(data, "hub"));
      const edited = JSON.stringify([{ id: "mine", type: "tab", label: "edited by the user" }]);
      fs.writeFileSync(file, edited);
      assert.equal(seedFlowFile(data, "hub"), "flows-hub.json");
      assert.equal(fs.readFileSync(file, "utf8"), edited);
    });

    it("keeps one stored flow per role", () => {
      const data = fs.mkdtempSync(path.join(root, "data-"));
      seedFlowFile(data, "hub");
      seedFlowFile(data, "statuspi");
      assert.deepEqual(fs.readdirSync(data).sort(), ["flows-hub.json", "flows-statuspi.json"]);
    });

    it("seeds from the given flows directory", () => {
      const dir = tempFlows(root, { hub: tiny("hub"), doorpi: tiny("doorpi"), statuspi: tiny("statuspi"), sensorhub: tiny("sensorhub"), sensors: tiny("sensors"), powerpi: tiny("powerpi"), powerhub: tiny("powerhub"), buttonpi: tiny("buttonpi"), camerapi: tiny("camerapi"), facewriter: tiny("facewriter") });
      const data = fs.mkdtempSync(path.join(root, "data-"));
      const stored = JSON.parse(fs.readFileSync(path.join(data, seedFlowFile(data, "hub", dir)), "utf8")) as FlowNode[];
      assert.deepEqual(stored, tiny("hub"));
    });
  });
});
