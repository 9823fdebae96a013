import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { OccupancyState } from "../../nodes/lib/contract";
import { glyphs, type Frame } from "../../nodes/lib/matrix-glyphs";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import statusMatrix from "../../nodes/status-matrix/status-matrix";
import { deviceNode, helper, startHarness, waitForEvent, type Harness } from "../support/node-harness";

const nodes = [pifogDevice, statusMatrix];

function matrixFlow(url: string, device: Record<string, unknown> = {}) {
  return [
    deviceNode("sp1", url, device),
    { id: "matrix", type: "status-matrix", z: "tab", device: "cfg-sp1", source: "dp1", compat: true, wires: [["out"]] },
    { id: "out", type: "helper", z: "tab" },
    { id: "catcher", type: "catch", z: "tab", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper", z: "tab" },
    { id: "tab", type: "tab" },
  ];
}

const same = (a: Frame, b: Frame) => JSON.stringify(a) === JSON.stringify(b);

describe("status-matrix node", () => {
  let h: Harness;
  const frameIs = (glyph: Frame) => (m: { payload: Buffer }) => same(JSON.parse(m.payload.toString()), glyph);
  const online = JSON.stringify({ state: "online", device: "dp1" });
  const doors = (d1: string, d2: string) =>
    JSON.stringify({
      device: "dp1",
      doors: { door1: { label: "F", state: d1, changedAt: "" }, door2: { label: "M", state: d2, changedAt: "" } },
      timestamp: "",
    });

  beforeEach(async () => {
    h = await startHarness({ clientId: "pifog-dp1-test" }); // plays the device (the harness client logs in as the runtime)
  });
  afterEach(async () => {
    await h.close();
  });

  it("shows a cyan ? at start, before anything is known of the DoorPi", async () => {
    await helper.load(nodes, matrixFlow(h.url));
    await h.client.waitFor("pifog/sp1/sim/matrix", frameIs(glyphs.unknown()));
    const occ = h.client.json<OccupancyState>(await h.client.waitFor("pifog/sp1/occupancy"));
    assert.equal(occ.occupancy, "unknown");
  });

  it("shows the red cross, yellow diamond and green plus as the DoorPi's doors open", async () => {
    await helper.load(nodes, matrixFlow(h.url));
    await h.client.publish("pifog/dp1/status", online, { retain: true });
    await h.client.publish("pifog/dp1/doors", doors("closed", "closed"), { retain: true });
    await h.client.waitFor("pifog/sp1/sim/matrix", frameIs(glyphs.stop()));
    await h.client.publish("pifog/dp1/doors", doors("open", "closed"), { retain: true });
    await h.client.waitFor("pifog/sp1/sim/matrix", frameIs(glyphs.maybe()));
    await h.client.publish("pifog/dp1/doors", doors("open", "open"), { retain: true });
    await h.client.waitFor("pifog/sp1/sim/matrix", frameIs(glyphs.go()));
    const occ = h.client.json<OccupancyState>(await h.client.waitFor("pifog/sp1/occupancy", (m) => m.payload.includes('"go"')));
    assert.deepEqual([occ.open, occ.total, occ.source], [2, 2, "dp1"]);
  });

  it("goes back to ? when the DoorPi goes offline, and back to its doors when it returns", async () => {
    await helper.load(nodes, matrixFlow(h.url));
    await h.client.publish("pifog/dp1/status", online, { retain: true });
    await h.client.publish("pifog/dp1/doors", doors("open", "open"), { retain: true });
    await h.client.waitFor("pifog/sp1/sim/matrix", frameIs(glyphs.go()));
    await h.client.publish("pifog/dp1/status", JSON.stringify({ state: "offline", device: "dp1" }), { retain: true });
    await h.client.waitFor("pifog/sp1/sim/matrix", frameIs(glyphs.unknown()), 5000, false);
    await h.client.publish("pifog/dp1/status", online, { retain: true });
    await h.client.waitFor("pifog/sp1/sim/matrix", frameIs(glyphs.go()), 5000, false);
  });

  it("follows an original PiFog DoorPi: its Event and its Connection last will", async () => {
    await helper.load(nodes, matrixFlow(h.url));
    const event = (d1: string, d2: string) => JSON.stringify({ state: { door1: d1, door2: d2, timestamp: "2016-03-28 12:00:00.000000" } });
    await h.client.publish("/World/Fog/1/DoorPi/Connection", JSON.stringify({ connected: { boot_time: "", addresses: "", timestamp: "" } }), { retain: true });
    await h.client.publish("/World/Fog/1/DoorPi/Event", event("open", "closed"), { retain: true });
    await h.client.waitFor("pifog/sp1/sim/matrix", frameIs(glyphs.maybe()));
    // a pong on the same topic is not a door event
    await h.client.publish("/World/Fog/1/DoorPi/Event", JSON.stringify({ pong: { id: "1", timestamp: "" } }));
    await h.client.publish("/World/Fog/1/DoorPi/Event", event("weird", "open"), { retain: true });
    await h.client.waitFor("pifog/sp1/sim/matrix", frameIs(glyphs.maybe()));
    await h.client.publish("/World/Fog/1/DoorPi/Connection", JSON.stringify({ disconnected: { device: "doorpi" } }), { retain: true });
    await h.client.waitFor("pifog/sp1/sim/matrix", frameIs(glyphs.unknown()), 5000, false);
  });

  it("takes door states from a flow, and fails bad input to Catch nodes and the dead-letter record", async () => {
    await helper.load(nodes, matrixFlow(h.url));
    const out = helper.getNode("out")!;
    const shown = waitForEvent<{ payload: OccupancyState }>(out, "input");
    helper.getNode("matrix")!.receive({ payload: ["open", "open"] });
    const first = await shown;
    // the first output may be the start-up "?"; wait for "go"
    if (first.payload.occupancy !== "go") {
      await new Promise<void>((resolve) =>
        (out as unknown as NodeJS.EventEmitter).on("input", (m: { payload: OccupancyState }) => {
          if (m.payload.occupancy === "go") resolve();
        }),
      );
    }
    await h.client.waitFor("pifog/sp1/sim/matrix", frameIs(glyphs.go()));

    const caught = waitForEvent<{ error: { message: string } }>(helper.getNode("caught")!, "input");
    helper.getNode("matrix")!.receive({ topic: "bad", payload: { door1: 42 } });
    const err = await caught;
    assert.match(err.error.message, /door1 must be "open" or "closed"/);
    const letters = fs.readFileSync(path.join(h.dataDir, "dead-letter.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(letters.length, 1);
    assert.equal(letters[0].type, "status-matrix");
    assert.equal(letters[0].topic, "bad");
    assert.match(letters[0].payload, /42/);
  });

  it("keeps going after garbage on the DoorPi's topics, recording it", async () => {
    await helper.load(nodes, matrixFlow(h.url));
    await h.client.waitFor("pifog/sp1/status", (m) => m.payload.includes('"online"')); // subscribed by now
    await h.client.publish("pifog/dp1/doors", Buffer.from([0xff, 0x00, 0x13]).toString("latin1"));
    await h.client.publish("pifog/dp1/status", online, { retain: true });
    await h.client.publish("pifog/dp1/doors", doors("closed", "closed"), { retain: true });
    await h.client.waitFor("pifog/sp1/sim/matrix", frameIs(glyphs.stop()));
    const letters = fs.readFileSync(path.join(h.dataDir, "dead-letter.jsonl"), "utf8");
    assert.match(letters, /not JSON/);
  });

  it("takes a cleared retained topic (an empty payload) as no state: the cyan ?, nothing dead-lettered", async () => {
    await helper.load(nodes, matrixFlow(h.url));
    const caught: unknown[] = [];
    (helper.getNode("caught") as unknown as NodeJS.EventEmitter).on("input", (m: unknown) => caught.push(m));
    const event = JSON.stringify({ state: { door1: "open", door2: "open", timestamp: "2016-03-28 12:00:00.000000" } });
    const connected = JSON.stringify({ connected: { boot_time: "", addresses: "", timestamp: "" } });
    const shows = async (glyph: Frame, act: () => Promise<unknown>) => {
      const shown = h.client.waitFor("pifog/sp1/sim/matrix", frameIs(glyph), 5000, false);
      await act();
      await shown;
    };
    await shows(glyphs.go(), async () => {
      await h.client.publish("pifog/dp1/status", online, { retain: true });
      await h.client.publish("pifog/dp1/doors", doors("open", "open"), { retain: true });
    });
    await h.client.publish("/World/Fog/1/DoorPi/Connection", connected, { retain: true });
    await h.client.publish("/World/Fog/1/DoorPi/Event", event, { retain: true });
    for (const [topic, state] of [
      ["pifog/dp1/doors", doors("open", "open")],
      ["pifog/dp1/status", online],
      ["/World/Fog/1/DoorPi/Event", event],
      ["/World/Fog/1/DoorPi/Connection", connected],
    ] as const) {
      // a client cleaning up clears the retained topic; the DoorPi's next word brings the doors back
      await shows(glyphs.unknown(), () => h.client.publish(topic, "", { retain: true }));
      const occ = h.client.json<OccupancyState>(await h.client.waitFor("pifog/sp1/occupancy", (m) => m.payload.includes('"unknown"')));
      assert.equal(occ.occupancy, "unknown", topic);
      await shows(glyphs.go(), () => h.client.publish(topic, state, { retain: true }));
    }
    assert.deepEqual(caught, [], "nothing sent to Catch nodes");
    const letters = path.join(h.dataDir, "dead-letter.jsonl");
    assert.equal(fs.existsSync(letters) ? fs.readFileSync(letters, "utf8") : "", "", "nothing dead-lettered");
    assert.doesNotMatch(helper.log().args.map((a) => JSON.stringify(a)).join("\n"), /not JSON/);
  });

  it("off a Pi with hardware set to pi, says the matrix is not available and still publishes occupancy", async () => {
    await helper.load(nodes, matrixFlow(h.url, { hardware: "pi" }));
    await h.client.publish("pifog/dp1/status", online, { retain: true });
    await h.client.publish("pifog/dp1/doors", doors("open", "closed"), { retain: true });
    await h.client.waitFor("pifog/sp1/occupancy", (m) => m.payload.includes('"maybe"'));
    const logged = helper.log().args.map((a) => JSON.stringify(a)).join("\n");
    assert.match(logged, /status-matrix\.errors\.unavailable|LED matrix not available/);
    assert.equal(h.client.received.some((m) => m.topic === "pifog/sp1/sim/matrix"), false);
  });

  it("blanks the matrix when stopped, as PiFog did", async () => {
    await helper.load(nodes, matrixFlow(h.url));
    await h.client.waitFor("pifog/sp1/sim/matrix", frameIs(glyphs.unknown()));
    await helper.unload();
    await h.client.waitFor("pifog/sp1/sim/matrix", frameIs(glyphs.blank()), 5000);
  });
});
