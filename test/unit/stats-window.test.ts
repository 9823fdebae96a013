import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { isTelemetryOutput, isTopicFilter, iotitanTopics, pythonFloat, topics } from "../../nodes/lib/contract";
import { StatsCheckpoint } from "../../nodes/lib/stats/checkpoint";
import {
  TumblingWindows,
  addValue,
  meanOf,
  mergeAggregates,
  newAggregate,
  planRestore,
  stddevOf,
  windowStartOf,
  windowStats,
  type Aggregate,
} from "../../nodes/lib/stats/window";
import { dataDatabase } from "../../nodes/lib/store/sqlite";
import { normaliseStats } from "../../nodes/stats/stats";
import { FakeClock } from "../support/fake-clock";

const MIN = 60_000;

function aggregateOf(values: number[], t0 = 0): Aggregate {
  const a = newAggregate(values[0]!, t0);
  values.slice(1).forEach((v, i) => addValue(a, v, t0 + i + 1));
  return a;
}

function naive(values: number[]) {
  const n = values.length;
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const sd = n < 2 ? null : Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1));
  return { n, mean, sd, min: Math.min(...values), max: Math.max(...values) };
}

const close = (a: number, b: number, rel = 1e-9) => Math.abs(a - b) <= rel * Math.max(1, Math.abs(a), Math.abs(b));

describe("stats: per-topic aggregates", () => {
  it("gives IoTitan's pandas figures for a DHT11's readings", () => {
    const a = aggregateOf([23.1, 22.9, 22.9]);
    assert.equal(a.count, 3);
    assert.equal(pythonFloat(meanOf(a)), "22.96666666666667", "what IoTitan (numpy: sum / n, Python repr) published on …/average");
    assert.equal(a.min, 22.9);
    assert.equal(a.max, 23.1);
    assert.equal(a.first, 23.1);
    assert.equal(a.last, 22.9);
    assert.ok(close(stddevOf(a)!, 0.11547005383792526), `sample stddev ${stddevOf(a)}`);
  });

  it("has no standard deviation for a single reading, and 0 for equal ones", () => {
    assert.equal(stddevOf(aggregateOf([5])), null);
    assert.equal(stddevOf(aggregateOf([5, 5, 5])), 0);
  });

  it("stays accurate with a large offset (Welford), where the sum of squares would not", () => {
    const values = [1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16];
    assert.ok(close(stddevOf(aggregateOf(values))!, Math.sqrt(30), 1e-12));
  });

  it("matches a direct computation for any readings (fast-check)", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 200 }), (values) => {
        const a = aggregateOf(values);
        const n = naive(values);
        assert.equal(a.count, n.n);
        // -0 and 0 are the same reading (strict assert would tell them apart)
        assert.ok(a.min === n.min, `min ${a.min} vs ${n.min}`);
        assert.ok(a.max === n.max, `max ${a.max} vs ${n.max}`);
        assert.ok(close(meanOf(a), n.mean, 1e-9) || Math.abs(meanOf(a) - n.mean) < 1e-6);
        assert.ok(meanOf(a) >= a.min && meanOf(a) <= a.max);
        if (n.sd === null) assert.equal(stddevOf(a), null);
        else assert.ok(Math.abs(stddevOf(a)! - n.sd) <= 1e-6 * Math.max(1, n.sd), `${stddevOf(a)} vs ${n.sd}`);
      }),
    );
  });

  it("merges two parts into what one pass gives (restoring a checkpoint into a running window)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e4, max: 1e4, noNaN: true }), { minLength: 1, maxLength: 50 }),
        fc.array(fc.double({ min: -1e4, max: 1e4, noNaN: true }), { minLength: 1, maxLength: 50 }),
        (xs, ys) => {
          const merged = mergeAggregates(aggregateOf(xs, 0), aggregateOf(ys, 1000));
          const whole = aggregateOf([...xs, ...ys]);
          assert.equal(merged.count, whole.count);
          assert.ok(merged.min === whole.min && merged.max === whole.max, "min and max (-0 and 0 are the same reading)");
          assert.ok(merged.first === xs[0] && merged.last === ys[ys.length - 1], "first and last");
          assert.ok(Math.abs(meanOf(merged) - meanOf(whole)) < 1e-6);
          const [sm, sw] = [stddevOf(merged), stddevOf(whole)];
          if (sw === null) assert.equal(sm, null);
          else assert.ok(Math.abs(sm! - sw) < 1e-6 * Math.max(1, sw));
          // the order of the parts does not matter
          assert.ok(mergeAggregates(aggregateOf(ys, 1000), aggregateOf(xs, 0)).first === xs[0]);
        },
      ),
    );
  });
});

describe("stats: tumbling windows", () => {
  it("aligns windows to the clock", () => {
    const t = Date.UTC(2026, 0, 1, 12, 7, 31);
    assert.equal(windowStartOf(t, 5 * MIN), Date.UTC(2026, 0, 1, 12, 5));
    const w = new TumblingWindows(5 * MIN, t);
    assert.equal(w.current.start, Date.UTC(2026, 0, 1, 12, 5));
    assert.equal(w.current.end, Date.UTC(2026, 0, 1, 12, 10));
  });

  it("closes a window on a timer, with nothing more arriving, into the next one", () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
    const w = new TumblingWindows(5 * MIN, clock.now());
    const closed: Array<{ start: number; topics: string[]; counts: number[] }> = [];
    const arm = () =>
      clock.setTimeout(() => {
        const c = w.close(clock.now());
        closed.push({ start: c.start, topics: [...c.topics.keys()], counts: [...c.topics.values()].map((a) => a.count) });
        arm();
      }, w.current.end - clock.now());
    arm();
    w.add("a", 1, clock.now());
    clock.tick(MIN);
    w.add("a", 2, clock.now());
    w.add("b", 5, clock.now());
    clock.tick(4 * MIN); // 12:05: the first window closes by its timer
    assert.deepEqual(closed, [{ start: Date.UTC(2026, 0, 1, 12, 0), topics: ["a", "b"], counts: [2, 1] }]);
    assert.equal(w.current.start, Date.UTC(2026, 0, 1, 12, 5));
    clock.tick(5 * MIN); // an empty window closes too (it publishes nothing)
    assert.equal(closed.length, 2);
    assert.deepEqual(closed[1]!.topics, []);
  });

  it("says when a reading is past the window (its timer is late), and tracks what changed since a checkpoint", () => {
    const w = new TumblingWindows(MIN, 0);
    assert.equal(w.isPast(MIN - 1), false);
    assert.equal(w.isPast(MIN), true);
    w.add("a", 1, 10);
    w.add("b", 2, 20);
    assert.deepEqual(w.takeDirty().map(([t]) => t), ["a", "b"]);
    assert.deepEqual(w.takeDirty(), []);
    w.add("a", 3, 30);
    assert.deepEqual(w.takeDirty().map(([t, a]) => [t, a.count]), [["a", 2]]);
    // a late close starts the window holding now, not the one after the old window
    const closed = w.close(3 * MIN + 5);
    assert.equal(closed.end, MIN);
    assert.equal(w.current.start, 3 * MIN);
    assert.equal(w.readings, 0);
  });

  it("holds at most maxTopics topics a window", () => {
    const w = new TumblingWindows(MIN, 0, 2);
    assert.equal(w.add("a", 1, 1), "added");
    assert.equal(w.add("b", 1, 1), "added");
    assert.equal(w.add("c", 1, 1), "full");
    assert.equal(w.add("a", 2, 2), "added");
    assert.equal(w.current.topics.size, 2);
  });

  it("plans a restart: the window in progress goes on, an ended one is published, another length is cut short", () => {
    const t0 = Date.UTC(2026, 0, 1, 12, 0);
    const topicsOf = (v: number) => new Map([["x", aggregateOf([v], t0)]]);
    const stored = [
      { start: t0, windowMs: 5 * MIN, topics: topicsOf(1) }, // ended at 12:05
      { start: t0 + 5 * MIN, windowMs: 5 * MIN, topics: topicsOf(2) }, // in progress at 12:07
      { start: t0, windowMs: 10 * MIN, topics: topicsOf(3) }, // another length, not ended
    ];
    const plan = planRestore(stored, t0 + 7 * MIN, 5 * MIN);
    assert.deepEqual([...plan.current.keys()], ["x"]);
    assert.equal(plan.current.get("x")!.sum, 2);
    assert.deepEqual(
      plan.finished.map((w) => [w.start, w.end, w.windowMs]),
      [
        [t0, t0 + 5 * MIN, 5 * MIN],
        [t0, t0 + 7 * MIN, 10 * MIN],
      ],
    );
  });

  it("builds the native statistics payload", () => {
    const a = aggregateOf([1, 2, 3, 4], Date.UTC(2026, 0, 1, 12, 0, 1));
    const s = windowStats("hub", "iotitan/home/x", a, Date.UTC(2026, 0, 1, 12, 0), Date.UTC(2026, 0, 1, 12, 5));
    assert.deepEqual(s, {
      device: "hub",
      topic: "iotitan/home/x",
      windowStart: "2026-01-01T12:00:00.000Z",
      windowEnd: "2026-01-01T12:05:00.000Z",
      count: 4,
      min: 1,
      max: 4,
      mean: 2.5,
      stddev: Math.sqrt(5 / 3),
      first: 1,
      last: 4,
      firstAt: "2026-01-01T12:00:01.000Z",
      lastAt: "2026-01-01T12:00:01.003Z",
    });
  });
});

describe("stats: checkpoint in SQLite", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-stats-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("saves, loads back exactly, updates in place and forgets a published window", () => {
    const handle = dataDatabase(dir, "state");
    try {
      const cp = new StatsCheckpoint(handle.db, "node1");
      const other = new StatsCheckpoint(handle.db, "node2");
      const a = aggregateOf([23.1, 22.9], 1000);
      cp.save(0, 5 * MIN, [["t/1", a]]);
      other.save(0, 5 * MIN, [["t/1", aggregateOf([9])]]);
      addValue(a, 22.9, 3000);
      cp.save(0, 5 * MIN, [["t/1", a], ["t/2", aggregateOf([1])]]);
      cp.save(5 * MIN, 5 * MIN, [["t/1", aggregateOf([7])]]);
      const loaded = cp.load();
      assert.equal(loaded.length, 2);
      assert.deepEqual(loaded[0]!.topics.get("t/1"), a);
      assert.deepEqual([...loaded[0]!.topics.keys()], ["t/1", "t/2"]);
      cp.remove(0, 5 * MIN);
      assert.deepEqual(cp.load().map((w) => w.start), [5 * MIN]);
      assert.equal(other.load().length, 1, "another node's checkpoint is its own");
    } finally {
      handle.release();
    }
  });
});

describe("stats: config and topics", () => {
  it("normalises the editor's config", () => {
    const s = normaliseStats({ topics: "iotitan/#\n home/+/temperature , x", path: "state.humidity", window: 30, windowUnit: "s", checkpoint: 2, compat: false });
    assert.deepEqual(s.filters, ["iotitan/#", "home/+/temperature", "x"]);
    assert.deepEqual(s.path, ["state", "humidity"]);
    assert.equal(s.windowMs, 30_000);
    assert.equal(s.checkpointMs, 2000);
    assert.equal(s.compat, false);
    const d = normaliseStats({});
    assert.deepEqual([d.filters, d.windowMs, d.checkpointMs, d.compat], [["#"], 5 * MIN, 5000, true]);
    assert.throws(() => normaliseStats({ topics: "a/#/b" }), /not an MQTT topic filter/);
    assert.throws(() => normaliseStats({ window: 0 }), /window/);
    assert.throws(() => normaliseStats({ window: 25, windowUnit: "h" }), /window/);
    assert.throws(() => normaliseStats({ windowUnit: "days" }), /unit/);
    assert.throws(() => normaliseStats({ checkpoint: 0 }), /checkpoint/);
    assert.throws(() => normaliseStats({ path: "a..b" }), /value path/);
  });

  it("knows its own outputs and every stats and alert node's, so it never averages them", () => {
    for (const t of ["x/average", "iotitan/home/up_bed1/dht11/temperature/average", "x/alert", "pifog/hub/stats/x", "pifog/hub/alerts/events", "pifog/hub/alerts/active"]) {
      assert.equal(isTelemetryOutput(t), true, t);
    }
    for (const t of ["iotitan/home/up_bed1/dht11/temperature", "average/x", "pifog/hub/environment/temperature", "pifog/stats", "x/averages"]) {
      assert.equal(isTelemetryOutput(t), false, t);
    }
    assert.equal(iotitanTopics.average("iotitan/home/x"), "iotitan/home/x/average");
    assert.equal(topics.stats("hub", "iotitan/home/x"), "pifog/hub/stats/iotitan/home/x");
    assert.equal(isTelemetryOutput(topics.stats("hub", "/World/x")), true);
  });

  it("tells topic filters from what is not one", () => {
    for (const f of ["#", "a/#", "+/b/+", "/World/#", "a b/c"]) assert.equal(isTopicFilter(f), true, f);
    for (const f of ["", "a/#/b", "a#", "a/b+", "a/\u0000"]) assert.equal(isTopicFilter(f), false, f);
  });

  it("writes the mean as Python's repr(float) did", () => {
    const cases: Array<[number, string]> = [
      [23.1, "23.1"],
      [23, "23.0"],
      [-4, "-4.0"],
      [0, "0.0"],
      [-0, "-0.0"],
      [0.1 + 0.2, "0.30000000000000004"],
      [1 / 3, "0.3333333333333333"],
      [100, "100.0"],
      [0.0001, "0.0001"],
      [0.00001, "1e-05"],
      [1.5e-7, "1.5e-07"],
      [1e16, "1e+16"],
      [9999999999999998, "9999999999999998.0"],
      [123456789012345678, "1.2345678901234568e+17"],
      [1e22, "1e+22"],
      [5e-324, "5e-324"],
      [-2.5e-5, "-2.5e-05"],
    ];
    for (const [x, py] of cases) assert.equal(pythonFloat(x), py, String(x));
  });

  it("writes every double so that it reads back (fast-check)", () => {
    fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => Object.is(Number(pythonFloat(x)), x)));
  });
});
