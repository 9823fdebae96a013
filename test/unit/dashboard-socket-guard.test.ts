// The dashboard socket middleware, with a socket made by hand: it keeps the dashboard's own connection rules, hands
// the dashboard only rebuilt events, and drops the rest quietly (no next, no throw), counted, recorded and warned
// at most once an interval; a socket that keeps sending what no dashboard sends, or too much, is cut.
import assert from "node:assert/strict";
import type { AuditEvent } from "../../nodes/lib/audit/audit";
import { FlowWidgets, type RuntimeNodes } from "../../nodes/lib/dashboard/flow-widgets";
import type { WidgetInfo } from "../../nodes/lib/dashboard/socket-events";
import type { SocketPerson } from "../../nodes/lib/security/dashboard-sockets";
import { DashboardSocketGuard, type GuardedSocket } from "../../nodes/lib/dashboard/socket-guard";
import type { DeadLetter } from "../../nodes/lib/dead-letter";
import { FakeClock } from "../support/fake-clock";

type Packet = unknown[];

class FakeSocket implements GuardedSocket {
  id = "sock-1";
  handshake = { address: "192.0.2.7", xdomain: false };
  client = { conn: { request: { url: "/ui/socket.io/?EIO=4&transport=polling" }, closed: false, close: () => void (this.client.conn.closed = true) } };
  disconnected = false;
  emitted: Array<[string, unknown]> = [];
  emit(event: string, data: unknown): void {
    this.emitted.push([event, data]);
  }
  private fns: Array<(packet: Packet, next: (err?: Error) => void) => void> = [];
  use(fn: (packet: Packet, next: (err?: Error) => void) => void): void {
    this.fns.push(fn);
  }
  disconnect(): void {
    this.disconnected = true;
  }
  /** What the dashboard's handlers would receive for `packet`, or null when it went nowhere. */
  send(...packet: Packet): Packet | null {
    let out: Packet | null = null;
    const event = [...packet];
    this.fns[0]!(event, (err) => {
      assert.equal(err, undefined, "never next(err)");
      out = event;
    });
    return out;
  }
}

const WIDGETS: Record<string, WidgetInfo> = {
  ops: { type: "ui_template", wired: true, sharesInput: false, scope: "local", needs: "operator" },
  users: { type: "ui_template", wired: true, sharesInput: false, scope: "local", needs: "admin" },
  zoom: { type: "ui_template", wired: true, sharesInput: false, scope: "local", needs: "viewer" },
};

function setup(widgets = (id: string) => (Object.hasOwn(WIDGETS, id) ? WIDGETS[id] : undefined), person: { current: SocketPerson | null } = { current: { name: "pat", role: "admin" } }) {
  const clock = new FakeClock();
  const letters: Array<Omit<DeadLetter, "at">> = [];
  const audits: AuditEvent[] = [];
  const warnings: string[] = [];
  const guard = new DashboardSocketGuard({
    widgets,
    people: () => person.current,
    deadLetters: { append: (l) => void letters.push(l) },
    audit: { record: (e) => void audits.push(e) },
    warn: (t) => void warnings.push(t),
    now: () => clock.now(),
    burst: 10,
    perSecond: 5,
    costlyBurst: 3,
    costlyPerSecond: 1,
    maxDropsPerSocket: 5,
    warnEveryMs: 10_000,
  });
  const socket = new FakeSocket();
  let connected = false;
  guard.middleware(socket, () => (connected = true));
  return { clock, letters, audits, warnings, guard, socket, connected, person };
}

describe("dashboard socket guard", () => {
  it("keeps the dashboard's own rules: no direct websocket, no page from another site", () => {
    const guard = setup().guard;
    const ws = new FakeSocket();
    ws.client.conn.request.url = "/ui/socket.io/?EIO=4&transport=websocket";
    let next = false;
    guard.middleware(ws, () => (next = true));
    assert.equal(next, false);
    assert.equal(ws.client.conn.closed, true);
    const cross = new FakeSocket();
    cross.handshake.xdomain = true;
    guard.middleware(cross, () => (next = true));
    assert.equal(next, false);
    assert.equal(cross.disconnected, true);
    assert.equal(guard.stats().refused, 2);
  });

  it("passes the rebuilt event on and drops a bad one without a word to the dashboard", () => {
    const { socket, connected, letters, audits, warnings, guard } = setup();
    assert.equal(connected, true);
    assert.deepEqual(socket.send("update-value", { id: "ops", msg: { topic: "t", payload: 1 }, socketid: "other" }), [
      "update-value",
      { id: "ops", msg: { topic: "t", payload: 1 }, socketid: "sock-1" },
    ]);
    assert.equal(socket.send("ui-collapse", null), null);
    assert.deepEqual(letters, [{ node: "dashboard-socket", type: "ui-socket", error: "ui-collapse: not a {group, state} object", topic: "ui-collapse", payload: "[null]" }]);
    assert.deepEqual(audits, [
      { event: "dashboard.event.dropped", via: "dashboard", who: "192.0.2.7", reason: "ui-collapse: not a {group, state} object", socket: "sock-1" },
    ]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /dropped 1 event\(s\).*ui-collapse from 192\.0\.2\.7/);
    assert.deepEqual(guard.stats(), { passed: 1, dropped: 1, cut: 0, refused: 0 });
  });

  it("warns at most once an interval, with the count since the last warning", () => {
    const s = setup();
    const other = new FakeSocket();
    s.guard.middleware(other, () => undefined);
    s.socket.send("ui-params", null);
    s.socket.send("ui-params", null);
    other.send("ui-params", null);
    assert.equal(s.warnings.length, 1);
    s.clock.tick(10_000);
    other.send("update-value", null);
    assert.equal(s.warnings.length, 2);
    assert.match(s.warnings[1]!, /dropped 3 event\(s\).*\(4 since start/);
    assert.equal(s.letters.length, 4, "every drop is in the dead-letter record");
  });

  it("cuts a socket after a bounded number of drops, and records nothing more from it", () => {
    const s = setup();
    for (let i = 0; i < 50; i++) s.socket.send("update-value", null);
    assert.equal(s.socket.disconnected, true);
    assert.equal(s.letters.length, 5);
    assert.equal(s.audits.filter((a) => a.event === "dashboard.socket.cut").length, 1);
    assert.deepEqual(s.guard.stats(), { passed: 0, dropped: 50, cut: 1, refused: 0 });
    assert.equal(s.socket.send("ui-replay-state"), null, "a cut socket's queued events go nowhere");
  });

  it("limits each socket's events per second, even well-formed ones", () => {
    const s = setup();
    let passed = 0;
    for (let i = 0; i < 14; i++) if (s.socket.send("ui-collapse", { group: "g", state: true })) passed++;
    assert.equal(passed, 10, "a burst of 10");
    assert.match(s.letters[0]!.error, /more than 5 events a second/);
    s.clock.tick(1000);
    for (let i = 0; i < 6; i++) if (s.socket.send("ui-collapse", { group: "g", state: false })) passed++;
    assert.equal(passed, 15, "then 5 a second");
  });

  it("allows fewer of the events that make the hub work for others (tab changes, refreshes, replays)", () => {
    const s = setup();
    let passed = 0;
    for (let i = 0; i < 4; i++) if (s.socket.send("ui-refresh")) passed++;
    assert.equal(passed, 3, "a burst of 3");
    assert.match(s.letters[0]!.error, /ui-refresh: more than 1 tab changes, refreshes and replays a second/);
    assert.ok(s.socket.send("ui-collapse", { group: "g", state: true }), "other events still pass");
    s.clock.tick(1000);
    assert.ok(s.socket.send("ui-change", 1));
    assert.equal(s.socket.send("ui-replay-state"), null);
  });

  it("never throws into socket.io, even when its records and log fail", () => {
    const guard = new DashboardSocketGuard({
      widgets: () => undefined,
      people: () => ({ name: "pat", role: "viewer" }),
      deadLetters: { append: () => { throw new Error("disk full"); } },
      audit: { record: () => { throw new Error("disk full"); } },
      warn: () => { throw new Error("no log"); },
      now: () => 0,
    });
    const socket = new FakeSocket();
    guard.middleware(socket, () => undefined);
    const original = console.error;
    console.error = () => undefined;
    try {
      assert.equal(socket.send("ui-collapse", null), null);
    } finally {
      console.error = original;
    }
    assert.equal(guard.stats().dropped, 1);
  });

  it("lets each role send what its role may: navigation for everyone, input by the widget's role", () => {
    const s = setup();
    const as = (role: SocketPerson["role"]) => (s.person.current = { name: `pat-${role}`, role });
    as("viewer");
    assert.ok(s.socket.send("ui-change", 1), "a viewer changes tab");
    assert.ok(s.socket.send("update-value", { id: "zoom", msg: { topic: "zoom" } }), "and uses a view-only widget");
    assert.equal(s.socket.send("update-value", { id: "ops", msg: { topic: "open-door" } }), null, "but not an action");
    as("operator");
    assert.ok(s.socket.send("update-value", { id: "ops", msg: { topic: "open-door" } }), "an operator acts");
    assert.equal(s.socket.send("update-value", { id: "users", msg: { topic: "list" } }), null, "but does not manage users");
    as("admin");
    assert.ok(s.socket.send("update-value", { id: "users", msg: { topic: "list" } }), "an admin does");
    const refused = s.audits.filter((a) => a.event === "dashboard.event.refused");
    assert.deepEqual(refused.map((a) => [a.who, a.user]), [["pat-viewer@192.0.2.7", "pat-viewer"], ["pat-operator@192.0.2.7", "pat-operator"]]);
    assert.match(String(refused[0]!.reason), /update-value: viewer pat-viewer may not do this \(operators only\)/);
    assert.equal(s.letters.length, 2, "each refusal is dead-lettered");
    assert.deepEqual(s.letters.map((l) => l.payload), ['[{"id":"ops","topic":"open-door"}]', '[{"id":"users","topic":"list"}]'], "its outline only");
    const toasts = s.socket.emitted.filter(([e]) => e === "show-toast").map(([, d]) => (d as { message: string }).message);
    assert.deepEqual(toasts, [
      "Refused: operators only (you are signed in as pat-viewer, viewer).",
      "Refused: admins only (you are signed in as pat-operator, operator).",
    ]);
  });

  it("cuts a socket at its next event once its session has ended, and tells the browser why", () => {
    const s = setup();
    assert.ok(s.socket.send("ui-change", 1));
    s.person.current = null;
    assert.equal(s.socket.send("update-value", { id: "users", msg: { topic: "set-password", payload: { name: "x", password: "typed-secret" } } }), null);
    assert.doesNotMatch(JSON.stringify(s.letters), /typed-secret/, "what was typed is not kept");
    assert.equal(s.socket.disconnected, true);
    assert.equal(s.audits.at(-1)!.event, "dashboard.session.ended");
    assert.match(JSON.stringify(s.socket.emitted), /Your session has ended: sign in again/);
    assert.equal(s.socket.send("ui-change", 1), null, "nothing more from it");
    assert.equal(s.letters.length, 1);
  });

  it("finds widgets in the deployed flow, indexed again after a deploy, and only running ones", () => {
    let flows: unknown = { rev: "1" };
    let config: Array<Record<string, unknown>> = [
      { id: "t1", type: "ui_template", wires: [["fn"]], storeOutMessages: false, templateScope: "local" },
      { id: "t2", type: "ui_template", wires: [[]], storeOutMessages: true, templateScope: "local", className: "big pifog-admin" },
      { id: "t3", type: "ui_template", wires: [["fn"]], className: "pifog-view" },
      { id: "fn", type: "function", wires: [] },
      { id: "off", type: "ui_template", wires: [["fn"]] },
    ];
    let indexed = 0;
    const nodes: RuntimeNodes = {
      getFlows: () => flows,
      eachNode: (cb) => {
        indexed++;
        config.forEach(cb);
      },
      getNode: (id) => (id === "off" ? undefined : {}),
    };
    const lookup = new FlowWidgets(() => nodes).lookup;
    assert.deepEqual(lookup("t1"), { type: "ui_template", wired: true, sharesInput: false, scope: "local", needs: "operator" });
    assert.deepEqual(lookup("t2"), { type: "ui_template", wired: false, sharesInput: true, scope: "local", needs: "admin" });
    assert.equal(lookup("t3")!.needs, "viewer", "a widget marked pifog-view takes a viewer's input");
    assert.equal(lookup("fn"), undefined, "not a widget");
    assert.equal(lookup("off"), undefined, "not running");
    assert.equal(indexed, 1, "indexed once per deploy");
    config = [{ id: "t1", type: "ui_template", wires: [] }];
    flows = { rev: "2" };
    assert.equal(lookup("t1")!.wired, false);
    assert.equal(indexed, 2);
    assert.equal(new FlowWidgets(() => undefined).lookup("t1"), undefined, "before the runtime exists: nothing");
  });
});
