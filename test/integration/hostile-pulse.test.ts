// Hostile input, the door under load: each flood of the hostile-input issue (wrong logins from another address,
// heavy history queries, a `#` subscriber that stops reading while messages pour in, dashboard garbage) while the
// simulated door opens for 5 s. Before, the loop stalls stretched a pulse to 5.8 s (and the stalled subscriber or the
// garbage kept it from being answered at all); now each pulse ends within 50 ms of its length, and everyone else's
// round trips stay short.
import assert from "node:assert/strict";
import { dashboardGarbage, doorPulse, heavyHistoryQueries, publishFlood, stalledSubscriber, wrongLogins } from "../support/floods";
import path from "node:path";
import { readBundle, type DeviceBundle } from "../../nodes/lib/identity/paths";
import { RoundTripProbe } from "../support/rtt";
import { redeploy, startRuntime, viewerHeaders, type TestRuntime } from "../support/runtime";

describe("hostile input: a door pulse under each flood (real runtime, role all)", function () {
  this.timeout(180_000);
  let rt: TestRuntime;
  let probe: RoundTripProbe;
  /** The hub's identity (made on the first start): the door takes only commands it signed. */
  let hub: DeviceBundle;
  before(async () => {
    rt = await startRuntime({ role: "all" });
    hub = readBundle(path.join(rt.dataDir, "identity", "devices", "hub"))!;
    // no cooldown between pulses: the test is about the pulse's length, and need not wait out 2 s each time
    await redeploy(rt.info.http, (flows) => {
      Object.assign(flows.find((n) => n.type === "door-opener")!, { cooldown: 0 });
    }, "nodes");
    probe = await RoundTripProbe.connect(rt.info.mqtt, "pulse");
    // some history for the queries to read
    await publishFlood(rt.info.mqtt, 30_000);
  });
  after(async () => {
    await probe?.close();
    await rt?.stop();
  });

  const floods: Array<[string, () => Promise<string>]> = [
    // the issue measured 400 wrong logins in 31 s; four at a time is still many times that
    ["400 wrong /v1 logins from another address", async () => summary(await wrongLogins(rt.info.http, 400, { concurrency: 4, from: "127.0.0.2" }))],
    ["40 heavy history queries, 20 at once", async () => summary(await heavyHistoryQueries(rt.info.http, 40, { concurrency: 20, headers: viewerHeaders(rt.dataDir) }))],
    [
      "a # subscriber that stops reading, 20,000 messages",
      async () => {
        const stalled = await stalledSubscriber(rt.info.mqtt);
        await publishFlood(rt.info.mqtt, 20_000, { payload: "x".repeat(500) });
        stalled.socket.destroy();
        return "flooded";
      },
    ],
    ["600 malformed dashboard socket events", async () => `${await dashboardGarbage(rt.info.http, 600, rt.cookies.viewer)} sent`],
  ];

  it("holds the door for its length (±50 ms) under each flood, and keeps round trips short", async () => {
    const quiet = await doorPulse(rt.info.mqtt, hub);
    assert.equal(quiet.result, "opened");
    console.log(`      quiet: the door held ${quiet.heldMs} ms of ${quiet.pulseMs}`);
    probe.start(20);
    const held: Array<[string, number, number]> = [];
    for (const [name, flood] of floods) {
      // the flood goes on, round after round (at most 20), until the pulse is over, so it covers the pulse's end
      let over = false;
      const pulse = doorPulse(rt.info.mqtt, hub).finally(() => (over = true));
      let note = "";
      let rounds = 0;
      while (!over && rounds < 20) {
        note = await flood();
        rounds++;
      }
      const p = await pulse;
      note = `${rounds} round(s), the last: ${note}`;
      assert.equal(p.result, "opened", `${name}: ${p.result} ${p.reason ?? ""}`);
      held.push([name, p.heldMs, p.pulseMs]);
      console.log(`      ${name} (${note}): the door held ${p.heldMs} ms of ${p.pulseMs}`);
    }
    const rtt = await probe.stop();
    console.log(`      round trips through it all: p50 ${rtt.p50.toFixed(1)} p99 ${rtt.p99.toFixed(1)} max ${rtt.max.toFixed(1)} ms (${rtt.count}, ${rtt.lost} lost)`);
    assert.equal(rt.child.exitCode, null, "the runtime is still up");
    for (const [name, heldMs, pulseMs] of held) assert.ok(Math.abs(heldMs - pulseMs) <= 50, `${name}: the door was held ${heldMs} ms for a ${pulseMs} ms pulse`);
    assert.equal(rtt.lost, 0, "every round trip came back");
    // generous against the failure (seconds before; these 2 cores are shared with the test's own floods)
    assert.ok(rtt.p99 < 2000, `round trip p99 ${rtt.p99.toFixed(1)} ms under the floods`);
  });
});

function summary(statuses: number[]): string {
  const counts = new Map<number, number>();
  for (const s of statuses) counts.set(s, (counts.get(s) ?? 0) + 1);
  return [...counts].map(([s, n]) => `${s}×${n}`).join(" ");
}
