// The dashboard views the shipped flows' function nodes use (nodes/lib/views): what each tab shows for what arrives
// on the broker, and what the dashboard may send back.
import assert from "node:assert/strict";
import { cameraTopics, powerTopics, topics, type PowerState } from "../../nodes/lib/contract";
import { withFaceRecord } from "../../nodes/lib/face-record";
import { alertAck, alertsModel, updateAlertsView } from "../../nodes/lib/views/alerts";
import { updateDoorsView } from "../../nodes/lib/views/doors";
import { espeasyReadings } from "../../nodes/lib/views/espeasy";
import { faceFile } from "../../nodes/lib/views/face-files";
import { frontDoorCommand, updateFrontDoorView, type Issued } from "../../nodes/lib/views/front-door";
import { powerCards, powerModel, updatePowerView, type PowerView } from "../../nodes/lib/views/power";
import { chartData, chartRequests, latestReadings } from "../../nodes/lib/views/readings";
import { simulatorInput, simulatorModel, updateSimulatorView } from "../../nodes/lib/views/simulator";
import { slackDoorReply, slackOpenDoor, slackVisitor } from "../../nodes/lib/views/slack";

const T0 = Date.parse("2026-03-01T12:00:00Z");
const fixedRandom = () => 0.123456;

describe("views for the dashboard (nodes/lib/views)", () => {
  describe("Doors", () => {
    it("keeps each DoorPi's doors and each device's status, and forgets them on a cleared retained message", () => {
      let r = updateDoorsView(undefined, { topic: topics.doors("doorpi"), payload: Buffer.from(JSON.stringify({ device: "doorpi", doors: { door1: { state: "open" } } })) });
      r = updateDoorsView(r.state, { topic: topics.status("doorpi"), payload: JSON.stringify({ state: "online", device: "doorpi" }) });
      assert.equal(r.changed, true);
      assert.deepEqual(Object.keys(r.state.doors), ["doorpi"]);
      assert.equal(r.state.devices.doorpi?.state, "online");
      r = updateDoorsView(r.state, { topic: topics.doors("doorpi"), payload: Buffer.alloc(0) });
      assert.equal(r.changed, true);
      assert.deepEqual(r.state.doors, {});
    });

    it("refuses what is not a doors object, naming the topic, and keeps what it had", () => {
      const first = updateDoorsView(undefined, { topic: topics.doors("doorpi"), payload: JSON.stringify({ doors: { door1: { state: "open" } } }) });
      for (const payload of ["{nope", "[1,2]", JSON.stringify({ door1: "open" })]) {
        const r = updateDoorsView(first.state, { topic: topics.doors("doorpi"), payload });
        assert.equal(r.changed, false);
        assert.match(r.error ?? "", /pifog\/doorpi\/doors/);
        assert.deepEqual(Object.keys(r.state.doors), ["doorpi"]);
      }
      assert.equal(updateDoorsView(first.state, { topic: topics.door("doorpi", "door1"), payload: "{}" }).changed, false, "one door's topic is not this view's");
    });
  });

  describe("Simulator", () => {
    it("sorts what a device simulates into inputs, switches, held values, outputs, matrix and scene", () => {
      let s = updateSimulatorView(undefined, { topic: topics.simState("doorpi", "door1"), payload: "open" }).state;
      s = updateSimulatorView(s, { topic: topics.simState("powerpi", "mains"), payload: Buffer.from("on") }).state;
      s = updateSimulatorView(s, { topic: topics.simState("statuspi", "humidity"), payload: "41.5" }).state;
      s = updateSimulatorView(s, { topic: topics.simState("powerpi", "battery"), payload: JSON.stringify({ percent: 80, voltage: 4.1, charging: true }) }).state;
      s = updateSimulatorView(s, { topic: topics.simState("doorpi", "led"), payload: "1" }).state;
      s = updateSimulatorView(s, { topic: topics.simMatrix("statuspi"), payload: JSON.stringify(Array(64).fill([0, 0, 0])) }).state;
      s = updateSimulatorView(s, { topic: topics.simState("camerapi", "scene"), payload: "visitor-astronaut" }).state;
      assert.deepEqual(s.doorpi?.inputs, { door1: "open" });
      assert.deepEqual(s.doorpi?.outputs, { led: "1" });
      assert.deepEqual(s.powerpi?.switches, { mains: "on" });
      assert.deepEqual(s.powerpi?.values.battery, { value: 80, unit: "%", note: "4.1 V, charging" });
      assert.deepEqual(s.statuspi?.values.humidity, { value: 41.5, unit: "%", note: "" });
      assert.equal(s.statuspi?.matrix?.length, 64);
      assert.equal(s.camerapi?.scene, "visitor-astronaut");
      // the last of a device's values cleared: the device goes
      s = updateSimulatorView(s, { topic: topics.simState("camerapi", "scene"), payload: "" }).state;
      assert.equal(s.camerapi, undefined);
    });

    it("refuses a bad matrix frame and leaves the /set commands alone", () => {
      const bad = updateSimulatorView(undefined, { topic: topics.simMatrix("statuspi"), payload: "[1,2,3]" });
      assert.equal(bad.changed, false);
      assert.match(bad.error ?? "", /bad matrix frame on pifog\/statuspi\/sim\/matrix/);
      assert.equal(updateSimulatorView(undefined, { topic: topics.simSet("doorpi", "door1"), payload: "open" }).changed, false);
    });

    it("gives every control the contract's topic to send to", () => {
      let s = updateSimulatorView(undefined, { topic: topics.simState("doorpi", "door2"), payload: "closed" }).state;
      s = updateSimulatorView(s, { topic: topics.simState("statuspi", "temperature"), payload: "21" }).state;
      const model = simulatorModel(s);
      assert.equal(model.doorpi?.set.door2, topics.simSet("doorpi", "door2"));
      assert.equal(model.doorpi?.set.scene, topics.simSet("doorpi", "scene"));
      assert.equal(model.statuspi?.set.temperature, topics.simSet("statuspi", "temperature"));
    });

    it("lets through only the Simulator's own inputs", () => {
      assert.deepEqual(simulatorInput({ topic: topics.simSet("doorpi", "door1"), payload: "open" }), { topic: topics.simSet("doorpi", "door1"), payload: "open" });
      assert.deepEqual(simulatorInput({ topic: topics.simSet("statuspi", "temperature"), payload: "-3.5" }), { topic: topics.simSet("statuspi", "temperature"), payload: "-3.5" });
      assert.deepEqual(simulatorInput({ topic: topics.simSet("camerapi", "scene"), payload: "visitor" }), { topic: topics.simSet("camerapi", "scene"), payload: "visitor" });
      for (const [topic, payload] of [
        [topics.command("doorpi"), JSON.stringify({ command: "ping" })],
        [topics.simSet("doorpi", "door1"), "1"],
        [`${topics.simSet("doorpi", "door1")}/extra`, "open"],
        [topics.simSet("camerapi", "scene"), "open"],
        [topics.simSet("statuspi", "temperature"), "1e9"],
        [topics.simSet("statuspi", "humidity"), "open"],
        [topics.simSet("doorpi", "constructor"), "1"],
        ["pifog/a+b/sim/door1/set", "open"],
      ]) {
        assert.ok("warning" in simulatorInput({ topic, payload }), `${topic} ${payload}`);
      }
      assert.ok("warning" in simulatorInput({ topic: topics.simSet("doorpi", "door1"), payload: { state: "open" } }));
    });
  });

  describe("Front door", () => {
    const devices = { opener: "door-opener-pi", camera: "camerapi" };

    it("names the operator only for the door commands this tab issued", () => {
      const cmd = frontDoorCommand(undefined, { topic: "open-door", operator: "operator" }, devices, T0, fixedRandom);
      assert.equal(cmd.out?.topic, topics.command("door-opener-pi"));
      const sent = JSON.parse(cmd.out!.payload) as { command: string; id: string; by: string };
      assert.deepEqual({ command: sent.command, by: sent.by }, { command: "open-door", by: "dashboard:operator" });
      const answer = (id: string, by: string) => ({ topic: topics.event("door-opener-pi"), payload: JSON.stringify({ "open-door": { id, result: "opened", by, claimedBy: "someone" } }) });
      const mine = updateFrontDoorView(undefined, answer(sent.id, "mqtt:hub"), cmd.issued, T0);
      assert.equal(mine.state.door?.by, "dashboard:operator");
      assert.equal("claimedBy" in mine.state.door!, false, "what a payload claims is never shown");
      const theirs = updateFrontDoorView(undefined, answer("other", "mqtt:someone-else"), cmd.issued, T0);
      assert.equal(theirs.state.door?.by, "mqtt:someone-else");
    });

    it("remembers the issued commands 30 minutes, 50 at most; a picture is not remembered", () => {
      let issued: Issued = {};
      for (let i = 0; i < 60; i++) issued = frontDoorCommand(issued, { topic: "open-door", operator: "op" }, devices, T0 + i, () => i / 100 + 0.001).issued;
      assert.equal(Object.keys(issued).length, 50);
      const later = frontDoorCommand(issued, { topic: "open-door", operator: "op" }, devices, T0 + 31 * 60_000, fixedRandom);
      assert.equal(Object.keys(later.issued).length, 1);
      const picture = frontDoorCommand({}, { topic: "take-picture", operator: "op" }, devices, T0, fixedRandom);
      assert.equal(picture.out?.topic, topics.command("camerapi"));
      assert.equal(JSON.parse(picture.out!.payload).command, "take-picture-low-res");
      assert.deepEqual(picture.issued, {});
      const unknown = frontDoorCommand({}, { topic: "rm -rf", operator: "op" }, devices, T0);
      assert.equal(unknown.out, null);
      assert.match(unknown.warning ?? "", /unknown dashboard action rm -rf/);
    });

    it("shows the latest still with its boxes and the last 8 faces, newest first", () => {
      const frame = { image: "AAAA", encoding: "image/jpeg", takenAt: "2026-03-01T12:00:00Z", width: 640, height: 480, faces: [{ box: { x: 1, y: 2, width: 3, height: 4 }, score: 0.9 }] };
      let s = updateFrontDoorView(undefined, { topic: cameraTopics.frame("camerapi"), payload: Buffer.from(JSON.stringify(frame)) }, {}, T0).state;
      assert.equal(s.frame?.device, "camerapi");
      assert.deepEqual(s.frame?.faces, [{ box: { x: 1, y: 2, width: 3, height: 4 }, score: 0.9 }]);
      assert.equal(updateFrontDoorView(s, { topic: cameraTopics.frame("camerapi"), payload: JSON.stringify({ ...frame, encoding: "text/html" }) }, {}, T0).changed, false);
      for (let i = 0; i < 10; i++) {
        const crop = Buffer.from([0xff, 0xd8, 0xff, 0xd9, i]);
        s = updateFrontDoorView(s, { topic: cameraTopics.forwardedFaces(`cam${i}`), payload: crop }, {}, T0 + i).state;
      }
      assert.deepEqual(s.faces.map((f) => f.device), ["cam9", "cam8", "cam7", "cam6", "cam5", "cam4", "cam3", "cam2"]);
      assert.match(s.faces[0]!.src, /^data:image\/jpeg;base64,/);
      assert.equal(s.faces[0]!.at, new Date(T0 + 9).toISOString(), "a crop without a record shows when it came");
    });

    it("reads a face crop's own record (when it was taken, its score)", () => {
      // a 1×1 PNG
      const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "base64");
      const crop = withFaceRecord(png, { device: "camerapi", takenAt: "2026-03-01T11:59:00.000Z", box: { x: 0, y: 0, width: 1, height: 1 }, score: 0.75, index: 0, count: 1 });
      const s = updateFrontDoorView(undefined, { topic: cameraTopics.forwardedFaces("camerapi"), payload: crop }, {}, T0).state;
      assert.deepEqual({ at: s.faces[0]!.at, score: s.faces[0]!.score }, { at: "2026-03-01T11:59:00.000Z", score: 0.75 });
      assert.match(s.faces[0]!.src, /^data:image\/png;base64,/);
    });
  });

  describe("Slack", () => {
    const devices = { opener: "door-opener-pi", camera: "camerapi" };

    it("answers a Slack command once, through its own response_url, and forgets it after 30 minutes", () => {
      const open = slackOpenDoor(undefined, { slack: { user_id: "U1", response_url: "https://hooks.example/1" } }, devices, T0, fixedRandom);
      assert.equal(open.out.topic, topics.command("door-opener-pi"));
      const { id, by } = JSON.parse(open.out.payload) as { id: string; by: string };
      assert.equal(by, "slack:U1");
      const answer = { payload: JSON.stringify({ "open-door": { id, result: "opened" } }) };
      const reply = slackDoorReply(open.pending, answer);
      assert.deepEqual(reply.out?.slack, { response_url: "https://hooks.example/1" });
      assert.equal(slackDoorReply(reply.pending, answer).out, null, "only once");
      const stale = slackOpenDoor(open.pending, { slack: {} }, devices, T0 + 31 * 60_000, fixedRandom);
      assert.equal(slackDoorReply(stale.pending, answer).out, null);
    });

    it("posts a visitor at most once a minute per camera", () => {
      const still = { topic: cameraTopics.frame("camerapi"), payload: JSON.stringify({ image: "AAAA", encoding: "image/png", faces: [{}, {}] }) };
      const first = slackVisitor(undefined, still, T0);
      assert.equal(first.out?.payload, "Someone is at the door (camerapi, 2 faces)");
      assert.equal(first.out?.filename, "visitor.png");
      assert.equal(slackVisitor(first.last, still, T0 + 30_000).out, null);
      assert.notEqual(slackVisitor(first.last, still, T0 + 61_000).out, null);
      assert.equal(slackVisitor(undefined, { ...still, payload: JSON.stringify({ image: "AAAA", faces: [] }) }, T0).out, null);
    });
  });

  describe("Power", () => {
    const power = (device: string, mains: "on" | "off"): PowerState => ({
      device,
      mains,
      changedAt: "2026-03-01T11:00:00.000Z",
      battery: { voltage: 4.05, percent: 76, minutesLeft: null },
      timestamp: "2026-03-01T11:00:00.000Z",
    });
    const step = (view: PowerView | undefined, topic: string, payload: unknown) => updatePowerView(view, { topic, payload });

    it("shows detectordag's four states from power and connection", () => {
      let v = step(undefined, powerTopics.state("a"), JSON.stringify(power("a", "on"))).state;
      v = step(v, powerTopics.state("b"), Buffer.from(JSON.stringify(power("b", "off")))).state;
      v = step(v, powerTopics.state("c"), JSON.stringify(power("c", "on"))).state;
      v = step(v, powerTopics.connection("c"), JSON.stringify({ device: "c", status: "disconnected", updated: "2026-03-01T11:30:00.000Z" })).state;
      v = step(v, powerTopics.state("d"), JSON.stringify(power("d", "off"))).state;
      v = step(v, powerTopics.connection("d"), JSON.stringify({ device: "d", status: "disconnected", updated: "2026-03-01T11:30:00.000Z" })).state;
      const cards = powerCards(v);
      assert.deepEqual(cards.map((c) => [c.id, c.title, c.look]), [["a", "On", "on"], ["b", "Off", "off"], ["c", "Was On", "was-on"], ["d", "Was Off", "was-off"]]);
      assert.equal(cards[2]!.contactLostAt, "2026-03-01T11:30:00.000Z");
      assert.deepEqual(cards[0]!.battery, { voltage: 4.05, percent: 76, minutesLeft: null });
    });

    it("gives a device attached to an account, or connected, before its first report a card that says so", () => {
      let v = step(undefined, "", [{ devices: [{ deviceId: "cellar", name: "Cellar freezer" }] }, null, { devices: [] }]).state;
      v = step(v, powerTopics.connection("garage"), JSON.stringify({ device: "garage", status: "connected", updated: "2026-03-01T11:30:00.000Z" })).state;
      const cards = powerCards(v);
      assert.deepEqual(cards.map((c) => [c.id, c.name, c.title, c.mains, c.changedAt, c.battery]), [
        ["cellar", "Cellar freezer", "Not heard from yet", null, null, null],
        ["garage", "garage", "Not heard from yet", null, null, null],
      ]);
      assert.match(cards[0]!.description, /has not reported/);
      assert.equal(v.listed, 1);
    });

    it("forgets a cleared retained state, refuses what is not JSON, and never passes the account list on", () => {
      let v = step(undefined, powerTopics.state("a"), JSON.stringify(power("a", "on"))).state;
      const refused = step(v, powerTopics.state("a"), "{not json");
      assert.match(refused.error ?? "", /not JSON on pifog\/a\/power/);
      assert.equal(powerCards(refused.state)[0]!.title, "On");
      v = step(v, powerTopics.state("a"), "").state;
      assert.deepEqual(powerCards(v), []);
      const listed = powerModel(step(v, "", [{ emails: ["sam@example.com"], devices: [{ deviceId: "a", name: "A" }] }]).state);
      assert.doesNotMatch(JSON.stringify(listed), /sam@example\.com/);
    });
  });

  describe("Environment readings", () => {
    it("lists sensors' readings only, rounded, stale after 15 minutes", () => {
      const at = (ms: number) => new Date(T0 - ms).toISOString();
      const r = latestReadings(
        {
          statusCode: 200,
          payload: {
            topics: [
              { topic: topics.environmentValue("statuspi", "temperature"), lastValue: 21.456, lastAt: at(60_000), count: 3 },
              { topic: "iotitan/home/downstairs/dht22/humidity", lastValue: 50, lastAt: at(16 * 60_000), count: 1 },
              { topic: "iotitan/home/downstairs/dht22/humidity/average", lastValue: 50, lastAt: at(0), count: 1 },
              { topic: topics.simState("statuspi", "temperature"), lastValue: 21, lastAt: at(0), count: 1 },
              { topic: topics.stats("hub", "x/y"), lastValue: 1, lastAt: at(0), count: 1 },
              { topic: topics.doors("doorpi"), lastValue: null, lastAt: at(0), count: 1 },
            ],
          },
        },
        T0,
      );
      assert.ok("rows" in r);
      assert.deepEqual(r.rows.map((x) => [x.topic, x.text, x.stale]), [
        ["pifog/statuspi/environment/temperature", "21.46", false],
        ["iotitan/home/downstairs/dht22/humidity", "50", true],
      ]);
      assert.deepEqual(latestReadings({ statusCode: 503, payload: {} }, T0), { problem: "history API: 503" });
    });

    it("asks the history for 24 hours of the contract's environment topics and draws what has values", () => {
      const [temperature, humidity] = chartRequests("http://127.0.0.1:1880", T0, { authorization: "Bearer t" });
      assert.equal(temperature!.topic, "temperature");
      assert.deepEqual(humidity!.headers, { authorization: "Bearer t" }, "the runtime's token goes with each request");
      const url = new URL(temperature!.url);
      assert.deepEqual(url.searchParams.getAll("topic"), [topics.environmentValue("+", "temperature"), "+/+/+/+/temperature"]);
      assert.equal(url.searchParams.get("from"), String(T0 - 86_400_000));
      assert.deepEqual(new URL(humidity!.url).searchParams.getAll("topic"), [topics.environmentValue("+", "humidity"), "+/+/+/+/humidity"]);
      const data = chartData({
        statusCode: 200,
        payload: { series: [{ topic: "a", points: [{ t: "2026-03-01T10:00:00Z", mean: 1.234 }, { t: "2026-03-01T10:15:00Z", mean: null }] }, { topic: "b", points: [{ t: "2026-03-01T10:00:00Z", mean: null }] }] },
      });
      assert.deepEqual(data, [{ series: ["a"], data: [[{ x: Date.parse("2026-03-01T10:00:00Z"), y: 1.23 }]], labels: [""] }]);
    });
  });

  describe("Alerts", () => {
    it("lists every device's active alerts, each with its acknowledgement topic, and the last 30 events", () => {
      let s = updateAlertsView(undefined, { topic: topics.alertsActive("hub"), payload: JSON.stringify({ alerts: [{ id: "a1", rule: "hot" }] }) }).state;
      for (let i = 0; i < 35; i++) s = updateAlertsView(s, { topic: topics.alertEvents("hub"), payload: JSON.stringify({ id: `e${i}`, kind: "raised" }) }).state;
      const model = alertsModel(s);
      assert.deepEqual(model.active, [{ device: "hub", id: "a1", rule: "hot", ackTopic: topics.alertAck("hub") }]);
      assert.equal(model.events.length, 30);
      assert.equal(model.events[0]!.id, "e34");
      s = updateAlertsView(s, { topic: topics.alertsActive("hub"), payload: "" }).state;
      assert.deepEqual(alertsModel(s).active, []);
    });

    it("lets only an acknowledgement leave the dashboard, as the dashboard's", () => {
      assert.deepEqual(alertAck({ topic: topics.alertAck("hub"), payload: { id: "a1", by: "mallory" } }), { topic: topics.alertAck("hub"), payload: '{"id":"a1","by":"dashboard"}' });
      for (const msg of [
        { topic: topics.command("doorpi"), payload: { id: "x" } },
        { topic: topics.alertAck("hub"), payload: "a-bare-id" },
        { topic: `${topics.alertAck("hub")}/extra`, payload: { id: "x" } },
        { topic: topics.alertAck("hub"), payload: { id: 42 } },
        { topic: topics.alertAck("hub"), payload: { id: "x".repeat(129) } },
      ]) {
        assert.ok("warning" in alertAck(msg), JSON.stringify(msg));
      }
    });
  });

  it("simulates the ESPEasy sensors on their topics, with the day's curve", () => {
    const night = espeasyReadings(new Date(2026, 2, 1, 3, 0), () => 0.5);
    const afternoon = espeasyReadings(new Date(2026, 2, 1, 15, 0), () => 0.5);
    assert.deepEqual(night.map((r) => r.topic), [
      "iotitan/home/up_bed1/dht11/temperature",
      "iotitan/home/up_bed1/dht11/humidity",
      "iotitan/home/up_bed1/xc-4444/pir",
      "iotitan/home/downstairs/dht22/temperature",
      "iotitan/home/downstairs/dht22/humidity",
    ]);
    assert.deepEqual(night.map((r) => r.payload), ["18.5", "54", "0", "17.5", "57"]);
    assert.deepEqual(afternoon.map((r) => r.payload), ["22.5", "42", "0", "20.5", "47"]);
  });

  it("files a forwarded face under its device and the UTC day", () => {
    const at = new Date("2026-03-01T09:08:07.006Z");
    assert.deepEqual(faceFile(cameraTopics.forwardedFaces("camerapi"), "/data", at, 3), {
      device: "camerapi",
      timestamp: "2026-03-01T09:08:07.006Z",
      filename: "/data/faces/camerapi/2026/03/01/090807-006-3.png",
    });
    assert.equal(faceFile("pifog/forwarded/../faces", "/data", at, 1), null);
  });
});
