// The dashboard's socket under attack, against the real all-in-one runtime: a stranger on the network with
// socket.io-client on /ui/socket.io. One `null` used to kill the whole process (broker, history, door opener with
// it), and an update-value carrying a `template` was replayed to every open dashboard and to every new one, where
// its script ran. Now every event is held to what the dashboard's own client sends: the rest is dropped, counted,
// dead-lettered and audited, the broker keeps its latency, and a template's HTML only ever comes from the flow.
import assert from "node:assert/strict";
import { Audit } from "../../nodes/lib/audit/audit";
import { topics } from "../../nodes/lib/contract";
import { DeadLetterFile } from "../../nodes/lib/dead-letter";
import { DashboardSocket, type Update } from "../support/dashboard-socket";
import { TestClient } from "../support/mqtt";
import { RoundTripProbe, type RoundTrips } from "../support/rtt";
import { MQTT_ADMIN, redeploy, startRuntime, type TestRuntime } from "../support/runtime";
import { until } from "../support/until";
import type { UserRole } from "../../nodes/lib/identity/types";

const EVIL = "<script>window.pfEvil=1</script><b id=pf-evil>pf-evil</b>";
const isEvil = (u: Update) => JSON.stringify(u).includes("pf-evil") || "template" in (u.msg ?? {}) || "format" in u;

describe("the dashboard's socket, as an attacker on the network uses it (role all)", function () {
  this.timeout(120_000);
  let fog: TestRuntime;
  let probe: RoundTripProbe;
  let quiet: RoundTrips;
  const open: DashboardSocket[] = [];
  // a signed-in person's browser (an operator unless the test says): the socket refuses anyone without a session
  const dashboard = async (role: UserRole = "operator") => {
    const s = await DashboardSocket.connect(fog.info.http, fog.cookies[role]);
    open.push(s);
    return s;
  };
  const socketLetters = () => new DeadLetterFile(fog.dataDir).read().filter((l) => l.node === "dashboard-socket");
  const audit = () => new Audit(fog.dataDir).read();
  const alive = () => assert.equal(fog.child.exitCode, null, `the runtime is still running:\n${fog.output().slice(-2000)}`);

  before(async () => {
    fog = await startRuntime({ role: "all" });
    probe = await RoundTripProbe.connect(fog.info.mqtt, "dash");
    quiet = await probe.measure(20);
  });
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });
  after(async () => {
    await probe?.close();
    await fog?.stop();
  });

  it("refuses a browser that is not signed in, or whose session is not live, before any event: said clearly, audited", async () => {
    for (const cookie of [undefined, "pifog_session=forged-value-forged-value-forged-value"]) {
      await assert.rejects(DashboardSocket.connect(fog.info.http, cookie), /sign in first/);
    }
    await until(() => audit().filter((a) => a.event === "dashboard.socket.refused" && /no live session/.test(a.reason)).length >= 2, "both audited");
    alive();
  });

  it("null and malformed events are dropped, dead-lettered and audited; the runtime and its broker carry on", async () => {
    const attacker = await dashboard();
    const hostile: unknown[][] = [
      ["ui-collapse", null],
      ["ui-params", null],
      ["update-value", null],
      ["ui-collapse", "x"],
      ["ui-collapse", { group: null, state: true }],
      ["ui-params", { a: { b: 1 } }],
      ["update-value", {}],
      ["update-value", { id: null }],
      ["update-value", { id: "hub-sim-ui", msg: null }],
      ["update-value", { id: "hub-sim-ui", msg: { topic: topics.simSet("doorpi", "door1"), payload: "x".repeat(20_000) } }],
      ["ui-change", {}],
      ["ui-audio", null],
      ["ui-replay-state", { x: 1 }],
      ["no-such-event", 1],
    ];
    const before = socketLetters().length;
    for (const [event, ...args] of hostile) attacker.emit(event as string, ...args);
    await until(
      () => {
        alive(); // on the dashboard as shipped, the first null killed the process here
        return socketLetters().length >= before + hostile.length;
      },
      `${hostile.length} dead letters`,
      20_000,
      () => socketLetters().length - before,
    );

    const letters = socketLetters().slice(before);
    assert.deepEqual(new Set(letters.map((l) => l.topic)), new Set(hostile.map((h) => h[0])), "every one is in the dead-letter record, by event");
    assert.ok(letters.every((l) => (l.payload ?? "").length <= 4200), "each bounded");
    assert.match(letters.find((l) => l.topic === "ui-collapse")!.error, /ui-collapse: not a \{group, state\} object/);
    assert.equal(audit().filter((a) => a.event === "dashboard.event.dropped").length >= hostile.length, true, "and audited");
    assert.match(fog.output(), /dashboard socket: dropped 1 event\(s\) no dashboard sends/, "a warning is logged");

    const after = await probe.measure(10);
    assert.equal(after.lost, 0);
    assert.ok(after.p99 < 2000, `MQTT round trips still fast: ${JSON.stringify(after)} (quiet ${JSON.stringify(quiet)})`);
    // and the same socket still works for what a dashboard really sends
    attacker.emit("ui-refresh", {});
    await attacker.nextControls();
  });

  it("floods of malformed events from sockets that keep reconnecting: each cut after a bounded number, broker unaffected", async () => {
    const ROUNDS = 4;
    const SOCKETS = 5;
    const EVENTS = 100;
    const lettersBefore = socketLetters().length;
    const cutsBefore = audit().filter((a) => a.event === "dashboard.socket.cut").length;
    const bad: unknown[][] = [["ui-collapse", null], ["update-value", null], ["ui-params", null], ["update-value", { id: "nope", msg: { template: EVIL } }]];
    probe.start(10);
    const started = Date.now();
    for (let round = 0; round < ROUNDS; round++) {
      const sockets = await Promise.all(Array.from({ length: SOCKETS }, () => dashboard()));
      for (const s of sockets) {
        for (let i = 0; i < EVENTS; i++) {
          const [event, ...args] = bad[i % bad.length]!;
          s.emit(event as string, ...args);
        }
      }
      const reasons = await Promise.all(sockets.map((s) => s.disconnected));
      assert.deepEqual(reasons, sockets.map(() => "io server disconnect"), "each flooding socket is cut by the hub");
      alive();
    }
    const flood = await probe.stop();
    const ms = Date.now() - started;
    alive();
    const letters = socketLetters().length - lettersBefore;
    const sockets = ROUNDS * SOCKETS;
    assert.ok(letters >= sockets && letters <= sockets * 20, `${sockets * EVENTS} events, at most 20 dead letters a socket: ${letters}`);
    assert.equal(audit().filter((a) => a.event === "dashboard.socket.cut").length - cutsBefore, sockets);
    assert.equal(flood.lost, 0);
    assert.ok(flood.p99 < 2000, `MQTT round trips during the flood: ${JSON.stringify(flood)} (quiet ${JSON.stringify(quiet)}, ${ms} ms)`);
    console.log(
      `      ${sockets * EVENTS} events from ${sockets} sockets in ${ms} ms, ${letters} dead letters; MQTT round trips: ` +
        `quiet p50 ${quiet.p50.toFixed(1)} p99 ${quiet.p99.toFixed(1)} ms, during p50 ${flood.p50.toFixed(1)} p99 ${flood.p99.toFixed(1)} max ${flood.max.toFixed(1)} ms (${flood.count} trips)`,
    );

    // a dashboard connecting afterwards is served as usual
    await dashboard();
  });

  it("a template sent by a client reaches no other dashboard and no newcomer's replay; input to a widget that takes none is dropped", async () => {
    // the readings template as it shipped (and as older data dirs still have it): it shares every browser's input
    // with every dashboard and replays it to new ones (storeOutMessages, resendOnRefresh)
    await redeploy(
      fog.info.http,
      (flows) => {
        const readings = flows.find((n) => n.id === "sensorhub-env-latest-ui")!;
        readings.storeOutMessages = true;
        readings.resendOnRefresh = true;
      },
      "nodes",
    );
    const victim = await dashboard();
    const attacker = await dashboard();
    const before = socketLetters().length;
    const attacks: Array<[string, unknown]> = [
      // the attack, on the readings template
      ["sensorhub-env-latest-ui", { id: "sensorhub-env-latest-ui", msg: { template: EVIL, payload: [] } }],
      // a template that takes input, with a template in its msg or a field of its own that would redraw it
      ["template field", { id: "hub-sim-ui", msg: { template: EVIL, topic: topics.simSet("doorpi", "door1"), payload: "open" } }],
      ["templateScope", { id: "hub-sim-ui", msg: { templateScope: "global", topic: topics.simSet("doorpi", "door1"), payload: "open" } }],
      ["format", { id: "hub-sim-ui", format: EVIL, msg: { topic: topics.simSet("doorpi", "door1"), payload: "open" } }],
      // a template whose output goes nowhere, a control that takes no input, and no widget at all
      ["unwired", { id: "hub-doors-ui", msg: { payload: { doors: {} } } }],
      ["ui_ui_control", { id: "sensorhub-env-opened", value: 1 }],
      ["unknown id", { id: "no-such-widget", msg: { payload: 1 } }],
    ];
    for (const [, update] of attacks) attacker.emit("update-value", update);
    // everything the hub sent the victim before this ui-controls has arrived
    const synced = victim.nextControls();
    attacker.emit("ui-refresh", {});
    await synced;
    assert.deepEqual(victim.updates.filter(isEvil), [], "the open dashboard got nothing of it");

    const newcomer = await dashboard();
    newcomer.emit("ui-replay-state");
    await newcomer.update(() => true); // the replay has begun: it is sent in one go
    const replayed = newcomer.nextControls();
    newcomer.emit("ui-refresh", {});
    await replayed;
    assert.ok(newcomer.updates.length > 0);
    assert.deepEqual(newcomer.updates.filter(isEvil), [], "nor the replay a new dashboard gets");

    await until(() => socketLetters().length >= before + attacks.length, "every attack dead-lettered", 20_000, () => socketLetters().slice(before));
    const reasons = socketLetters().slice(before).map((l) => l.error).join("\n");
    assert.match(reasons, /template sensorhub-env-latest-ui takes no input/);
    assert.match(reasons, /msg\.template is not something a browser may send to template hub-sim-ui/);
    assert.match(reasons, /msg\.templateScope is not something a browser may send/);
    assert.match(reasons, /unexpected field format for template hub-sim-ui/);
    assert.match(reasons, /template hub-doors-ui takes no input/);
    assert.match(reasons, /ui_ui_control sensorhub-env-opened takes no input from a browser/);
    assert.match(reasons, /no running widget no-such-widget/);
    alive();
  });

  it("a widget's own events still work: the Simulator's door toggle reaches the door, and answers go to the sender only", async () => {
    const mqtt = await TestClient.connect(fog.info.mqtt, MQTT_ADMIN);
    try {
      const state = topics.simState("doorpi", "door1");
      await mqtt.subscribe(state);
      const now = (await mqtt.waitFor(state)).payload.toString();
      const want = now === "open" ? "closed" : "open";
      const browser = await dashboard();
      const bystander = await dashboard("admin");
      // the socketid a client writes is ignored: the hub answers the socket it came from
      browser.emit("update-value", { id: "hub-sim-ui", msg: { topic: topics.simSet("doorpi", "door1"), payload: want }, socketid: bystander.id });
      await mqtt.waitFor(state, (m) => m.payload.toString() === want, 10_000, false);

      // the gate tells each browser who is signed in on it (on connect), to that browser only
      const answer = (s: DashboardSocket, test: (p: Record<string, unknown>) => boolean) =>
        s.update((u) => u.id === "hub-front-ops-ui" && !!u.msg && test(u.msg.payload as Record<string, unknown>), 15_000);
      const mine = await answer(browser, (p) => p.operator === "pat-operator");
      assert.deepEqual(mine.msg!.payload, { operator: "pat-operator", role: "operator", canAct: true });
      const viewer = await dashboard("viewer");
      assert.deepEqual((await answer(viewer, (p) => p.operator === "pat-viewer")).msg!.payload, { operator: "pat-viewer", role: "viewer", canAct: false });
      // a viewer's action is refused by the socket before any flow sees it, and the viewer is told why
      viewer.emit("update-value", { id: "hub-front-ops-ui", msg: { topic: "open-door", payload: {} }, socketid: browser.id });
      assert.match(await viewer.toast(/Refused/), /operators only \(you are signed in as pat-viewer, viewer\)/);
      await until(() => audit().some((a) => a.event === "dashboard.event.refused" && a.user === "pat-viewer"), "the refusal audited");
      assert.deepEqual(browser.toasts, [], "only the viewer is told");

      const synced = bystander.nextControls();
      browser.emit("ui-refresh", {});
      await synced;
      const others = bystander.updates.filter((u) => u.id === "hub-front-ops-ui" && (u.msg?.payload as { operator?: string } | undefined)?.operator !== "pat-admin");
      assert.deepEqual(others, [], "the other dashboard saw no one else's answer");
      assert.deepEqual(bystander.toasts, [], "nor the viewer's refusal");
      alive();
    } finally {
      await mqtt.end();
    }
  });
});
