// The runtime fails safe: a ButtonPi (on a Mosquitto the test starts, so what it published outlives it) is
// holding the door open when an error escapes from a flow, once as an unhandled rejection and once as an uncaught
// exception. The process must exit non-zero, say why, and leave the door's output LOW and the pulse audited as
// aborted. Before the fail-safe the runtime logged the rejection and carried on with the door held open, and an
// exception killed it with the relay still energised.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { compatTopics, topics } from "../../nodes/lib/contract";
import { DoorAudit } from "../../nodes/lib/door-audit";
import { startMosquitto, type Mosquitto } from "../support/mosquitto";
import { TestClient } from "../support/mqtt";
import { redeploy, startRuntime, type TestRuntime } from "../support/runtime";
import { until } from "../support/until";

const LEVEL = topics.simState("buttonpi", "door");
const CRASH_PATH = "/test/crash";

/** What the crashing function node does: both escape Node-RED's own try/catch around a function's body. */
const CRASHES = {
  "unhandled rejection": `Promise.reject(new Error("boom: a rejection nobody handles")); return null;`,
  // the function node's sandbox has no process; its node object was made outside the sandbox, so its Function can
  // reach it, and a throw on the next tick is outside every try/catch
  "uncaught exception": `const proc = node.log.constructor("return process")();
proc.nextTick(() => { throw new Error("boom: an exception nobody catches"); }); return null;`,
};

describe("the runtime fails safe (ButtonPi on Mosquitto)", function () {
  this.timeout(90_000);
  let mosquitto: Mosquitto;

  before(async () => {
    mosquitto = await startMosquitto();
  });
  after(async () => {
    await mosquitto?.stop();
  });

  /** Asks the ButtonPi to open until its output is HIGH: a door opener a deploy has just restarted may not listen yet,
   * and a command before it does is not kept (a second one during the pulse would only be refused as busy).
   * Returns the id of the command that opened it. */
  async function openUntilHigh(client: TestClient, prefix: string): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      const id = `${prefix}${attempt}`;
      // PiFog's own command: this ButtonPi has no identity bundle, so a native one (which must be signed) is refused
      await client.publish(compatTopics.command("ButtonPi"), JSON.stringify({ command: "open-door", id }));
      if (await client.waitFor(LEVEL, (m) => m.payload.toString() === "1", 2000).then(() => true, () => false)) return id;
      assert.ok(attempt < 10, "the door opener never opened");
    }
  }

  for (const [kind, body] of Object.entries(CRASHES)) {
    describe(`an ${kind} during a pulse`, () => {
      let fog: TestRuntime;
      let client: TestClient;

      after(async () => {
        await client?.end();
        await fog?.stop();
      });

      it("drives the door LOW, audits the pulse as aborted, says why and exits non-zero", async () => {
        fog = await startRuntime({ role: "buttonpi", env: { PIFOG_MQTT_URL: mosquitto.url } });
        // a pulse long enough to still be running when the crash comes; a flow that crashes on request
        await redeploy(
          fog.info.http,
          (flows) => {
            Object.assign(flows.find((n) => n.type === "door-opener")!, { pulse: 30, maxPulse: 30 });
            flows.push(
              { id: "crash-tab", type: "tab", label: "crash" },
              { id: "crash-in", type: "http in", z: "crash-tab", url: CRASH_PATH, method: "post", wires: [["crash-fn"]] },
              { id: "crash-fn", type: "function", z: "crash-tab", func: body, outputs: 1, wires: [[]] },
            );
          },
          "nodes",
        );
        client = await TestClient.connect(mosquitto.url);
        await client.subscribe(LEVEL, topics.event("buttonpi"));
        await client.waitFor(LEVEL, (m) => m.payload.toString() === "0");

        const id = await openUntilHigh(client, "x");
        assert.equal(fog.child.exitCode, null, "running while the door is open");

        const crashedAt = Date.now();
        await fetch(`${fog.info.http}${CRASH_PATH}`, { method: "POST" }).catch(() => undefined);
        await until(() => fog.child.exitCode !== null || fog.child.signalCode !== null, "the process to exit after the crash", 15_000);
        const code = fog.child.exitCode;
        const dyingMs = Date.now() - crashedAt;

        assert.notEqual(code, 0, `exit code ${code}`);
        assert.notEqual(code, null, "exited by itself, not by a signal");
        assert.ok(dyingMs < 5000, `exited ${dyingMs} ms after the crash: it never hangs`);
        const log = fog.output();
        assert.match(log, new RegExp(`PiFog: ${kind}, every output goes to its safe level`), log);
        assert.match(log, /boom: an? \w+ nobody \w+/, "the log names the cause");
        assert.match(log, /\n\s+at /, "with its stack");

        const audit = new DoorAudit(fog.dataDir).read().filter((r) => r.id === id);
        assert.deepEqual(
          audit.map((r) => [r.result, r.reason ?? null, r.abortedBy ?? null, !!r.closedAt]),
          [["opened", null, null, false], ["opened", "aborted", "failure", true]],
          JSON.stringify(audit),
        );
        const event = client.received
          .filter((m) => m.topic === topics.event("buttonpi"))
          .map((m) => client.json<{ "open-door": { id: unknown; reason?: string } }>(m))
          .filter((e) => e["open-door"].id === id);
        assert.deepEqual(event.map((e) => e["open-door"].reason), ["aborted"], "the event said the pulse was aborted before the process died");

        // what the broker keeps for the next one to look: the output went LOW before the process died
        const later = await TestClient.connect(mosquitto.url);
        try {
          await later.subscribe(LEVEL);
          const retained = await later.waitFor(LEVEL);
          assert.equal(retained.payload.toString(), "0", "the retained level of the door's output");
          assert.equal(retained.retain, true);
        } finally {
          await later.end();
        }
      });
    });
  }

  describe("a process killed outright during a pulse (SIGKILL, a power cut)", () => {
    let fog: TestRuntime | undefined;
    let client: TestClient | undefined;
    let dataDir: string;
    before(() => {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-failsafe-"));
    });
    after(async () => {
      await client?.end();
      await fog?.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    it("cannot go safe (the broker, like a sysfs relay, still holds it HIGH): the next start drives the output LOW", async () => {
      fog = await startRuntime({ role: "buttonpi", dataDir, env: { PIFOG_MQTT_URL: mosquitto.url } });
      await redeploy(fog.info.http, (flows) => void Object.assign(flows.find((n) => n.type === "door-opener")!, { pulse: 30, maxPulse: 30 }), "nodes");
      client = await TestClient.connect(mosquitto.url);
      await client.subscribe(LEVEL);
      await openUntilHigh(client, "k");
      await fog.kill();
      // nothing ran: the broker (like a sysfs relay) still holds the door open
      const stale = await TestClient.connect(mosquitto.url);
      await stale.subscribe(LEVEL);
      assert.equal((await stale.waitFor(LEVEL)).payload.toString(), "1");
      await stale.end();

      const lowAgain = client.waitFor(LEVEL, (m) => m.payload.toString() === "0", 30_000, false);
      fog = await startRuntime({ role: "buttonpi", dataDir, env: { PIFOG_MQTT_URL: mosquitto.url } });
      await lowAgain;
      const levels = client.received.filter((m) => m.topic === LEVEL).map((m) => m.payload.toString());
      assert.deepEqual(levels.slice(levels.indexOf("1") + 1), ["0"], "LOW, and nothing else before it");
    });
  });
});
