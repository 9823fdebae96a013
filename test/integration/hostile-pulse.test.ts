// Hostile input, the door under load: every flood of the hostile-input issue at once (wrong logins from another
// address, heavy history queries, a `#` subscriber that stops reading while messages pour in, dashboard garbage),
// while the simulated door opens for 5 s. Before, the loop stalls stretched a pulse to 5.8 s; the pulse must end
// within 50 ms of its length, and everyone else's round trips stay short.
import assert from "node:assert/strict";
import { dashboardGarbage, doorPulse, heavyHistoryQueries, publishFlood, stalledSubscriber, wrongLogins } from "../support/floods";
import { RoundTripProbe } from "../support/rtt";
import { redeploy, startRuntime, type TestRuntime } from "../support/runtime";

describe("hostile input: a door pulse under every flood at once (real runtime, role all)", function () {
  this.timeout(180_000);
  let rt: TestRuntime;
  let probe: RoundTripProbe;
  before(async () => {
    rt = await startRuntime({ role: "all" });
    // no cooldown between the two pulses: the test is about the pulse's length, and need not wait out 2 s
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

  it("holds the door for its length (±50 ms) and keeps round trips short while everything is thrown at the hub", async () => {
    const quiet = await doorPulse(rt.info.mqtt);
    assert.equal(quiet.result, "opened");

    probe.start(20);
    const stalled = await stalledSubscriber(rt.info.mqtt);
    const pulse = doorPulse(rt.info.mqtt);
    const floods = await Promise.all([
      wrongLogins(rt.info.http, 400, { concurrency: 20, from: "127.0.0.2" }),
      heavyHistoryQueries(rt.info.http, 40, { concurrency: 20 }),
      publishFlood(rt.info.mqtt, 20_000, { payload: "x".repeat(500) }),
      dashboardGarbage(rt.info.http, 600),
    ]);
    const held = await pulse;
    const rtt = await probe.stop();
    stalled.socket.destroy();
    console.log(
      `      pulse quiet ${quiet.heldMs} ms, under the floods ${held.heldMs} ms (of ${held.pulseMs}); round trips p50 ${rtt.p50.toFixed(1)} ` +
        `p99 ${rtt.p99.toFixed(1)} max ${rtt.max.toFixed(1)} ms (${rtt.count}, ${rtt.lost} lost); logins ${summary(floods[0])}; history ${summary(floods[1])}`,
    );
    assert.equal(rt.child.exitCode, null, "the runtime is still up");
    assert.equal(held.result, "opened");
    assert.ok(Math.abs(held.heldMs - held.pulseMs) <= 50, `the door was held ${held.heldMs} ms for a ${held.pulseMs} ms pulse`);
    assert.equal(rtt.lost, 0, "every round trip came back");
    // generous against the failure (seconds before; these 2 cores are shared with the test's own floods)
    assert.ok(rtt.p99 < 1000, `round trip p99 ${rtt.p99.toFixed(1)} ms under the floods`);
    assert.ok(floods[0].every((s) => s === 403 || s === 429), "every login answered 403 or 429");
    assert.ok(floods[1].every((s) => s === 200 || s === 503), "every history query answered 200 or 503");
  });
});

function summary(statuses: number[]): string {
  const counts = new Map<number, number>();
  for (const s of statuses) counts.set(s, (counts.get(s) ?? 0) + 1);
  return [...counts].map(([s, n]) => `${s}×${n}`).join(" ");
}
