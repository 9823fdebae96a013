// Every shared flow file imports cleanly into a running PiFog editor: each node type it uses is installed,
// and deploying it through the editor's API starts it.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ROOT, startRuntime, type TestRuntime } from "../support/runtime";

const FLOW_FILES = fs.readdirSync(path.join(ROOT, "flows")).filter((f) => f.endsWith(".json"));

describe("the shared flow files in the editor", function () {
  this.timeout(60_000);
  let fog: TestRuntime;
  let auth: Record<string, string>;

  before(async () => {
    fog = await startRuntime({ role: "hub" });
    const res = await fetch(`${fog.info.http}/admin/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_id: "node-red-editor", grant_type: "password", scope: "*", username: "admin", password: "test-admin-password" }),
    });
    const { access_token } = (await res.json()) as { access_token: string };
    auth = { authorization: `Bearer ${access_token}` };
  });

  after(async () => {
    await fog?.stop();
  });

  it("finds the role flows", () => {
    assert.deepEqual(FLOW_FILES.sort(), ["buttonpi.json", "camerapi.json", "doorpi.json", "facewriter.json", "hub.json", "powerhub.json", "powerpi.json", "sensorhub.json", "sensors.json", "statuspi.json"]);
  });

  for (const file of FLOW_FILES) {
    it(`deploys ${file} with every node type it uses installed`, async () => {
      const flow = JSON.parse(fs.readFileSync(path.join(ROOT, "flows", file), "utf8")) as Array<{ id: string; type: string }>;
      const installed = (await (await fetch(`${fog.info.http}/admin/nodes`, { headers: { ...auth, accept: "application/json" } })).json()) as Array<{ types: string[]; enabled: boolean }>;
      const types = new Set(installed.filter((s) => s.enabled).flatMap((s) => s.types));
      // a tab and a group are the editor's own, not node types a module installs
      const missing = [...new Set(flow.map((n) => n.type))].filter((t) => t !== "tab" && t !== "group" && !t.startsWith("subflow") && !types.has(t));
      assert.deepEqual(missing, [], `node types used by ${file} but not installed`);

      const deployed = await fetch(`${fog.info.http}/admin/flows`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json", "Node-RED-Deployment-Type": "full" },
        body: JSON.stringify(flow),
      });
      assert.ok([200, 204].includes(deployed.status), `deploy answered ${deployed.status}: ${await deployed.text()}`);
      const state = (await (await fetch(`${fog.info.http}/admin/flows`, { headers: auth })).json()) as Array<{ id: string }>;
      assert.deepEqual(state.map((n) => n.id).sort(), flow.map((n) => n.id).sort());
      assert.doesNotMatch(fog.output(), /Waiting for missing types|Error: /);
    });
  }
});
