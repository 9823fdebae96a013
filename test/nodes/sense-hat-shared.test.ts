// One Sense HAT per device, shared by its status-matrix and sense-env nodes: a node that goes does not take the
// board from the others.
import assert from "node:assert/strict";
import type { EnvironmentState } from "../../nodes/lib/contract";
import { glyphs } from "../../nodes/lib/matrix-glyphs";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import senseEnv from "../../nodes/sense-env/sense-env";
import statusMatrix from "../../nodes/status-matrix/status-matrix";
import { deviceNode, helper, loadUntilOnline, startHarness, type Harness } from "../support/node-harness";

type Closable = { close(removed: boolean): Promise<void>; receive(msg: unknown): void };

describe("the Sense HAT, shared by a device's nodes", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({ clientId: "pifog-dp1-test" }); // plays the DoorPi the matrix follows
  });
  afterEach(async () => {
    await h.close();
  });

  it("a status-matrix and two sense-env nodes use it at once; removing one sensor node leaves the others working", async () => {
    await loadUntilOnline(
      h,
      [pifogDevice, statusMatrix, senseEnv],
      [
        deviceNode("sp1", h.url),
        { id: "matrix", type: "status-matrix", device: "cfg-sp1", source: "dp1", compat: false },
        { id: "env1", type: "sense-env", device: "cfg-sp1", interval: 3600, factor: 1.5, values: false, compat: false },
        { id: "env2", type: "sense-env", device: "cfg-sp1", interval: 3600, factor: 1.5, values: false, compat: false },
      ],
      "sp1",
    );
    const env1 = helper.getNode("env1") as unknown as Closable;
    const env2 = helper.getNode("env2") as unknown as Closable;
    await h.client.waitFor("pifog/sp1/environment");

    await env1.close(true);
    const since = h.client.received.length;
    env2.receive({ payload: "now" });
    const reading = await h.client.waitFor("pifog/sp1/environment", (m) => h.client.received.indexOf(m) >= since);
    assert.equal(typeof h.client.json<EnvironmentState>(reading).humidity, "number", "the other sensor node still reads");

    await h.client.publish("pifog/dp1/status", JSON.stringify({ state: "online", device: "dp1" }), { retain: true });
    await h.client.publish(
      "pifog/dp1/doors",
      JSON.stringify({ device: "dp1", doors: { door1: { label: "F", state: "open", changedAt: "" } }, timestamp: "" }),
      { retain: true },
    );
    const go = JSON.stringify(glyphs.go());
    await h.client.waitFor("pifog/sp1/sim/matrix", (m) => m.payload.toString() === go);
  });
});
