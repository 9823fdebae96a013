// What a browser may send on the dashboard's socket: the shapes the dashboard's own client sends pass, rebuilt from
// their allowed fields; everything else (nulls, strangers, templates, fields that redraw a widget) is refused with
// a reason, and nothing throws.
import assert from "node:assert/strict";
import fc from "fast-check";
import { checkDashboardEvent, DASHBOARD_EVENTS, jsonProblem, type WidgetInfo } from "../../nodes/lib/dashboard/socket-events";

const widgets: Record<string, WidgetInfo> = {
  ops: { type: "ui_template", wired: true, sharesInput: false, scope: "local", needs: "operator" },
  readings: { type: "ui_template", wired: false, sharesInput: true, scope: "local", needs: "operator" },
  shared: { type: "ui_template", wired: true, sharesInput: true, scope: "local", needs: "operator" },
  head: { type: "ui_template", wired: true, sharesInput: false, scope: "head", needs: "operator" },
  view: { type: "ui_template", wired: false, sharesInput: false, scope: "local", needs: "operator" },
  sw: { type: "ui_switch", wired: true, sharesInput: true, needs: "operator" },
  loose: { type: "ui_switch", wired: false, sharesInput: true, needs: "operator" },
  control: { type: "ui_ui_control", wired: true, sharesInput: false, needs: "operator" },
  chart: { type: "ui_chart", wired: false, sharesInput: false, needs: "operator" },
};
const lookup = (id: string) => (Object.hasOwn(widgets, id) ? widgets[id] : undefined);
const check = (...packet: unknown[]) => checkDashboardEvent(packet, "real-socket", lookup);
const passes = (...packet: unknown[]) => {
  const r = check(...packet);
  assert.ok(r.ok, `passes: ${JSON.stringify(packet)} (${r.ok ? "" : r.reason})`);
  return r.packet;
};
const refused = (packet: unknown[], reason: RegExp) => {
  const r = checkDashboardEvent(packet, "real-socket", lookup);
  assert.equal(r.ok, false, `refused: ${JSON.stringify(packet)}`);
  if (!r.ok) assert.match(r.reason, reason, JSON.stringify(packet));
};

describe("dashboard socket events", () => {
  it("lets through what the dashboard's client sends, as it sends it", () => {
    assert.deepEqual(passes("ui-replay-state"), ["ui-replay-state"]);
    assert.deepEqual(passes("ui-refresh", { socketid: "abc" }), ["ui-refresh"]);
    assert.deepEqual(passes("ui-change", 2), ["ui-change", 2]);
    assert.deepEqual(passes("ui-change", "3"), ["ui-change", "3"]);
    assert.deepEqual(passes("ui-change", null), ["ui-change", null], "a NaN index arrives as null; the dashboard ignores it");
    assert.deepEqual(passes("ui-collapse", { group: "Home_Doors", state: true, socketid: "abc" }), ["ui-collapse", { group: "Home_Doors", state: true }]);
    assert.deepEqual(passes("ui-audio", "complete"), ["ui-audio", "complete"]);
    assert.deepEqual(passes("ui-params", { kiosk: "1", flag: true, list: ["a", "b"], socketid: "abc" }), ["ui-params", { kiosk: "1", flag: true, list: ["a", "b"] }]);
  });

  it("takes a template's {topic, payload, token} and answers the socket it came from, whatever socketid it names", () => {
    const out = passes("update-value", { id: "ops", msg: { topic: "sign-in", payload: { username: "operator", password: "x" } }, socketid: "someone-else" });
    assert.deepEqual(out, ["update-value", { id: "ops", msg: { topic: "sign-in", payload: { username: "operator", password: "x" } }, socketid: "real-socket" }]);
    assert.deepEqual(passes("update-value", { id: "ops", msg: { topic: "open-door", token: "t0k", payload: {} } })[1], {
      id: "ops",
      msg: { topic: "open-door", token: "t0k", payload: {} },
      socketid: "real-socket",
    });
  });

  it("leaves behind any other field a page's send() adds to a template's msg (retain, qos, …)", () => {
    const out = passes("update-value", { id: "ops", msg: { topic: "t", payload: 1, retain: true, qos: 2, socketid: "x", _session: {} } });
    assert.deepEqual(out[1], { id: "ops", msg: { topic: "t", payload: 1 }, socketid: "real-socket" });
  });

  it("rebuilds what passes: the dashboard never holds an object the client made", () => {
    const payload = { a: [1, 2, { b: "c" }] };
    const out = passes("update-value", { id: "ops", msg: { payload } })[1] as { msg: { payload: unknown } };
    assert.deepEqual(out.msg.payload, payload);
    assert.notEqual(out.msg.payload, payload);
  });

  it("never lets a template's HTML, or any field that would redraw a widget, come from a browser", () => {
    const evil = "<script>alert(1)</script>";
    refused(["update-value", { id: "ops", msg: { template: evil, payload: 1 } }], /msg\.template is not something a browser may send/);
    refused(["update-value", { id: "ops", msg: { templateScope: "global", payload: 1 } }], /msg\.templateScope/);
    refused(["update-value", { id: "ops", msg: { payload: 1 }, format: evil }], /unexpected field format/);
    refused(["update-value", { id: "ops", msg: { payload: 1 }, className: "x" }], /unexpected field className/);
    refused(["update-value", { id: "ops", msg: { payload: 1 }, initController: "function(){}" }], /unexpected field initController/);
    refused(["update-value", { id: "sw", value: true, label: evil }], /unexpected field label/);
  });

  it("takes update-value only for a widget that takes input and keeps it to itself", () => {
    refused(["update-value", { id: "readings", msg: { template: "x" } }], /template readings takes no input/);
    refused(["update-value", { id: "shared", msg: { payload: 1 } }], /would replay a browser's input to every dashboard/);
    refused(["update-value", { id: "head", msg: { payload: 1 } }], /not a widget \(templateScope head\)/);
    refused(["update-value", { id: "view", msg: { payload: 1 } }], /takes no input/);
    refused(["update-value", { id: "control", value: 1 }], /ui_ui_control control takes no input from a browser/);
    refused(["update-value", { id: "chart", value: 1 }], /takes no input from a browser/);
    refused(["update-value", { id: "loose", value: true }], /takes no input/);
    refused(["update-value", { id: "nobody", msg: { payload: 1 } }], /no running widget nobody/);
    refused(["update-value", { id: "__proto__", msg: { payload: 1 } }], /no running widget/);
    assert.deepEqual(passes("update-value", { id: "sw", value: true, socketid: "x" }), ["update-value", { id: "sw", value: true, socketid: "real-socket" }]);
  });

  it("refuses null, strangers and malformed shapes with a reason", () => {
    refused(["ui-collapse", null], /not a \{group, state\} object/);
    refused(["ui-params", null], /query parameters/);
    refused(["update-value", null], /not a widget's/);
    refused(["update-value", { id: null }], /no widget id/);
    refused(["update-value", { id: "ops", msg: null }], /no msg object/);
    refused(["update-value", { id: "ops", msg: { topic: 5 } }], /msg\.topic/);
    refused(["update-value", { id: "ops", msg: { payload: "x".repeat(17_000) } }], /larger than 16384 bytes/);
    refused(["update-value", { id: "ops", msg: { payload: [[[[[[[1]]]]]]] } }], /nested deeper/);
    refused(["update-value", { id: "ops", msg: { payload: Buffer.from("x") } }], /binary attachment/);
    refused(["update-value", { id: "ops", msg: { payload: 1 } }, () => undefined], /acknowledgement/);
    refused(["ui-collapse", { group: "g", state: "yes" }], /state is not true or false/);
    refused(["ui-collapse", { group: "g", state: true, extra: 1 }], /unexpected field extra/);
    refused(["ui-params", { a: { b: 1 } }], /parameter a/);
    refused(["ui-params", JSON.parse('{"__proto__": "x"}')], /a parameter named __proto__/);
    refused(["ui-change", {}], /not a tab index/);
    refused(["ui-change", -1], /not a tab index/);
    refused(["ui-audio", "rm -rf"], /not one of/);
    refused(["ui-replay-state", { x: 1 }], /carries data/);
    refused(["ui-refresh", { x: 1 }], /carries data/);
    refused(["no-such-event", 1], /not an event the dashboard's client sends/);
    refused(["disconnect"], /not an event/);
    refused([42], /without a name/);
    refused([], /not an event/);
  });

  it("bounds JSON by size and depth and takes only plain data", () => {
    assert.equal(jsonProblem({ a: [1, "b", null, true] }, 3, 100), null);
    assert.match(jsonProblem("x".repeat(101), 3, 100)!, /larger than 100/);
    assert.match(jsonProblem(Number.NaN, 3, 100)!, /not finite/);
    assert.match(jsonProblem(new Date(), 3, 100)!, /not JSON/);
    assert.match(jsonProblem([[[1]]], 2, 100)!, /deeper than 2/);
    // a wide array is cut off at the budget, not walked to its end
    assert.match(jsonProblem(new Array(1_000_000).fill(1), 3, 1000)!, /larger than 1000/);
  });

  it("never throws, whatever arrives", () => {
    const value = fc.anything({ withNullPrototype: true, withBigInt: true, withDate: true, withMap: true, withTypedArray: true, withSparseArray: true });
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom(...DASHBOARD_EVENTS), fc.string()), fc.array(value, { maxLength: 3 }), (event, args) => {
        const r = checkDashboardEvent([event, ...args], "s", lookup);
        assert.equal(typeof r.ok, "boolean");
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.constantFrom("ops", "sw", "readings", "nobody"), value, value, (id, msg, extra) => {
        checkDashboardEvent(["update-value", { id, msg, value: msg, extra }], "s", lookup);
      }),
      { numRuns: 1000 },
    );
  });
});
