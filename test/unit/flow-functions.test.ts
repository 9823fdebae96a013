// What the shipped flows keep in their function nodes and dashboard templates: glue a person reads in the editor,
// no topic built by hand (the contract's builders come from `global.get("pifog")`, nodes/lib/views), and that glue
// runs: each function node's own code, as Node-RED runs it, against the views settings.ts gives it.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { topics } from "../../nodes/lib/contract";
import { functionContext } from "../../nodes/lib/views";

const FLOWS = path.resolve(__dirname, "..", "..", "..", "flows");
/** A function node longer than this is logic, which belongs in nodes/lib (comments not counted). */
const MAX_FUNCTION_LINES = 8;

type FlowNode = Record<string, unknown> & { id: string; type: string };

function shipped(): Array<{ file: string; node: FlowNode }> {
  return fs
    .readdirSync(FLOWS)
    .filter((f) => f.endsWith(".json"))
    .flatMap((file) => (JSON.parse(fs.readFileSync(path.join(FLOWS, file), "utf8")) as FlowNode[]).map((node) => ({ file, node })));
}

/** A topic written out in code: a quoted `pifog/…`, `/World/Fog/…` or `iotitan/…`, or one joined from a device. */
const HAND_BUILT_TOPIC = /["'`](pifog|\/World\/Fog|iotitan)\/|['"]\/(command|event|sim|status|doors|alerts)\b/;

const codeLines = (code: string) => code.split("\n").filter((l) => l.trim() !== "" && !l.trim().startsWith("//"));

/** Runs a function node's code as Node-RED does (its body in a function of msg), with the contexts it keeps. */
class FunctionNode {
  readonly context = new Map<string, unknown>();
  readonly warnings: string[] = [];
  readonly errors: string[] = [];
  private readonly run: (...args: unknown[]) => unknown;

  constructor(
    node: FlowNode,
    private readonly flow: Map<string, unknown>,
    private readonly env: Record<string, string>,
  ) {
    this.run = new Function("msg", "node", "context", "flow", "global", "env", String(node.func)) as (...args: unknown[]) => unknown;
  }

  send(msg: Record<string, unknown>): unknown {
    const store = (m: Map<string, unknown>) => ({ get: (k: string) => m.get(k), set: (k: string, v: unknown) => void m.set(k, v) });
    const pifog = functionContext({ historyHeaders: () => ({ authorization: "Bearer a-test-token" }) });
    const node = {
      warn: (t: string) => this.warnings.push(t),
      error: (t: string) => this.errors.push(t),
      status: () => undefined,
    };
    return this.run(msg, node, store(this.context), store(this.flow), { get: (k: string) => (k === "pifog" ? pifog : undefined) }, { get: (k: string) => this.env[k] });
  }
}

describe("shipped function nodes and templates", () => {
  const all = shipped();
  const functions = all.filter((n) => n.node.type === "function");
  const templates = all.filter((n) => n.node.type === "ui_template");

  it("are found", () => {
    assert.ok(functions.length >= 20, `${functions.length} function nodes`);
    assert.ok(templates.length >= 8, `${templates.length} templates`);
  });

  it("the hand-built topic check finds what it should (so it can fail)", () => {
    for (const code of ["'pifog/' + device + '/command'", "`pifog/${device}/sim/scene/set`", "'iotitan/home/x'", "base + '/command'", '"/World/Fog/1/DoorPi/Event"']) {
      assert.match(code, HAND_BUILT_TOPIC, code);
    }
    assert.doesNotMatch('global.get("pifog").topics.command(device)', HAND_BUILT_TOPIC);
  });

  it("build no topic by hand, in a function node or a template", () => {
    const found = [
      ...functions.filter(({ node }) => HAND_BUILT_TOPIC.test(String(node.func))).map(({ file, node }) => `${file} ${node.id}`),
      ...templates.filter(({ node }) => HAND_BUILT_TOPIC.test(String(node.format))).map(({ file, node }) => `${file} ${node.id}`),
    ];
    assert.deepEqual(found, []);
  });

  it(`keep function nodes to glue: at most ${MAX_FUNCTION_LINES} lines of code each`, () => {
    const long = functions.filter(({ node }) => codeLines(String(node.func)).length > MAX_FUNCTION_LINES);
    assert.deepEqual(long.map(({ file, node }) => `${file} ${node.id}: ${codeLines(String(node.func)).length} lines`), []);
  });

  it("every function node's code compiles", () => {
    for (const { file, node } of functions) {
      assert.doesNotThrow(() => new FunctionNode(node, new Map(), {}), `${file} ${node.id}`);
    }
  });

  describe("run as Node-RED runs them", () => {
    const byId = (id: string) => all.find((n) => n.node.id === id)!.node;
    const env = { FRONT_DOOR_OPENER: "doorpi", FRONT_DOOR_CAMERA: "camerapi", PIFOG_DEVICE_ID: "camerapi", PIFOG_HTTP_URL: "http://127.0.0.1:1880" };

    it("Front door: the operator is named only for the commands this tab issued (flow frontIssued)", () => {
      const flow = new Map<string, unknown>();
      const commands = new FunctionNode(byId("hub-front-commands"), flow, env);
      const view = new FunctionNode(byId("hub-front-state"), flow, env);
      const out = commands.send({ topic: "open-door", operator: "operator" }) as { topic: string; payload: string };
      assert.equal(out.topic, topics.command("doorpi"));
      const { id } = JSON.parse(out.payload) as { id: string };
      const answer = (answerId: string) => ({ topic: topics.event("doorpi"), payload: Buffer.from(JSON.stringify({ "open-door": { id: answerId, result: "opened", by: "mqtt:pifog-hub" } })) });
      assert.equal((view.send(answer(id)) as { payload: { door: { by: string } } }).payload.door.by, "dashboard:operator");
      assert.equal((view.send(answer("not-ours")) as { payload: { door: { by: string } } }).payload.door.by, "mqtt:pifog-hub");
      assert.equal(commands.send({ topic: "format-disk", operator: "operator" }), null);
      assert.match(commands.warnings[0] ?? "", /unknown dashboard action/);
    });

    it("Simulator: the view gives each control its topic, and the guard lets only those inputs through", () => {
      const flow = new Map<string, unknown>();
      const view = new FunctionNode(byId("hub-sim-state"), flow, env);
      const guard = new FunctionNode(byId("hub-sim-guard"), flow, env);
      const shown = view.send({ topic: topics.simState("doorpi", "door1"), payload: Buffer.from("closed") }) as { payload: Record<string, { set: Record<string, string> }> };
      const set = shown.payload.doorpi!.set.door1!;
      assert.deepEqual(guard.send({ topic: set, payload: "open" }), { topic: set, payload: "open" });
      assert.equal(guard.send({ topic: topics.command("doorpi"), payload: "open" }), null);
      assert.equal(guard.warnings.length, 1);
    });

    it("Doors and Power: a refusal goes to node.error, and nothing is sent", () => {
      const doors = new FunctionNode(byId("hub-doors-state"), new Map(), env);
      assert.equal(doors.send({ topic: topics.doors("doorpi"), payload: "{nope" }), null);
      assert.deepEqual(doors.errors, ["not JSON on pifog/doorpi/doors"]);
      const power = new FunctionNode(byId("powerhub-power-view"), new Map(), env);
      const shown = power.send({ topic: "accounts", payload: [{ devices: [{ deviceId: "cellar", name: "Cellar" }] }] }) as { payload: { cards: Array<{ title: string }> } };
      assert.deepEqual(shown.payload.cards.map((c) => c.title), ["Not heard from yet"]);
    });

    it("CameraPi: the scene and the still go to the contract's topics", () => {
      const scene = new FunctionNode(byId("camerapi-visitor-scene"), new Map(), env);
      assert.deepEqual(scene.send({ payload: "" }), [{ topic: topics.simSet("camerapi", "scene"), payload: "visitor" }, { payload: "low" }]);
      const frame = new FunctionNode(byId("camerapi-frame-topic"), new Map(), env);
      assert.equal((frame.send({ payload: { device: "cam2", faces: [] } }) as { topic: string }).topic, "pifog/cam2/camera/frame");
    });

    it("Alerts: an acknowledgement leaves as the dashboard's, anything else is dropped", () => {
      const guard = new FunctionNode(byId("sensorhub-alerts-guard"), new Map(), env);
      assert.deepEqual(guard.send({ topic: topics.alertAck("hub"), payload: { id: "a1", by: "mallory" } }), { topic: topics.alertAck("hub"), payload: '{"id":"a1","by":"dashboard"}' });
      assert.equal(guard.send({ topic: topics.command("hub"), payload: { id: "a1" } }), null);
    });
  });
});
