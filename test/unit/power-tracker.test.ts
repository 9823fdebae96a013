// The hub's connection debounce and power-change rules (detectordag §2.3, §2.4) on fake time.
import assert from "node:assert/strict";
import type { ConnectionState, DeviceStatus, MainsState, PowerState, TransitionEvent } from "../../nodes/lib/contract";
import { PowerTracker, type KnownDevice } from "../../nodes/lib/power/tracker";
import { FakeClock } from "../support/fake-clock";

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();
const online = (device: string): DeviceStatus => ({
  state: "online", device, role: "powerpi", addresses: [], bootTime: iso(T0), startedAt: iso(T0), version: "test", hardware: "sim", timestamp: iso(T0),
});
const offline = (device: string): DeviceStatus => ({ state: "offline", device });
const power = (device: string, mains: MainsState, changedAt: number): PowerState => ({
  device, mains, changedAt: iso(changedAt), battery: { voltage: 4.1, percent: 90, minutesLeft: null }, timestamp: iso(changedAt),
});

describe("power tracker rules", () => {
  let clock: FakeClock;
  let requests: string[];
  let connections: ConnectionState[];
  let powers: Array<[string, MainsState, number]>;
  let transitions: TransitionEvent[];
  let tracker: PowerTracker;

  function make(options: { confirmMs?: number; follows?: (d: string) => boolean; known?: KnownDevice[] } = {}): PowerTracker {
    tracker = new PowerTracker({
      clock,
      confirmMs: options.confirmMs,
      follows: options.follows,
      sink: {
        requestStatus: (d) => requests.push(d),
        connectionChanged: (s) => connections.push(s),
        powerChanged: (d, p, at) => powers.push([d, p, at]),
        transition: (e) => transitions.push(e),
        nameOf: (d) => `name of ${d}`,
      },
    });
    tracker.start(options.known ?? []);
    return tracker;
  }

  /** A power Pi the tracker knows: connected, mains on since T0. */
  function known(): void {
    tracker.status("pp", online("pp"));
    tracker.power("pp", power("pp", "on", T0), false);
    requests.length = connections.length = powers.length = transitions.length = 0;
  }

  beforeEach(() => {
    clock = new FakeClock(T0 + 60_000);
    requests = [];
    connections = [];
    powers = [];
    transitions = [];
  });
  afterEach(() => tracker.close());

  it("records a device's first state without calling it a transition", () => {
    make();
    tracker.status("pp", online("pp"));
    tracker.power("pp", power("pp", "on", T0), false);
    assert.deepEqual(connections, [{ device: "pp", status: "connected", updated: iso(T0 + 60_000) }]);
    assert.deepEqual(powers, [["pp", "on", T0]]);
    assert.deepEqual(transitions, []);
  });

  describe("connection debounce", () => {
    it("asks the device and says nothing when it comes back within the delay", () => {
      make();
      known();
      tracker.status("pp", offline("pp"));
      assert.deepEqual(requests, ["pp"], "a status request is published at once");
      clock.tick(4999);
      tracker.status("pp", online("pp"));
      clock.tick(60_000);
      assert.deepEqual(connections, []);
      assert.deepEqual(transitions, []);
      assert.equal(tracker.state("pp").connection, "connected");
    });

    it("takes any live power message as the answer", () => {
      make();
      known();
      tracker.status("pp", offline("pp"));
      clock.tick(2000);
      tracker.power("pp", power("pp", "on", T0), false); // the answer to the request: the same state
      clock.tick(60_000);
      assert.deepEqual(transitions, []);
      assert.deepEqual(connections, []);
    });

    it("does not take a retained power state (replayed by the broker) as a sign of life", () => {
      make();
      known();
      tracker.status("pp", offline("pp"));
      tracker.power("pp", power("pp", "on", T0), true);
      clock.tick(5000);
      assert.deepEqual(transitions.map((t) => t.transition), ["Disconnected"]);
    });

    it("declares one Disconnected after the delay, as of when the device went away, with the last known power", () => {
      make();
      known();
      const wentAway = clock.now();
      tracker.status("pp", offline("pp"));
      clock.tick(4999);
      assert.deepEqual(transitions, [], "not before the delay");
      clock.tick(1);
      assert.deepEqual(transitions, [
        { device: "pp", name: "name of pp", transition: "Disconnected", connection: "disconnected", power: "on", at: iso(wentAway) },
      ]);
      assert.deepEqual(connections, [{ device: "pp", status: "disconnected", updated: iso(wentAway) }]);
      // more offline messages (the retained will again, a clean stop) change nothing and ask nothing
      tracker.status("pp", offline("pp"));
      clock.tick(60_000);
      assert.equal(transitions.length, 1);
      assert.deepEqual(requests, ["pp"]);
    });

    it("uses the configured delay", () => {
      make({ confirmMs: 30_000 });
      known();
      tracker.status("pp", offline("pp"));
      clock.tick(29_999);
      assert.equal(transitions.length, 0);
      clock.tick(1);
      assert.equal(transitions.length, 1);
    });

    it("sends Connected when a disconnected device is back", () => {
      make();
      known();
      tracker.status("pp", offline("pp"));
      clock.tick(5000);
      clock.tick(600_000);
      const back = clock.now();
      tracker.status("pp", online("pp"));
      assert.deepEqual(transitions.map((t) => [t.transition, t.connection, t.power, t.at]), [
        ["Disconnected", "disconnected", "on", iso(back - 605_000)],
        ["Connected", "connected", "on", iso(back)],
      ]);
      assert.deepEqual(connections.map((c) => c.status), ["disconnected", "connected"]);
    });

    it("sends nothing while a link flaps faster than the delay, however long it flaps", () => {
      make();
      known();
      for (let i = 0; i < 100; i++) {
        tracker.status("pp", offline("pp"));
        clock.tick(3000);
        tracker.status("pp", online("pp"));
        clock.tick(3000);
      }
      clock.tick(60_000);
      assert.deepEqual(transitions, []);
      assert.deepEqual(connections, []);
      assert.equal(requests.length, 100, "one request per drop, not one per message");
    });

    it("repeated offline messages during the wait do not restart it or ask again", () => {
      make();
      known();
      const wentAway = clock.now();
      tracker.status("pp", offline("pp"));
      clock.tick(3000);
      tracker.status("pp", offline("pp"));
      clock.tick(2000);
      assert.deepEqual(transitions.map((t) => [t.transition, t.at]), [["Disconnected", iso(wentAway)]]);
      assert.deepEqual(requests, ["pp"]);
    });

    it("gives a device without a known power state a connection but no transition (nothing to e-mail about)", () => {
      make();
      tracker.status("doorpi", online("doorpi"));
      tracker.status("doorpi", offline("doorpi"));
      clock.tick(5000);
      tracker.status("doorpi", online("doorpi"));
      assert.deepEqual(connections.map((c) => c.status), ["connected", "disconnected", "connected"]);
      assert.deepEqual(transitions, []);
    });

    it("follows only the configured devices", () => {
      make({ follows: (d) => d === "pp" });
      tracker.status("other", online("other"));
      tracker.power("other", power("other", "off", T0), false);
      tracker.status("other", offline("other"));
      clock.tick(10_000);
      assert.deepEqual([connections, powers, requests, transitions], [[], [], [], []]);
      tracker.status("pp", online("pp"));
      assert.equal(connections.length, 1);
    });

    it("after a restart, confirms a device the store believed connected", () => {
      make({ known: [{ id: "pp", power: "on", powerUpdated: T0, connection: "connected", connectionUpdated: T0 }] });
      assert.deepEqual(requests, ["pp"], "asked at start");
      tracker.status("pp", offline("pp")); // the broker's retained last will
      tracker.power("pp", power("pp", "on", T0), true); // and its retained power state
      clock.tick(5000);
      assert.deepEqual(transitions.map((t) => t.transition), ["Disconnected"]);
    });

    it("after a restart, stays quiet for a device whose retained status is online", () => {
      make({ known: [{ id: "pp", power: "on", powerUpdated: T0, connection: "connected", connectionUpdated: T0 }] });
      tracker.status("pp", online("pp"));
      tracker.power("pp", power("pp", "on", T0), true);
      clock.tick(60_000);
      assert.deepEqual([connections, powers, transitions], [[], [], []]);
    });

    it("decides nothing after close", () => {
      make();
      known();
      tracker.status("pp", offline("pp"));
      tracker.close();
      clock.tick(60_000);
      assert.deepEqual(transitions, []);
      assert.equal(clock.pending, 0);
    });
  });

  describe("power changes", () => {
    it("sends Off and On on real changes, with the power Pi's time and the device counted as connected", () => {
      make();
      known();
      tracker.power("pp", power("pp", "off", T0 + 10_000), false);
      tracker.power("pp", power("pp", "on", T0 + 20_000), false);
      assert.deepEqual(transitions, [
        { device: "pp", name: "name of pp", transition: "Off", connection: "connected", power: "off", at: iso(T0 + 10_000) },
        { device: "pp", name: "name of pp", transition: "On", connection: "connected", power: "on", at: iso(T0 + 20_000) },
      ]);
      assert.deepEqual(powers, [["pp", "off", T0 + 10_000], ["pp", "on", T0 + 20_000]]);
    });

    it("ignores the same state again, duplicates and older news (current <> previous)", () => {
      make();
      known();
      tracker.power("pp", power("pp", "on", T0 + 5000), false); // a periodic report: still on
      tracker.power("pp", power("pp", "off", T0 + 10_000), false);
      tracker.power("pp", power("pp", "off", T0 + 10_000), false); // the retained state for the same change
      tracker.power("pp", power("pp", "off", T0 + 10_000), true);
      tracker.power("pp", power("pp", "on", T0 + 1000), false); // older than what was applied
      assert.deepEqual(transitions.map((t) => [t.transition, t.at]), [["Off", iso(T0 + 10_000)]]);
      assert.equal(powers.length, 1);
    });

    it("keeps the original times of events delivered late, in order, after the Pi was away", () => {
      make();
      known();
      tracker.status("pp", offline("pp")); // the router went down with the mains
      clock.tick(5000);
      clock.tick(30 * 60_000);
      // back: its status, its retained state of now, then the outbox's events with their times
      tracker.status("pp", online("pp"));
      tracker.power("pp", power("pp", "on", T0 + 20 * 60_000), false);
      tracker.power("pp", power("pp", "off", T0 + 2 * 60_000), false);
      tracker.power("pp", power("pp", "on", T0 + 20 * 60_000), false);
      assert.deepEqual(transitions.map((t) => [t.transition, t.connection, t.power, t.at]), [
        ["Disconnected", "disconnected", "on", iso(T0 + 60_000)],
        ["Connected", "connected", "on", iso(clock.now())],
        ["Off", "connected", "off", iso(T0 + 2 * 60_000)],
        ["On", "connected", "on", iso(T0 + 20 * 60_000)],
      ]);
      assert.deepEqual(powers, [["pp", "off", T0 + 2 * 60_000], ["pp", "on", T0 + 20 * 60_000]]);
    });

    it("a live power message from a disconnected device reconnects it first", () => {
      make();
      known();
      tracker.status("pp", offline("pp"));
      clock.tick(5000);
      tracker.power("pp", power("pp", "off", T0 + 90_000), false);
      assert.deepEqual(transitions.map((t) => t.transition), ["Disconnected", "Connected", "Off"]);
    });

    it("a retained change (missed while the hub was down) keeps the known connection", () => {
      make({ known: [{ id: "pp", power: "on", powerUpdated: T0, connection: "disconnected", connectionUpdated: T0 }] });
      tracker.power("pp", power("pp", "off", T0 + 10_000), true);
      assert.deepEqual(transitions.map((t) => [t.transition, t.connection, t.power]), [["Off", "disconnected", "off"]]);
    });

    it("ignores a state with an unreadable time", () => {
      make();
      known();
      tracker.power("pp", { ...power("pp", "off", T0), changedAt: "yesterday" }, false);
      assert.deepEqual(transitions, []);
    });
  });
});
