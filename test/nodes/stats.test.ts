import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { WindowStats } from "../../nodes/lib/contract";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import stats from "../../nodes/stats/stats";
import { FakeClock } from "../support/fake-clock";
import { TestClient, type Received } from "../support/mqtt";
import { helper, hubFlow, loadUntilOnline, pingBarrier, startHarness, type Harness } from "../support/node-harness";

const nodes = [pifogDevice, stats];
const MIN = 60_000;
const T = "iotitan/home/up_bed1/dht11/temperature";
const H = "iotitan/home/up_bed1/dht11/humidity";

function statsFlow(url: string, extra: Record<string, unknown> = {}) {
  return hubFlow(url, { id: "st1", type: "stats", z: "tab", device: "cfg-hub", topics: "#", path: "", window: 5, windowUnit: "min", checkpoint: 5, compat: true, wires: [["out"]], ...extra });
}

describe("stats node", () => {
  let h: Harness;
  let clock: FakeClock;

  const barrier = () => pingBarrier(h.client);
  const load = (flow: ReturnType<typeof statsFlow>) => loadUntilOnline(h, nodes, flow);

  const statsOf = (m: Received) => h.client.json<WindowStats>(m);
  const on = (topic: string, since = 0) => h.client.received.filter((m, i) => i >= since && m.topic === topic);
  const deadLetters = () => {
    const file = path.join(h.dataDir, "dead-letter.jsonl");
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l)) : [];
  };

  beforeEach(async () => {
    h = await startHarness();
    clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
    h.useServices({ clock });
  });
  afterEach(async () => {
    await h.close();
  });

  it("publishes each topic's mean on <topic>/average and its statistics when the window's timer runs out", async () => {
    await load(statsFlow(h.url));
    const outputs: Array<{ topic: string; payload: WindowStats }> = [];
    helper.getNode("out")!.on("input", (msg: unknown) => outputs.push(msg as { topic: string; payload: WindowStats }));
    for (const v of ["23.1", "22.9", "22.9"]) await h.client.publish(T, v);
    for (const v of ["40", "42"]) await h.client.publish(H, v);
    await barrier();
    clock.tick(4 * MIN);
    assert.equal(on(`${T}/average`).length, 0, "nothing before the window ends");

    clock.tick(1 * MIN); // 12:05, with no message arriving
    const avg = await h.client.waitFor(`${T}/average`);
    assert.equal(avg.payload.toString(), "22.96666666666667", "Python's str(mean), as IoTitan sent it");
    assert.equal(avg.retain, false);
    assert.equal((await h.client.waitFor(`${H}/average`)).payload.toString(), "41.0");

    const s = statsOf(await h.client.waitFor(`pifog/hub/stats/${T}`));
    assert.deepEqual(
      [s.device, s.topic, s.count, s.min, s.max, s.first, s.last, s.windowStart, s.windowEnd],
      ["hub", T, 3, 22.9, 23.1, 23.1, 22.9, "2026-01-01T12:00:00.000Z", "2026-01-01T12:05:00.000Z"],
    );
    assert.ok(Math.abs(s.stddev! - 0.11547005383792526) < 1e-12);
    assert.equal(s.mean, Number("22.96666666666667"));

    // a dashboard that starts later sees the latest window at once: the statistics are retained
    const late = await TestClient.connect(h.url, h.auth);
    try {
      await late.subscribe("pifog/hub/stats/#");
      const kept = await late.waitFor(`pifog/hub/stats/${H}`);
      assert.equal(kept.retain, true);
      assert.equal(late.json<WindowStats>(kept).mean, 41);
    } finally {
      await late.end();
    }

    assert.deepEqual(outputs.map((o) => o.topic).sort(), [`pifog/hub/stats/${H}`, `pifog/hub/stats/${T}`]);
    assert.equal(outputs.find((o) => o.payload.topic === H)!.payload.count, 2);
    // the device's own status, pongs and other JSON on `#` are not readings: no dead letters for them
    assert.deepEqual(deadLetters(), []);
  });

  it("never averages its own outputs or any stats or alert output, even on #", async () => {
    await load(statsFlow(h.url));
    await h.client.publish("x", "10");
    await h.client.publish("y/average", "100");
    await h.client.publish("y/alert", "70");
    await h.client.publish("pifog/other/stats/z", "5");
    await h.client.publish("pifog/other/alerts/events", "5");
    await barrier();
    clock.tick(5 * MIN);
    assert.equal((await h.client.waitFor("x/average")).payload.toString(), "10.0");
    await barrier(); // our own x/average has come back to us on `#` by now

    const since = h.client.received.length;
    await h.client.publish("x", "20");
    await barrier();
    clock.tick(5 * MIN);
    const second = await h.client.waitFor("x/average", (m) => h.client.received.indexOf(m) >= since);
    assert.equal(second.payload.toString(), "20.0", "the previous average was not taken as a reading");
    await barrier();
    const published = h.client.received.map((m) => m.topic);
    assert.deepEqual(published.filter((t) => t.endsWith("/average/average") || t.endsWith("/alert/average")), []);
    assert.deepEqual(published.filter((t) => t.startsWith("pifog/hub/stats/")).sort(), ["pifog/hub/stats/x", "pifog/hub/stats/x"]);
  });

  it("keeps the window in progress across a restart, without counting a retained reading twice", async () => {
    await load(statsFlow(h.url));
    await h.client.publish(T, "10");
    await h.client.publish(T, "20", { retain: true });
    await barrier();
    clock.tick(2 * MIN); // checkpointed on the timer
    await h.client.publish(T, "30");
    await barrier(); // only in memory: the stop saves it

    await helper.unload();
    clock.tick(1 * MIN);
    await load(statsFlow(h.url)); // the broker sends the retained "20" again to the new subscription
    await h.client.publish(T, "40");
    await barrier();
    clock.tick(2 * MIN); // 12:05
    const s = statsOf(await h.client.waitFor(`pifog/hub/stats/${T}`));
    assert.deepEqual([s.count, s.mean, s.first, s.last, s.min, s.max], [4, 25, 10, 40, 10, 40]);
    assert.equal((await h.client.waitFor(`${T}/average`)).payload.toString(), "25.0");
  });

  it("publishes a window that ended while it was stopped as soon as it starts, once", async () => {
    await load(statsFlow(h.url));
    await h.client.publish(T, "10");
    await h.client.publish(T, "20");
    await barrier();
    await helper.unload();

    clock.tick(12 * MIN); // 12:12: the 12:00 window ended while stopped
    await load(statsFlow(h.url));
    const s = statsOf(await h.client.waitFor(`pifog/hub/stats/${T}`));
    assert.deepEqual([s.count, s.mean, s.windowStart, s.windowEnd], [2, 15, "2026-01-01T12:00:00.000Z", "2026-01-01T12:05:00.000Z"]);
    assert.equal((await h.client.waitFor(`${T}/average`)).payload.toString(), "15.0");

    // the window in progress now (12:10-12:15) starts empty
    const since = h.client.received.length;
    await h.client.publish(T, "100");
    await barrier();
    clock.tick(3 * MIN);
    const next = statsOf(await h.client.waitFor(`pifog/hub/stats/${T}`, (m) => h.client.received.indexOf(m) >= since));
    assert.deepEqual([next.count, next.mean, next.windowStart], [1, 100, "2026-01-01T12:10:00.000Z"]);
    await barrier(); // the broker's acknowledgements of those have reached the node too

    // published means done: another restart does not publish the old window again
    await helper.unload();
    const again = h.client.received.length;
    await load(statsFlow(h.url));
    await barrier();
    assert.deepEqual(on(`pifog/hub/stats/${T}`, again).filter((m) => !m.retain), []);
  });

  it("skips what is not a reading, dead-letters what was expected to be numeric, and keeps going", async () => {
    await load(statsFlow(h.url, { topics: "#\nsensors/exact" }));
    const caught: Array<{ error: { message: string }; topic?: string }> = [];
    helper.getNode("caught")!.on("input", (msg: unknown) => caught.push(msg as (typeof caught)[number]));

    await h.client.publish("sensors/wild", "online"); // text on a wildcard: a status, not a reading
    await h.client.client.publishAsync("sensors/wild", Buffer.from([0xff, 0x00, 0x9c]), { qos: 1 }); // binary
    await h.client.publish("sensors/deep", "[".repeat(5000) + "]".repeat(5000)); // deeply nested JSON
    await h.client.publish("sensors/json", JSON.stringify({ state: "ok" })); // JSON without a value
    await h.client.publish("sensors/wild", "NaN"); // a broken reading
    await h.client.publish("sensors/huge", "1e999"); // a number too large to be one
    await h.client.publish("sensors/exact", "hello"); // on a topic named exactly: expected numeric
    await h.client.publish("sensors/wild", "21");
    await barrier();

    const letters = deadLetters();
    assert.deepEqual(letters.map((l) => [l.type, l.topic, l.payload]), [
      ["stats", "sensors/wild", "NaN"],
      ["stats", "sensors/huge", "1e999"],
      ["stats", "sensors/exact", "hello"],
    ]);
    assert.match(letters[0].error, /not a finite number/);
    assert.match(letters[2].error, /not a number: hello/);
    await waitUntil(() => caught.length >= 3);
    assert.deepEqual(caught.map((c) => c.topic), ["sensors/wild", "sensors/huge", "sensors/exact"]);

    // from a flow: a payload with no number fails the message to Catch nodes
    helper.getNode("st1")!.receive({ topic: "flow/t", payload: "abc" });
    helper.getNode("st1")!.receive({ topic: "flow/t", payload: 7 });
    helper.getNode("st1")!.receive({ topic: "flow/#", payload: 1 });
    await waitUntil(() => caught.length >= 5);
    assert.match(caught[3]!.error.message, /not a number: abc/);
    assert.match(caught[4]!.error.message, /msg.topic/);

    clock.tick(5 * MIN);
    assert.equal((await h.client.waitFor("sensors/wild/average")).payload.toString(), "21.0");
    assert.equal((await h.client.waitFor("flow/t/average")).payload.toString(), "7.0");
    await barrier();
    const averaged = h.client.received.filter((m) => m.topic.endsWith("/average")).map((m) => m.topic).sort();
    assert.deepEqual(averaged, ["flow/t/average", "sensors/wild/average"]);
  });

  it("takes a retained topic cleared while it listens (an empty payload) as no reading: nothing dead-lettered", async () => {
    await load(statsFlow(h.url, { topics: "sensors/exact" }));
    const caught: unknown[] = [];
    helper.getNode("caught")!.on("input", (msg: unknown) => caught.push(msg));
    await h.client.publish("sensors/exact", "20", { retain: true });
    await h.client.publish("sensors/exact", "", { retain: true }); // arrives to a subscriber as a live empty message
    await h.client.publish("sensors/exact", "22");
    await barrier();
    assert.deepEqual(deadLetters(), []);
    assert.deepEqual(caught, []);
    clock.tick(5 * MIN);
    const s = statsOf(await h.client.waitFor("pifog/hub/stats/sensors/exact"));
    assert.deepEqual([s.count, s.mean], [2, 21], "the two readings, nothing for the clear");
  });

  it("reads JSON readings at the value path beside plain ones", async () => {
    await load(statsFlow(h.url, { topics: "env/#", path: "temperature", compat: false }));
    await h.client.publish("env/a", JSON.stringify({ temperature: 21.5, humidity: 40 }));
    await h.client.publish("env/a", JSON.stringify({ temperature: "22.5" }));
    await h.client.publish("env/b", "19");
    await h.client.publish("env/c", JSON.stringify({ humidity: 3 }));
    await barrier();
    clock.tick(5 * MIN);
    assert.equal(statsOf(await h.client.waitFor("pifog/hub/stats/env/a")).mean, 22);
    assert.equal(statsOf(await h.client.waitFor("pifog/hub/stats/env/b")).mean, 19);
    await barrier();
    assert.equal(on("pifog/hub/stats/env/c").length, 0);
    assert.equal(on("env/a/average").length, 0, "IoTitan's average is off");
  });

  it("counts every one of a burst of readings", async () => {
    await load(statsFlow(h.url, { topics: "burst/+" }));
    const n = 2000;
    await Promise.all(Array.from({ length: n }, (_, i) => h.client.publish(`burst/${i % 4}`, String(i))));
    await barrier();
    clock.tick(5 * MIN);
    let total = 0;
    for (let k = 0; k < 4; k++) total += statsOf(await h.client.waitFor(`pifog/hub/stats/burst/${k}`)).count;
    assert.equal(total, n);
  });
});

async function waitUntil(test: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
