// `npm run bench -- hostile`: the hostile-input issue's attacks against the all-in-one runtime, each a bounded load
// on loopback, with an MQTT round trip measured during it and a door pulse timed under it, beside the same
// figures on the quiet runtime in the same run (the baseline). Also the RSS after a 50 MB publish attempt.
import fs from "node:fs";
import path from "node:path";
import mqtt from "mqtt";
import { Audit } from "../nodes/lib/audit/audit";
import { readBundle } from "../nodes/lib/identity/paths";
import { doorPulse, dashboardGarbage, heavyHistoryQueries, publishFlood, stalledSubscriber, wrongLogins } from "../test/support/floods";
import { RoundTripProbe, type RoundTrips } from "../test/support/rtt";
import { startRuntime, viewerHeaders } from "../test/support/runtime";
import type { BenchContext } from "./run";
import { memoryOf, mib, ms, table, tempDir } from "./support";

interface Row {
  load: string;
  rtt: RoundTrips;
  pulse: { heldMs: number; pulseMs: number } | null;
  note: string;
}

export async function runHostile(ctx: BenchContext): Promise<void> {
  const scope = ctx.scope();
  const dataDir = tempDir(scope, "pifog-bench-hostile-");
  const rt = await startRuntime({ role: "all", dataDir, env: { PIFOG_HARDWARE: "sim" }, timeoutMs: 60_000 });
  scope.defer("stop the runtime", () => rt.stop(), () => rt.child.kill("SIGKILL"));
  const probe = await RoundTripProbe.connect(rt.info.mqtt, "bench");
  scope.defer("close the probe", () => probe.close());
  const rows: Row[] = [];
  // the door takes only commands the hub signed: its identity, made on the runtime's first start
  const hub = readBundle(path.join(rt.dataDir, "identity", "devices", "hub"));

  /** Runs a load with the probe on and a door pulse under it. */
  const under = async (load: string, run: () => Promise<string>): Promise<Row> => {
    probe.start(20);
    const pulse = doorPulse(rt.info.mqtt, hub).catch(() => null);
    const note = await run();
    const held = await pulse;
    const rtt = await probe.stop();
    const row = { load, rtt, pulse: held && Number.isFinite(held.heldMs) ? held : null, note };
    rows.push(row);
    console.log(`  ${load}: round trip p50 ${ms(rtt.p50)}, p99 ${ms(rtt.p99)}, max ${ms(rtt.max)}, lost ${rtt.lost}; pulse ${row.pulse ? ms(row.pulse.heldMs) : "–"}; ${note}`);
    // the door's cooldown (2 s) before the next pulse
    await new Promise((r) => setTimeout(r, 2500));
    return row;
  };

  // some history to query: 100,000 readings on 50 topics
  await publishFlood(rt.info.mqtt, 100_000);
  const quiet = await under("quiet (baseline)", async () => {
    await new Promise((r) => setTimeout(r, 5500));
    return "nothing else";
  });
  await under("400 wrong /v1/auth logins", async () => {
    const statuses = await wrongLogins(rt.info.http, 400, { concurrency: 20, from: "127.0.0.2" });
    return `answers ${summary(statuses)}`;
  });
  await under("20 heavy /api/history queries × 3", async () => {
    const statuses: number[] = [];
    for (let round = 0; round < 3; round++) statuses.push(...(await heavyHistoryQueries(rt.info.http, 20, { concurrency: 20, headers: viewerHeaders(rt.dataDir) })));
    return `answers ${summary(statuses)}`;
  });
  await under("a # subscriber that stops reading + 50,000 messages", async () => {
    const stalled = await stalledSubscriber(rt.info.mqtt);
    await publishFlood(rt.info.mqtt, 50_000, { payload: "x".repeat(1000) });
    // a paused socket sees no close until it reads again: the broker's audit tells whether it was cut
    const cutIn = Date.now() + 10_000;
    let cut = false;
    while (!(cut = new Audit(dataDir).read().some((r) => r.event === "mqtt.client.cut")) && Date.now() < cutIn) await new Promise((r) => setTimeout(r, 100));
    stalled.socket.destroy();
    return cut ? "the stalled client was cut" : "the stalled client was NOT cut within 10 s";
  });
  await under("1,200 malformed dashboard socket events", async () => {
    const sent = await dashboardGarbage(rt.info.http, 1200, rt.cookies.viewer);
    return `${sent} sent, runtime ${rt.child.exitCode === null ? "up" : "DOWN"}`;
  });

  if (rt.child.exitCode !== null) {
    console.log(`  the runtime died (exit ${rt.child.exitCode}):\n${rt.output().split("\n").slice(-15).join("\n")}`);
    ctx.target({ target: "the runtime survives every attack", measured: "it died", pass: false });
    return;
  }
  // a 50 MB publish attempt: refused before it is buffered?
  const before = memoryOf(rt.info.pid).rss;
  const big = await mqtt.connectAsync(rt.info.mqtt, { reconnectPeriod: 0, clientId: "bench-big" });
  const acked = await Promise.race([
    big.publishAsync("bench/big", Buffer.alloc(50 * 1024 * 1024, 0x61), { qos: 1 }).then(() => true, () => false),
    new Promise<boolean>((r) => big.once("close", () => r(false))),
    new Promise<boolean>((r) => setTimeout(() => r(false), 20_000)),
  ]);
  big.end(true);
  await new Promise((r) => setTimeout(r, 1000));
  const after = memoryOf(rt.info.pid);
  console.log(`  50 MB publish: ${acked ? "ACKNOWLEDGED" : "refused"}; RSS ${mib(before)} before, ${mib(after.rss)} after (peak ${mib(after.hwm)})`);

  console.log(
    "\n" +
      table(
        ["load", "rtt p50", "rtt p99", "rtt max", "pulse held", "note"],
        rows.map((r) => [r.load, ms(r.rtt.p50), ms(r.rtt.p99), ms(r.rtt.max), r.pulse ? ms(r.pulse.heldMs) : "–", r.note]),
      ),
  );
  const floods = rows.filter((r) => r !== quiet);
  const worst = Math.max(...floods.map((r) => r.rtt.p99));
  ctx.target({ target: "round-trip p99 under every flood ≤ 250 ms", measured: `${ms(worst)} (quiet ${ms(quiet.rtt.p99)})`, pass: worst <= 250 });
  const drift = Math.max(...rows.map((r) => (r.pulse ? Math.abs(r.pulse.heldMs - r.pulse.pulseMs) : Infinity)));
  ctx.target({ target: "every door pulse within 50 ms of its length", measured: `worst off by ${ms(drift)}`, pass: drift <= 50 });
  ctx.target({ target: "a 50 MB publish is refused, RSS grows < 20 MiB", measured: `${acked ? "acknowledged" : "refused"}, +${mib(after.rss - before)}`, pass: !acked && after.rss - before < 20 * 1024 });
  const deadLetters = path.join(dataDir, "dead-letter.jsonl");
  if (fs.existsSync(deadLetters)) console.log(`  dead letters: ${mib(fs.statSync(deadLetters).size / 1024)}`);
}

function summary(statuses: number[]): string {
  const counts = new Map<number, number>();
  for (const s of statuses) counts.set(s, (counts.get(s) ?? 0) + 1);
  return [...counts].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s === 0 ? "error" : s}×${n}`).join(" ");
}
