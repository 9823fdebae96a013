import assert from "node:assert/strict";
import { PayloadError } from "../../nodes/lib/contract";
import fs from "node:fs";
import path from "node:path";
import { Outbox } from "../../nodes/lib/outbox/outbox";
import { dataDatabase } from "../../nodes/lib/store/sqlite";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import {
  bulkUpdates,
  classifyAnswer,
  mergeWindows,
  parseReading,
  readyReadings,
  type Reading,
  type TimedReading,
} from "../../nodes/thingspeak/bulk-update";
import thingspeak, { normaliseThingspeak, thingspeakQueue, type ThingspeakDef } from "../../nodes/thingspeak/thingspeak";
import { advance, advanceUntil } from "../support/clock-pump";
import { FakeClock } from "../support/fake-clock";
import { FakeThingspeak, type FakeEntry } from "../support/fake-thingspeak";
import { deviceNode, helper, pingBarrier, startHarness, waitForEvent, type Harness } from "../support/node-harness";
import { until } from "../support/until";

const nodes = [pifogDevice, thingspeak];
/** The tests' interval (window and least time between calls), lowered from 15 s through the settings. */
const INTERVAL = 100;
const CHANNEL = "1234";
const KEY = "WRITEKEY16CHARS0";
const TEMP = "iotitan/home/up_bed1/dht11/temperature/average";
const HUM = "iotitan/home/up_bed1/dht11/humidity/average";
const PIR = "iotitan/home/up_bed1/xc-4444/pir/average";

interface Status {
  fill?: string;
  shape?: string;
  text?: string;
}
interface Result {
  result: string;
  entries: number;
  readings: number;
  queued: number;
  detail?: string;
}

describe("thingspeak node", () => {
  let h: Harness;
  let fake: FakeThingspeak;
  /** The node's time (and the fake ThingSpeak's): windows, the interval and backoffs run on it. */
  let clock: FakeClock;

  /** The node is waiting for ThingSpeak's answer: time stands still meanwhile (its answer timeout is on the clock). */
  function delivering(): boolean {
    const node = helper.getNode("ts") as unknown as { outbox?: Outbox<Reading> | null } | null;
    return node?.outbox?.snapshot().delivering ?? false;
  }
  const pump = { stepMs: INTERVAL / 10, busy: delivering };
  /** Lets `ms` of the node's time pass. */
  const wait = (ms: number) => advance(clock, ms, pump);
  /** Lets the node's time pass until `test` holds. */
  const runUntil = (test: () => boolean, what: string) => advanceUntil(clock, test, what, pump);
  /** Moves to the start of the next window, so what is published next lands in one window. */
  const nextWindow = () => wait(INTERVAL - (clock.now() % INTERVAL));
  /** Publishes readings and waits until the node has them (the device answers a ping after them). */
  async function publish(...readings: Array<[string, string]>): Promise<void> {
    for (const [topic, payload] of readings) await h.client.publish(topic, payload);
    await pingBarrier(h.client);
  }

  function flow(ts: Record<string, unknown> = {}) {
    return [
      deviceNode("hub", h.url),
      {
        id: "ts",
        type: "thingspeak",
        z: "tab",
        device: "cfg-hub",
        channel: CHANNEL,
        baseUrl: fake.url,
        interval: INTERVAL / 1000,
        timeMode: "created_at",
        mappings: [
          { topic: TEMP, field: "field1" },
          { topic: HUM, field: "field2" },
          { topic: PIR, field: "field3" },
        ],
        fieldDefaults: {},
        wires: [["out"]],
        ...ts,
      },
      { id: "out", type: "helper", z: "tab" },
      { id: "catcher", type: "catch", z: "tab", scope: null, uncaught: false, wires: [["caught"]] },
      { id: "caught", type: "helper", z: "tab" },
      { id: "tab", type: "tab" },
    ];
  }

  async function load(ts: Record<string, unknown> = {}, key = KEY): Promise<void> {
    await helper.load(nodes, flow(ts), { ts: { writeApiKey: key } });
    // the device link subscribes before it announces itself: once online, the topics are subscribed
    await h.client.waitFor("pifog/hub/status", (m) => m.payload.includes('"online"'), 10_000, false);
  }

  /** Every delivery result the node reports on its output. */
  function results(): Result[] {
    const seen: Result[] = [];
    (helper.getNode("out") as unknown as NodeJS.EventEmitter).on("input", (msg: { payload: Result }) => seen.push(msg.payload));
    return seen;
  }

  function statuses(): Status[] {
    const seen: Status[] = [];
    (helper.getNode("ts") as unknown as NodeJS.EventEmitter).on("call:status", (call: { args: [Status] }) => seen.push(call.args[0]));
    return seen;
  }

  function queuedOnDisk(): number {
    const handle = dataDatabase(h.dataDir, "outbox");
    try {
      return (handle.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE queue = ?").get(thingspeakQueue(CHANNEL)) as { n: number }).n;
    } finally {
      handle.release();
    }
  }

  const field1 = (entries: FakeEntry[]) => entries.map((e) => e.fields.field1);

  /** No 429, at most 960 updates a call, and calls that reached it at least the interval apart. */
  function assertWithinLimits(): void {
    const reached = fake.calls;
    assert.deepEqual(reached.filter((c) => c.status === 429), [], "no call was rate limited");
    assert.ok(reached.every((c) => c.updates <= 960), "at most 960 updates a call");
    for (let i = 1; i < reached.length; i++) {
      const gap = (reached[i] as { at: number }).at - (reached[i - 1] as { at: number }).at;
      assert.ok(gap >= INTERVAL, `calls ${i - 1} and ${i} only ${gap} ms apart`);
    }
  }

  beforeEach(async () => {
    h = await startHarness();
    clock = new FakeClock(Math.floor(Date.now() / INTERVAL) * INTERVAL);
    h.useServices({ clock, tuning: { thingspeakMinIntervalMs: INTERVAL, thingspeakTimeoutMs: 2000 } });
    fake = await FakeThingspeak.start({ channels: { [CHANNEL]: KEY }, minIntervalMs: INTERVAL, now: () => clock.now() });
  });
  afterEach(async () => {
    await h.close();
    await fake.close();
  });

  it("maps topics to fields and merges one window's readings into one entry, with a default for a missing field", async () => {
    await load({ fieldDefaults: { field3: 0 } });
    const out = results();
    await nextWindow();
    await publish([TEMP, "20.5"], [HUM, "55"], [TEMP, "21"]);
    await runUntil(() => fake.entries().length >= 1, "the first entry");
    await nextWindow();
    await publish([PIR, "1"], [TEMP, " 22.25\n"]);
    await runUntil(() => fake.entries().length >= 2, "the second entry");

    const [first, second] = fake.entries(CHANNEL);
    // the latest reading of a field in the window wins; field3 (the PIR) had none: its default
    assert.deepEqual(first?.fields, { field1: 21, field2: 55, field3: 0 });
    // no default for field2: left out
    assert.deepEqual(second?.fields, { field1: 22.25, field3: 1 });
    assert.ok(typeof first?.update.created_at === "string" && first.at < second!.at);
    assert.equal(Math.floor(first.at / INTERVAL) + 1 <= Math.floor(second!.at / INTERVAL), true, "one entry per window");
    await until(() => out.length >= 2, "the node's results");
    assert.deepEqual(out.slice(0, 2).map((r) => [r.result, r.entries, r.readings]), [["accepted", 1, 3], ["accepted", 1, 2]]);
    assertWithinLimits();
  });

  it("keeps every reading on a bad key (401): red status, one error, and sends them once the key is fixed", async () => {
    await load({}, "WRONGKEY");
    const seen = statuses();
    await nextWindow();
    await publish([TEMP, "1"]);
    await nextWindow();
    await publish([TEMP, "2"]);
    await runUntil(() => fake.calls.some((c) => c.status === 401), "a 401");
    await runUntil(() => seen.some((s) => s.fill === "red"), "a red status");
    assert.match(seen.filter((s) => s.fill === "red").at(-1)?.text ?? "", /bad-key/);
    await nextWindow();
    await publish([TEMP, "3"]);
    await wait(5 * INTERVAL);
    // it backs off long: no hammering with a bad key, and one error in the log, not one per call
    assert.equal(fake.calls.length, 1);
    const errors = helper.log().args.filter((a) => (a[0] as { level?: number; type?: string }).level === 20 && (a[0] as { type?: string }).type === "thingspeak");
    assert.equal(errors.length, 1);
    assert.match(String((errors[0]?.[0] as { msg?: unknown }).msg), /bad-key/);
    assert.deepEqual(fake.entries(), []);

    // a redeploy with the right key: everything queued goes, in order
    await helper.unload();
    await load();
    await runUntil(() => fake.entries().length >= 3, "three entries");
    assert.deepEqual(field1(fake.entries()), [1, 2, 3]);
  });

  it("backs off on 429 (rate limited) and loses nothing", async () => {
    await fake.close();
    // a stricter server than the node's interval: the node's second call comes too soon
    fake = await FakeThingspeak.start({ channels: { [CHANNEL]: KEY }, minIntervalMs: 4 * INTERVAL, now: () => clock.now() });
    await load();
    const out = results();
    for (let i = 1; i <= 6; i++) {
      await nextWindow();
      await publish([TEMP, String(i)]);
    }
    await runUntil(() => fake.entries().length >= 6 || field1(fake.entries()).includes(6), "every reading");
    assert.ok(fake.calls.some((c) => c.status === 429), "the fake rate-limited some call");
    assert.ok(out.some((r) => r.result === "rate-limited"));
    assert.deepEqual(field1(fake.entries()), [1, 2, 3, 4, 5, 6]);
  });

  it("delivers every reading once, in order and within the limits, after the endpoint was down for a while", async () => {
    await load();
    const out = results();
    const seen = statuses();
    await nextWindow();
    await publish([TEMP, "1"]);
    await runUntil(() => fake.entries().length === 1, "the first entry");

    await fake.setMode("refused");
    for (let i = 2; i <= 4; i++) {
      await nextWindow();
      await publish([TEMP, String(i)]);
    }
    await runUntil(() => out.some((r) => r.result === "network"), "a failed call");
    await runUntil(() => seen.some((s) => s.fill === "yellow" && /network/.test(s.text ?? "")), "a yellow status");
    await fake.setMode("unavailable");
    await nextWindow();
    await publish([TEMP, "5"]);
    await runUntil(() => fake.calls.some((c) => c.status === 503), "a 503");
    await fake.setMode("zero");
    await nextWindow();
    await publish([TEMP, "6"]);
    await runUntil(() => fake.calls.some((c) => c.error === "answered 0"), "a 0 answer");
    assert.deepEqual(field1(fake.entries()), [1]);

    await fake.setMode("up");
    await nextWindow();
    await publish([TEMP, "7"]);
    await runUntil(() => field1(fake.entries()).includes(7), "the last reading");
    assert.deepEqual(field1(fake.entries()), [1, 2, 3, 4, 5, 6, 7]);
    assertWithinLimits();
    await runUntil(() => seen.at(-1)?.fill === "green", "a green status");
  });

  it("loses nothing when the node is restarted in the middle of an outage", async () => {
    await load();
    await nextWindow();
    await publish([TEMP, "1"]);
    await runUntil(() => fake.entries().length === 1, "the first entry");
    await fake.setMode("unavailable");
    const out = results();
    for (let i = 2; i <= 3; i++) {
      await nextWindow();
      await publish([TEMP, String(i)]);
    }
    await runUntil(() => out.some((r) => r.result === "unavailable"), "a failed call");
    // both readings are on disk (one still on its way over MQTT at an unload was never taken)
    await until(() => queuedOnDisk() === 2, "two queued readings");

    await helper.unload();
    await load();
    await nextWindow();
    await publish([TEMP, "4"]);
    const callsBefore = fake.calls.length;
    await runUntil(() => fake.calls.length > callsBefore, "a call after the restart");
    await fake.setMode("up");
    await runUntil(() => field1(fake.entries()).includes(4), "every reading");
    assert.deepEqual(field1(fake.entries()), [1, 2, 3, 4]);
    assertWithinLimits();
  });

  it("sends a backlog of 2,000 entries oldest first in calls of at most 960", async function () {
    this.timeout(30_000);
    // 2,000 readings from an old outage, one per window, already in the node's queue
    const then = new FakeClock(clock.now() - 3_600_000);
    const backlog = new Outbox<Reading>({ dataDir: h.dataDir, queue: thingspeakQueue(CHANNEL), clock: then, deliver: async () => undefined });
    for (let i = 0; i < 2000; i++) {
      then.tick(INTERVAL);
      backlog.put({ field: "field1", value: i, topic: TEMP });
    }
    await backlog.close();

    await load();
    await runUntil(() => fake.entries().length >= 2000, "2,000 entries");
    assert.deepEqual(fake.calls.map((c) => [c.status, c.updates]), [[202, 960], [202, 960], [202, 80]]);
    assert.deepEqual(field1(fake.entries()), Array.from({ length: 2000 }, (_, i) => i));
    assertWithinLimits();
  });

  it("with delta_t, counts the seconds since the previous entry, also across calls", async () => {
    const t0 = Math.floor((clock.now() - 600_000) / 1000) * 1000;
    const then = new FakeClock(t0);
    const backlog = new Outbox<Reading>({ dataDir: h.dataDir, queue: thingspeakQueue(CHANNEL), clock: then, deliver: async () => undefined });
    backlog.put({ field: "field1", value: 1 });
    then.tick(60_000);
    backlog.put({ field: "field1", value: 2 });
    then.tick(65_400);
    backlog.put({ field: "field1", value: 3 });
    await backlog.close();

    await load({ timeMode: "delta_t" });
    await runUntil(() => fake.entries().length >= 3, "the backlog");
    assert.deepEqual(fake.entries().map((e) => e.update.delta_t), [0, 60, 65]);
    await nextWindow();
    const sentAt = clock.now();
    await publish([TEMP, "4"]);
    await runUntil(() => fake.entries().length >= 4, "the live reading");
    const last = fake.entries()[3]!;
    // seconds since the previous entry (t0 + 125 s), not since the previous call
    const expected = (sentAt - (t0 + 125_000)) / 1000;
    assert.ok(Math.abs(Number(last.update.delta_t) - expected) <= 1.5, `delta_t ${last.update.delta_t}, expected about ${expected}`);
    assert.equal(fake.calls.filter((c) => c.status === 400).length, 0);
  });

  it("dead-letters a non-numeric reading with an error Catch nodes see, and keeps going", async () => {
    await load();
    const caught = waitForEvent<{ error: { message: string } }>(helper.getNode("caught")!, "input");
    await h.client.publish(TEMP, "warm");
    const err = await caught;
    assert.match(err.error.message, /warm/);
    assert.match(err.error.message, /number|numeric/);

    const ts = helper.getNode("ts")!;
    const more = waitForEvent<{ error: { message: string } }>(helper.getNode("caught")!, "input");
    ts.receive({ topic: HUM, payload: "NaN" });
    assert.match((await more).error.message, /finite|NaN/);
    const unmapped = waitForEvent<{ error: { message: string } }>(helper.getNode("caught")!, "input");
    ts.receive({ topic: "somewhere/else", payload: 3 });
    assert.match((await unmapped).error.message, /unmapped/);

    const letters = fs.readFileSync(path.join(h.dataDir, "dead-letter.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(letters.length, 3);
    assert.deepEqual(letters.map((l) => [l.type, l.topic, l.payload]), [
      ["thingspeak", TEMP, "warm"],
      ["thingspeak", HUM, "NaN"],
      ["thingspeak", "somewhere/else", "3"],
    ]);

    // still working: over MQTT, and from a flow with an explicit field
    await nextWindow();
    await publish([TEMP, "23.1"]);
    ts.receive({ field: "field4", payload: 7 });
    await until(() => queuedOnDisk() === 2, "both readings stored");
    await runUntil(() => fake.entries().length >= 1, "an entry");
    assert.deepEqual(fake.entries()[0]?.fields, { field1: 23.1, field4: 7 });
  });

  it("takes a cleared retained reading (an empty payload) as no reading: nothing dead-lettered, nothing sent for it", async () => {
    await load();
    const caught: unknown[] = [];
    helper.getNode("caught")!.on("input", (msg: unknown) => caught.push(msg));
    await h.client.publish(TEMP, "", { retain: true }); // a client cleaning up the sensor's retained value
    await publish([TEMP, "23.1"]);
    await runUntil(() => fake.entries().length >= 1, "an entry");
    assert.deepEqual(caught, []);
    assert.equal(fs.existsSync(path.join(h.dataDir, "dead-letter.jsonl")), false, "nothing dead-lettered");
    assert.deepEqual(fake.entries().map((e) => e.fields), [{ field1: 23.1 }]);
  });

  it("refuses a configuration without a write key or with a bad channel, and raises a too-short interval", async () => {
    h.useServices(); // the real 15 s minimum
    await helper.load(nodes, flow({ interval: 1 }), { ts: { writeApiKey: KEY } });
    const logged = () => helper.log().args.map((a) => JSON.stringify(a)).join("\n");
    await until(() => /interval-raised/.test(logged()), "the interval warning");
    await helper.unload();
    await helper.load(nodes, flow(), { ts: { writeApiKey: "" } });
    await until(() => /thingspeak\.errors\.config/.test(logged()), "the config error");
    assert.equal(fake.calls.length, 0);
  });
});

describe("thingspeak bulk updates", () => {
  const at = (s: number) => Date.UTC(2026, 0, 1, 12, 0, 0) + s * 1000;
  const r = (s: number, field: Reading["field"], value: number): TimedReading => ({ at: at(s), field, value });

  it("takes plain numbers as ESPEasy sends them and JSON numbers, and nothing else", () => {
    assert.equal(parseReading("23.1"), 23.1);
    assert.equal(parseReading(" -4\n"), -4);
    assert.equal(parseReading(Buffer.from("1e3")), 1000);
    assert.equal(parseReading(".5"), 0.5);
    assert.equal(parseReading(7), 7);
    for (const bad of ["warm", "", "NaN", "Infinity", "1e999", "0x10", "23.1.2", "{}", "[1]", "1,5"]) {
      assert.throws(() => parseReading(bad), PayloadError, bad);
    }
    for (const bad of [NaN, Infinity, null, undefined]) assert.throws(() => parseReading(bad), PayloadError);
    assert.equal(parseReading('{"value": 21.5}'), 21.5, "JSON with a value, as the shared telemetry parser reads it");
  });

  it("merges the readings of one window, the latest of each field winning", () => {
    const windows = mergeWindows([r(0, "field1", 1), r(5, "field2", 2), r(14, "field1", 3), r(15, "field1", 4), r(31, "field3", 5)], 15_000);
    assert.deepEqual(
      windows.map((w) => [w.readings, w.at - at(0), w.fields]),
      [[3, 14_000, { field1: 3, field2: 2 }], [1, 15_000, { field1: 4 }], [1, 31_000, { field3: 5 }]],
    );
  });

  it("sends only closed windows, at most 960, and waits for an open one to close", () => {
    const readings = [r(0, "field1", 1), r(1, "field1", 2), r(16, "field1", 3)];
    assert.deepEqual(readyReadings(readings, at(10), 15_000, 960, false), { waitUntil: at(15) });
    assert.equal(readyReadings(readings, at(15), 15_000, 960, false), 2);
    assert.equal(readyReadings(readings, at(30), 15_000, 960, false), 3);
    assert.equal(readyReadings(readings, at(30), 15_000, 1, false), 2);
    // a full batch may have cut its last window short: that one waits
    assert.equal(readyReadings(readings, at(30), 15_000, 960, true), 2);
  });

  it("stamps entries with created_at, or delta_t in whole seconds since the previous entry", () => {
    const windows = mergeWindows([r(3.5, "field1", 1), r(18.2, "field1", 2), r(75.9, "field2", 3)], 15_000);
    const absolute = bulkUpdates(windows, { mode: "created_at", defaults: { field3: 0 } });
    assert.deepEqual(absolute.updates, [
      { created_at: "2026-01-01T12:00:03.500Z", field1: 1, field3: 0 },
      { created_at: "2026-01-01T12:00:18.200Z", field1: 2, field3: 0 },
      { created_at: "2026-01-01T12:01:15.900Z", field2: 3, field3: 0 },
    ]);
    assert.equal(absolute.lastEntryAt, at(75.9));
    const first = bulkUpdates(windows, { mode: "delta_t", defaults: {} });
    assert.deepEqual(first.updates.map((u) => u.delta_t), [0, 15, 57]);
    const next = bulkUpdates(mergeWindows([r(100.1, "field1", 4)], 15_000), { mode: "delta_t", defaults: {}, previousEntryAt: first.lastEntryAt });
    assert.deepEqual(next.updates.map((u) => u.delta_t), [25]);
    // two entries in one second (a clock that went back): never a zero delta_t after the first
    const same = bulkUpdates([{ window: 1, readings: 1, at: at(1.2), fields: {} }, { window: 2, readings: 1, at: at(1.7), fields: {} }], { mode: "delta_t", defaults: {} });
    assert.deepEqual(same.updates.map((u) => u.delta_t), [0, 1]);
  });

  it("counts only a 2xx that is not 0 as accepted", () => {
    assert.equal(classifyAnswer(202, '{"success":true}', null).kind, "accepted");
    assert.equal(classifyAnswer(200, "0", null).kind, "unavailable");
    assert.equal(classifyAnswer(202, " 0\n", null).kind, "unavailable");
    assert.equal(classifyAnswer(401, "{}", null).kind, "bad-key");
    assert.equal(classifyAnswer(403, "{}", null).kind, "bad-key");
    assert.deepEqual(classifyAnswer(429, "", "30"), { kind: "rate-limited", detail: "HTTP 429", retryAfterMs: 30_000 });
    assert.equal(classifyAnswer(429, "", null).kind, "rate-limited");
    assert.equal(classifyAnswer(503, "", null).kind, "unavailable");
    assert.equal(classifyAnswer(400, "bad", null).kind, "rejected");
    assert.equal(classifyAnswer(404, "", null).kind, "rejected");
  });

  it("normalises the editor's config once, with errors a user can act on", () => {
    const base = {
      id: "n", type: "thingspeak", name: "", z: "", device: "d", channel: "999990", baseUrl: "", interval: "", timeMode: "",
      mappings: [{ topic: "a/b", field: "field1" }], fieldDefaults: { field3: "0", field4: "" },
    } as ThingspeakDef;
    const s = normaliseThingspeak(base, { writeApiKey: "KEY" });
    assert.deepEqual(
      [s.baseUrl, s.intervalMs, s.timeMode, s.defaults, s.intervalRaised],
      ["https://api.thingspeak.com", 15_000, "created_at", { field3: 0 }, false],
    );
    assert.equal(normaliseThingspeak({ ...base, interval: 5 }, { writeApiKey: "KEY" }).intervalMs, 15_000);
    assert.equal(normaliseThingspeak({ ...base, interval: 5 }, { writeApiKey: "KEY" }).intervalRaised, true);
    assert.equal(normaliseThingspeak({ ...base, interval: "60", timeMode: "delta_t" }, { writeApiKey: "K" }).intervalMs, 60_000);
    assert.equal(normaliseThingspeak({ ...base, baseUrl: "http://127.0.0.1:9/" }, { writeApiKey: "K" }).baseUrl, "http://127.0.0.1:9");
    assert.throws(() => normaliseThingspeak(base, {}), /write API key/);
    assert.throws(() => normaliseThingspeak({ ...base, channel: "abc" }, { writeApiKey: "K" }), /channel/);
    assert.throws(() => normaliseThingspeak({ ...base, baseUrl: "ftp://x" }, { writeApiKey: "K" }), /http/);
    assert.throws(() => normaliseThingspeak({ ...base, mappings: [] }, { writeApiKey: "K" }), /at least one topic/);
    assert.throws(() => normaliseThingspeak({ ...base, mappings: [{ topic: "a/#/b", field: "field1" }] }, { writeApiKey: "K" }), /MQTT topic/);
    assert.throws(() => normaliseThingspeak({ ...base, mappings: [{ topic: "a", field: "field9" }] }, { writeApiKey: "K" }), /field1..field8/);
    assert.throws(() => normaliseThingspeak({ ...base, fieldDefaults: { field2: "x" } }, { writeApiKey: "K" }), /not a number/);
  });
});
