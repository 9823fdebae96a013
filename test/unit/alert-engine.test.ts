import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { AlertEngine, type Track } from "../../nodes/lib/alerts/engine";
import { AlertRegistry } from "../../nodes/lib/alerts/registry";
import { clears, normaliseRules, raises, type AlertRuleConfig } from "../../nodes/lib/alerts/rules";
import { AlertStore, parseTrack } from "../../nodes/lib/alerts/store";
import { isAlertOutput, parseAlertAck, PayloadError, type AlertEvent } from "../../nodes/lib/contract";
import { dataDatabase } from "../../nodes/lib/store/sqlite";
import { FakeClock } from "../support/fake-clock";

const S = 1000;

function rule(extra: AlertRuleConfig = {}): AlertRuleConfig {
  return { id: "hot", label: "Too hot", topic: "home/+/temperature", condition: "above", threshold: 30, hysteresis: 0, for: 0, repeat: 0, cooldown: 0, ...extra };
}

/** The engine driven as the node drives it: readings at the clock's time, `tick` on a timer at `nextDue()`. */
class Driver {
  readonly clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
  readonly events: AlertEvent[] = [];
  engine: AlertEngine;
  private timer: unknown = null;
  private n = 0;

  constructor(rules: AlertRuleConfig[]) {
    this.engine = this.make(rules);
  }

  make(rules: AlertRuleConfig[]): AlertEngine {
    return new AlertEngine({ device: "hub", rules: normaliseRules(rules), newId: (r, t) => `${r}:${t}:${++this.n}` });
  }

  value(topic: string, v: number): AlertEvent[] {
    const out: AlertEvent[] = [];
    for (const r of this.engine.rulesFor(topic)) out.push(...this.engine.reading(r, topic, v, this.clock.now()));
    this.events.push(...out);
    this.schedule();
    return out;
  }

  schedule(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    const due = this.engine.nextDue();
    if (due === null) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.events.push(...this.engine.tick(this.clock.now()));
      this.schedule();
    }, due - this.clock.now());
  }

  kinds(): string[] {
    return this.events.map((e) => `${e.kind} ${e.topic} ${e.lastValue}`);
  }

  after(ms: number): string[] {
    const before = this.events.length;
    this.clock.tick(ms);
    return this.events.slice(before).map((e) => e.kind);
  }
}

describe("alerts: thresholds and hysteresis", () => {
  it("raises strictly above the threshold and clears once back past the hysteresis", () => {
    const d = new Driver([rule({ hysteresis: 2 })]);
    assert.deepEqual(d.value("home/kitchen/temperature", 30), [], "at the threshold is not above it");
    const [raised] = d.value("home/kitchen/temperature", 30.5);
    assert.equal(raised!.kind, "raised");
    assert.equal(raised!.value, 30.5);
    assert.equal(raised!.threshold, 30);
    assert.equal(raised!.rule, "hot");
    assert.equal(raised!.label, "Too hot");
    assert.equal(raised!.device, "hub");
    assert.equal(raised!.raisedAt, "2026-01-01T12:00:00.000Z");
    assert.deepEqual(d.value("home/kitchen/temperature", 35), [], "already active: no second raise");
    assert.deepEqual(d.value("home/kitchen/temperature", 29), [], "inside the hysteresis band");
    assert.equal(d.engine.active().length, 1);
    assert.equal(d.engine.active()[0]!.lastValue, 29);
    const [cleared] = d.value("home/kitchen/temperature", 28);
    assert.equal(cleared!.kind, "cleared");
    assert.equal(cleared!.id, raised!.id);
    assert.equal(cleared!.reason, "value");
    assert.equal(cleared!.value, 30.5, "the value that raised it");
    assert.equal(cleared!.lastValue, 28);
    assert.equal(d.engine.active().length, 0);
    // a new raise is a new alert with a new id
    const [again] = d.value("home/kitchen/temperature", 31);
    assert.notEqual(again!.id, raised!.id);
  });

  it("watches each topic of a wildcard rule on its own", () => {
    const d = new Driver([rule()]);
    d.value("home/kitchen/temperature", 31);
    d.value("home/attic/temperature", 20);
    d.value("home/attic/temperature", 40);
    d.value("home/kitchen/temperature", 25);
    assert.deepEqual(d.kinds(), ["raised home/kitchen/temperature 31", "raised home/attic/temperature 40", "cleared home/kitchen/temperature 25"]);
    assert.deepEqual(d.engine.active().map((a) => a.topic), ["home/attic/temperature"]);
    assert.deepEqual(d.engine.rulesFor("home/kitchen/humidity"), []);
  });

  it("works below a threshold too", () => {
    const r = normaliseRules([rule({ condition: "below", threshold: 5, hysteresis: 1 })])[0]!;
    assert.equal(raises(r, 4.9), true);
    assert.equal(raises(r, 5), false);
    assert.equal(clears(r, 5.9), false);
    assert.equal(clears(r, 6), true);
    const d = new Driver([rule({ condition: "below", threshold: 5, hysteresis: 1 })]);
    d.value("home/freezer/temperature", 3);
    d.value("home/freezer/temperature", 5.5);
    d.value("home/freezer/temperature", 6);
    assert.deepEqual(d.kinds(), ["raised home/freezer/temperature 3", "cleared home/freezer/temperature 6"]);
  });
});

describe("alerts: for, repeat, acknowledge, cooldown", () => {
  it("raises only once the condition has held for the 'for' time, by the timer", () => {
    const d = new Driver([rule({ for: 60 })]);
    d.value("home/kitchen/temperature", 35);
    assert.deepEqual(d.after(59 * S), []);
    assert.equal(d.engine.pending, 1);
    assert.deepEqual(d.after(1 * S), ["raised"]);
    assert.equal(d.events[0]!.raisedAt, "2026-01-01T12:01:00.000Z");
  });

  it("starts 'for' over when the value comes back within it", () => {
    const d = new Driver([rule({ for: 60 })]);
    d.value("home/kitchen/temperature", 35);
    d.clock.tick(30 * S);
    d.value("home/kitchen/temperature", 25);
    assert.deepEqual(d.after(60 * S), []);
    d.value("home/kitchen/temperature", 36);
    assert.deepEqual(d.after(59 * S), []);
    assert.deepEqual(d.after(1 * S), ["raised"]);
    assert.equal(d.events[0]!.value, 36);
  });

  it("repeats until acknowledged, then stays active silently until it clears", () => {
    const d = new Driver([rule({ repeat: 300 })]);
    const [raised] = d.value("home/kitchen/temperature", 35);
    assert.deepEqual(d.after(299 * S), []);
    assert.deepEqual(d.after(1 * S), ["repeated"]);
    assert.deepEqual(d.after(300 * S), ["repeated"]);
    assert.equal(d.events.at(-1)!.repeats, 2);
    const ack = d.engine.acknowledge(raised!.id, d.clock.now(), "anne");
    assert.equal(ack.outcome, "acknowledged");
    assert.equal(ack.outcome === "acknowledged" && ack.event.kind, "acknowledged");
    assert.equal(ack.outcome === "acknowledged" && ack.event.acknowledgedBy, "anne");
    assert.deepEqual(d.after(3600 * S), [], "no repeats once acknowledged");
    assert.equal(d.engine.active()[0]!.acknowledged, true);
    assert.equal(d.engine.acknowledge(raised!.id, d.clock.now()).outcome, "already");
    assert.equal(d.engine.acknowledge("nope", d.clock.now()).outcome, "unknown");
    const [cleared] = d.value("home/kitchen/temperature", 20);
    assert.equal(cleared!.kind, "cleared");
    assert.equal(cleared!.acknowledged, true);
    assert.equal(d.engine.acknowledge(raised!.id, d.clock.now()).outcome, "unknown", "a cleared alert is gone");
  });

  it("raises nothing new during the cooldown, and raises at its end if the condition still holds", () => {
    const d = new Driver([rule({ cooldown: 600 })]);
    d.value("home/kitchen/temperature", 35);
    d.value("home/kitchen/temperature", 20); // cleared at 12:00
    d.clock.tick(60 * S);
    assert.deepEqual(d.value("home/kitchen/temperature", 40), [], "in the cooldown");
    assert.deepEqual(d.after(539 * S), []);
    assert.deepEqual(d.after(1 * S), ["raised"]);
    assert.equal(d.events.at(-1)!.raisedAt, "2026-01-01T12:10:00.000Z");
  });

  it("does not raise at the end of the cooldown when the value went back meanwhile", () => {
    const d = new Driver([rule({ cooldown: 600 })]);
    d.value("home/kitchen/temperature", 35);
    d.value("home/kitchen/temperature", 20);
    d.clock.tick(60 * S);
    d.value("home/kitchen/temperature", 40);
    d.clock.tick(60 * S);
    d.value("home/kitchen/temperature", 25);
    assert.deepEqual(d.after(3600 * S), []);
    assert.equal(d.engine.nextDue(), null, "nothing left to do: the track is forgotten");
    d.value("home/kitchen/temperature", 41);
    assert.deepEqual(d.kinds().at(-1), "raised home/kitchen/temperature 41", "after the cooldown, at once");
  });

  it("combines 'for' and cooldown: both must be over", () => {
    const d = new Driver([rule({ for: 120, cooldown: 60 })]);
    d.value("home/kitchen/temperature", 35);
    assert.deepEqual(d.after(120 * S), ["raised"]);
    d.value("home/kitchen/temperature", 20); // cleared at 12:02, cooldown to 12:03
    d.value("home/kitchen/temperature", 35); // pending from 12:02, for until 12:04
    assert.deepEqual(d.after(119 * S), []);
    assert.deepEqual(d.after(1 * S), ["raised"]);
  });
});

describe("alerts: restart", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-alerts-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("keeps active alerts, acknowledgements, cooldowns and 'for' timers across a restart", () => {
    const handle = dataDatabase(dir, "state");
    try {
      const store = new AlertStore(handle.db, "n1");
      const d = new Driver([rule({ for: 0, repeat: 60 }), rule({ id: "slow", topic: "home/+/humidity", threshold: 80, for: 300 })]);
      const [raised] = d.value("home/kitchen/temperature", 35);
      d.engine.acknowledge(raised!.id, d.clock.now(), "anne");
      d.value("home/bath/humidity", 90); // pending until 12:05
      store.save(d.engine.takeChanges());

      // a new engine, as after a restart, two minutes later
      d.clock.tick(120 * S);
      const again = d.make([rule({ for: 0, repeat: 60 }), rule({ id: "slow", topic: "home/+/humidity", threshold: 80, for: 300 })]);
      const { tracks, damaged } = store.load();
      assert.equal(damaged, 0);
      assert.deepEqual(again.restore(tracks, d.clock.now()), []);
      d.engine = again;
      d.schedule();
      const active = again.active();
      assert.equal(active.length, 1);
      assert.equal(active[0]!.id, raised!.id);
      assert.equal(active[0]!.acknowledged, true);
      assert.equal(active[0]!.acknowledgedBy, "anne");
      assert.equal(again.pending, 1);
      assert.deepEqual(d.after(179 * S), [], "acknowledged: no repeats; humidity not yet held 5 min");
      assert.deepEqual(d.after(1 * S), ["raised"]);
      assert.equal(d.events.at(-1)!.topic, "home/bath/humidity");
      const [cleared] = d.value("home/kitchen/temperature", 10);
      assert.equal(cleared!.id, raised!.id);
    } finally {
      handle.release();
    }
  });

  it("clears an alert whose rule is gone, and forgets it", () => {
    const handle = dataDatabase(dir, "state");
    try {
      const store = new AlertStore(handle.db, "n1");
      const d = new Driver([rule(), rule({ id: "wet", topic: "home/+/humidity", threshold: 80 })]);
      d.value("home/bath/humidity", 90);
      d.value("home/kitchen/temperature", 31);
      store.save(d.engine.takeChanges());
      const again = d.make([rule({ topic: "garden/+/temperature" })]);
      const events = again.restore(store.load().tracks, d.clock.now());
      assert.deepEqual(events.map((e) => [e.kind, e.rule, e.reason]).sort(), [["cleared", "hot", "rule-removed"], ["cleared", "wet", "rule-removed"]]);
      assert.equal(again.active().length, 0);
      store.save(again.takeChanges());
      assert.deepEqual(store.load().tracks, []);
    } finally {
      handle.release();
    }
  });

  it("skips a damaged record instead of trusting it", () => {
    assert.equal(parseTrack("{"), null);
    assert.equal(parseTrack(JSON.stringify({ rule: "a", topic: "t", value: "x", valueAt: 1, pendingSince: null, cooldownUntil: null, alert: null })), null);
    const good: Track = { rule: "a", topic: "t", value: 1, valueAt: 1, pendingSince: 1, cooldownUntil: null, alert: null };
    assert.deepEqual(parseTrack(JSON.stringify(good)), good);
  });
});

describe("alerts: rules, acknowledgements and the active list", () => {
  it("normalises rules, with a message naming the bad one", () => {
    const [r] = normaliseRules([{ id: "x", topic: "a/b", threshold: "12.5", hysteresis: "1", for: "1.5", repeat: 60, cooldown: "" }]);
    assert.deepEqual(
      [r!.label, r!.condition, r!.threshold, r!.hysteresis, r!.forMs, r!.repeatMs, r!.cooldownMs],
      ["x", "above", 12.5, 1, 1500, 60_000, 0],
    );
    assert.equal(normaliseRules(undefined)[0]!.threshold, 50, "IoTitan's rule by default");
    assert.equal(normaliseRules(JSON.stringify([rule()]))[0]!.id, "hot");
    assert.throws(() => normaliseRules([rule(), rule()]), /used twice/);
    assert.throws(() => normaliseRules([rule({ id: "a b" })]), /id/);
    assert.throws(() => normaliseRules([rule({ topic: "a/#/b" })]), /topic filter/);
    assert.throws(() => normaliseRules([rule({ topic: "x/alert" })]), /alert output/);
    assert.throws(() => normaliseRules([rule({ threshold: "hot" })]), /hot: the threshold "hot" is not a number/);
    assert.throws(() => normaliseRules([rule({ threshold: undefined })]), /threshold is missing/);
    assert.throws(() => normaliseRules([rule({ hysteresis: -1 })]), /hysteresis/);
    assert.throws(() => normaliseRules([rule({ for: -1 })]), /for/);
    assert.throws(() => normaliseRules([rule({ condition: "equal" })]), /above or below/);
    assert.throws(() => normaliseRules([rule({ path: "a..b" })]), /value path/);
    assert.throws(() => normaliseRules({}), /list/);
  });

  it("reads acknowledgements in every form a client sends", () => {
    assert.deepEqual(parseAlertAck('{"id":"abc123","by":"anne"}'), { id: "abc123", by: "anne" });
    assert.deepEqual(parseAlertAck(Buffer.from('{"ack":"abc123"}')), { id: "abc123" });
    assert.deepEqual(parseAlertAck(" abc123\n"), { id: "abc123" });
    for (const bad of ["", "{}", '{"id":5}', "{oops", "two words"]) assert.throws(() => parseAlertAck(bad), PayloadError, bad);
  });

  it("knows alert outputs: they are never alerted on", () => {
    assert.equal(isAlertOutput("home/kitchen/temperature/alert"), true);
    assert.equal(isAlertOutput("pifog/hub/alerts/events"), true);
    assert.equal(isAlertOutput("home/kitchen/temperature/average"), false);
    assert.equal(isAlertOutput("pifog/hub/stats/x"), false);
  });

  it("lists every alert node's active alerts of a device together", () => {
    const a = (id: string, at: string) => ({ id, rule: "r", label: "r", topic: "t", condition: "above" as const, threshold: 1, value: 2, lastValue: 2, raisedAt: at, lastValueAt: at, acknowledged: false });
    const registry = new AlertRegistry();
    registry.set("dev-x", "n1", [a("b", "2026-01-01T12:00:02Z")]);
    const all = registry.set("dev-x", "n2", [a("a", "2026-01-01T12:00:01Z")]);
    assert.deepEqual(all.map((x) => x.id), ["a", "b"]);
    registry.drop("dev-x", "n2");
    assert.deepEqual(registry.of("dev-x").map((x) => x.id), ["b"]);
    registry.drop("dev-x", "n1");
    assert.deepEqual(registry.of("dev-x"), []);
  });
});
