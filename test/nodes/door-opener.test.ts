// The door opener (ButtonPi) against a real broker: the pulse on the simulated output, one pulse at a time,
// the cooldown, PiFog's command-executed, the audit file, bad input, and no GPIO; native commands signed by the hub's
// identity of a real CA, and every signature refused (unsigned, tampered, replayed, stale, revoked, another role,
// another CA, no CA here) with the relay never moved. Time is a FakeClock.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { compatCommandExecuted, pythonTimestamp, type DoorOpenEvent, type DoorOpenResult } from "../../nodes/lib/contract";
import { DeadLetterFile } from "../../nodes/lib/dead-letter";
import { DoorAudit } from "../../nodes/lib/door-audit";
import doorOpener, { normaliseDoorOpener } from "../../nodes/door-opener/door-opener";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import { SafeState } from "../../nodes/lib/runtime/safe-state";
import { FakeClock } from "../support/fake-clock";
import { TestClient, type Received } from "../support/mqtt";
import { translated } from "../support/messages";
import { addDevice, initCa, revokeDevice } from "../../nodes/lib/identity/admin";
import { certificateInfo, createCa, createCrl, issueDevice } from "../../nodes/lib/identity/ca";
import { identityPaths, type DeviceBundle } from "../../nodes/lib/identity/paths";
import { bundleTrust, noTrust, type Trust } from "../../nodes/lib/identity/trust";
import { signPayload, type SigningIdentity } from "../../nodes/lib/identity/signing";
import type { PemPair } from "../../nodes/lib/identity/types";
import { deviceNode, helper, loadUntilOnline, pingBarrier, startHarness, type Harness } from "../support/node-harness";
import { until } from "../support/until";

const nodes = [pifogDevice, doorOpener];
const SIM = "pifog/bp1/sim/door";
const EVENT = "pifog/bp1/event";
const COMPAT_COMMAND = "/World/Fog/1/ButtonPi/Command";
const COMPAT_EVENT = "/World/Fog/1/ButtonPi/Event";

function doorFlow(url: string, opener: Record<string, unknown> = {}, device: Record<string, unknown> = {}) {
  return [
    deviceNode("bp1", url, { role: "buttonpi", compat: "ButtonPi", ...device }),
    { id: "door", type: "door-opener", z: "tab", device: "cfg-bp1", wires: [["out"]], ...opener },
    { id: "out", type: "helper", z: "tab" },
    { id: "catcher", type: "catch", z: "tab", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper", z: "tab" },
    { id: "watch", type: "status", z: "tab", scope: ["door"], wires: [["statuses"]] },
    { id: "statuses", type: "helper", z: "tab" },
    { id: "tab", type: "tab" },
  ];
}

const text = (m: Received) => m.payload.toString("utf8");
const doorResult = (m: Received): DoorOpenResult | undefined => (JSON.parse(text(m)) as Partial<DoorOpenEvent>)["open-door"];
const levels = (h: Harness) => h.client.received.filter((m) => m.topic === SIM).map(text);
const results = (h: Harness) => h.client.received.filter((m) => m.topic === EVENT).map(doorResult).filter((r): r is DoorOpenResult => !!r);


function outputs(id = "out"): Array<{ payload: DoorOpenResult; error?: { message: string } }> {
  const seen: Array<{ payload: DoorOpenResult; error?: { message: string } }> = [];
  helper.getNode(id)!.on("input", (msg: unknown) => seen.push(msg as (typeof seen)[number]));
  return seen;
}

/** The hub's command, signed now for this door (as the hub's `sign` node does). */
function signed(signer: SigningIdentity, clock: FakeClock, id: string, by?: string, topic = "pifog/bp1/command") {
  return signPayload({ command: "open-door", id, ...(by ? { by } : {}) }, signer, clock.now(), { topic });
}

describe("door-opener node", () => {
  let h: Harness;
  let clock: FakeClock;
  let safe: SafeState;
  /** A fog's identities, as `pifog ca init` and `pifog device add` make them: the hub, this ButtonPi (bp1). */
  let caDir: string;
  let ca: PemPair;
  let hub: DeviceBundle;
  let bp1: DeviceBundle;
  let trust: Trust;
  const START = Date.UTC(2026, 2, 28, 12, 34, 56, 789);
  const enrol = (id: string, role: "hub" | "camerapi" | "buttonpi", at = START - 3_600_000) =>
    addDevice(caDir, id, role, { hubUrl: "mqtts://127.0.0.1:8883", now: new Date(at) });
  /** A native open-door signed by the hub (or unsigned with `by` alone when the test says so). */
  let openDoor: (h: Harness, id: string, by?: string) => Promise<unknown>;
  before(async () => {
    caDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-ca-"));
    ca = await initCa(caDir, { now: new Date(START - 86_400_000) });
    hub = await enrol("hub", "hub");
    bp1 = await enrol("bp1", "buttonpi");
  });
  after(() => fs.rmSync(caDir, { recursive: true, force: true }));
  beforeEach(async () => {
    h = await startHarness();
    clock = new FakeClock(START);
    safe = new SafeState();
    // the ButtonPi's own bundle: its CA, its identity; the revocations come from the hub's topic
    trust = bundleTrust(bp1, clock);
    h.useServices({ clock, safeState: safe, trust });
    openDoor = (h, id, by) => h.client.publish("pifog/bp1/command", JSON.stringify(signed(hub, clock, id, by)));
  });
  afterEach(async () => {
    await h.close();
  });

  it("normalises its settings: PiFog's 5 s on GPIO 26 by default, and no pulse longer than the maximum", () => {
    assert.deepEqual(normaliseDoorOpener({}), { pin: 26, activeLow: false, pulseMs: 5000, cooldownMs: 2000, maxPulseMs: 30_000 });
    assert.throws(() => normaliseDoorOpener({ pulse: 40, maxPulse: 30 }), /longer than the maximum/);
    assert.throws(() => normaliseDoorOpener({ pin: 60 }), /GPIO 60 is not 0\.\.53/);
  });

  it("opens on a native command: HIGH, held 5 s, LOW, then the result event, the output and the audit", async () => {
    await loadUntilOnline(h, nodes, doorFlow(h.url), "bp1");
    const out = outputs();
    await h.client.waitFor(SIM, (m) => text(m) === "0");
    const openedAt = clock.now();
    await openDoor(h, "n1", "ann");
    await h.client.waitFor(SIM, (m) => text(m) === "1");
    clock.tick(4999);
    await pingBarrier(h.client, "bp1");
    assert.deepEqual(levels(h), ["0", "1"], "still open after 4.999 s");
    assert.deepEqual(results(h), [], "no result while the door is open");

    clock.tick(1);
    const result = doorResult(await h.client.waitFor(EVENT, (m) => doorResult(m) !== undefined))!;
    assert.deepEqual(levels(h), ["0", "1", "0"]);
    const low = h.client.received.findLastIndex((m) => m.topic === SIM);
    const event = h.client.received.findIndex((m) => m.topic === EVENT && doorResult(m) !== undefined);
    assert.ok(low < event, "LOW first, then the event, as PiFog");
    assert.equal(result.result, "opened");
    assert.equal(result.id, "n1");
    assert.equal(result.by, "mqtt", "who asked is not taken from the payload (a broker of another process: sender unknown)");
    assert.equal(result.claimedBy, "ann", "what the payload says is kept as a claim");
    assert.equal(result.via, "native");
    assert.equal(result.signedBy, "hub", "signed by the hub's identity");
    assert.equal(result.pulseMs, 5000);
    assert.equal(Date.parse(result.closedAt!) - Date.parse(result.openedAt!), 5000);
    assert.equal(h.client.received.filter((m) => m.topic === COMPAT_EVENT && text(m).includes("command-executed")).length, 0, "a native command gets a native answer");

    await until(() => out.length === 1, "the output message");
    assert.equal(out[0]!.payload.result, "opened");
    const audit = new DoorAudit(h.dataDir).read();
    assert.equal(audit.length, 1);
    assert.equal(audit[0]!.by, "mqtt");
    assert.equal(audit[0]!.claimedBy, "ann");
    assert.equal(audit[0]!.via, "native");
    assert.equal(audit[0]!.result, "opened");
    assert.equal(audit[0]!.at, new Date(openedAt).toISOString(), "written when the door opened");
  });

  it("gives overlapping open-door commands exactly one pulse, refusing the second as busy and auditing both", async () => {
    await loadUntilOnline(h, nodes, doorFlow(h.url), "bp1");
    await h.client.waitFor(SIM, (m) => text(m) === "0");
    await Promise.all([openDoor(h, "a", "ann"), openDoor(h, "b", "bob")]);
    const refused = doorResult(await h.client.waitFor(EVENT, (m) => doorResult(m)?.id === "b"))!;
    assert.equal(refused.result, "refused");
    assert.equal(refused.reason, "busy");
    assert.equal(refused.claimedBy, "bob");

    clock.tick(5000);
    await h.client.waitFor(EVENT, (m) => doorResult(m)?.id === "a");
    await pingBarrier(h.client, "bp1");
    assert.deepEqual(levels(h), ["0", "1", "0"], "one pulse");
    assert.deepEqual(results(h).map((r) => [r.id, r.result]), [["b", "refused"], ["a", "opened"]]);
    const audit = new DoorAudit(h.dataDir).read();
    assert.deepEqual(audit.map((r) => [r.id, r.claimedBy, r.result, r.reason ?? null]), [["a", "ann", "opened", null], ["b", "bob", "refused", "busy"]]);
  });

  it("refuses during the cooldown after a pulse and opens again once it is over", async () => {
    await loadUntilOnline(h, nodes, doorFlow(h.url, { cooldown: 2 }), "bp1");
    await openDoor(h, "first");
    await h.client.waitFor(SIM, (m) => text(m) === "1");
    clock.tick(5000);
    await h.client.waitFor(EVENT, (m) => doorResult(m)?.id === "first");
    clock.tick(1000);
    await openDoor(h, "soon");
    const soon = doorResult(await h.client.waitFor(EVENT, (m) => doorResult(m)?.id === "soon"))!;
    assert.equal(soon.result, "refused");
    assert.equal(soon.reason, "cooldown");
    clock.tick(1000);
    await openDoor(h, "later");
    await pingBarrier(h.client, "bp1");
    clock.tick(5000);
    const later = doorResult(await h.client.waitFor(EVENT, (m) => doorResult(m)?.id === "later"))!;
    assert.equal(later.result, "opened");
    assert.deepEqual(levels(h), ["0", "1", "0", "1", "0"]);
    assert.deepEqual(new DoorAudit(h.dataDir).read().map((r) => r.reason ?? r.result), ["opened", "cooldown", "opened"]);
  });

  it("answers PiFog's open-door with command-executed, the same id and a Python timestamp, after the pulse", async () => {
    await loadUntilOnline(h, nodes, doorFlow(h.url), "bp1");
    await h.client.waitFor("/World/Fog/1/ButtonPi/Connection", (m) => text(m).includes("connected"));
    await h.client.publish(COMPAT_COMMAND, JSON.stringify({ command: "open-door", id: "123" }));
    await h.client.waitFor(SIM, (m) => text(m) === "1");
    clock.tick(5000);
    const executed = await h.client.waitFor(COMPAT_EVENT, (m) => text(m).includes("command-executed"));
    const at = new Date(clock.now());
    assert.deepEqual(JSON.parse(text(executed)), compatCommandExecuted("open-door", "123", at));
    const stamp = (JSON.parse(text(executed)) as { "command-executed": { timestamp: string } })["command-executed"].timestamp;
    assert.match(stamp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
    assert.equal(stamp, pythonTimestamp(at));
    assert.equal(executed.retain, false);
    assert.deepEqual(levels(h), ["0", "1", "0"]);
    const low = h.client.received.findLastIndex((m) => m.topic === SIM);
    assert.ok(low < h.client.received.indexOf(executed), "LOW before command-executed");
    const audit = new DoorAudit(h.dataDir).read();
    assert.deepEqual(audit.map((r) => [r.id, r.via, r.by, r.result]), [["123", "compat", "mqtt", "opened"]]);
  });

  it("on this runtime's own broker, names the MQTT client that sent open-door, whatever the payload claims", async () => {
    h.useServices({ clock, safeState: safe, trust, embedded: true });
    await loadUntilOnline(h, nodes, doorFlow(h.url), "bp1");
    const mallory = await TestClient.connect(h.url, { ...h.auth, clientId: "mallory" });
    try {
      // a command the hub signed, sent by someone else with a forged sender stamp: the broker's stamp is not signed
      await mallory.publish("pifog/bp1/command", JSON.stringify({ ...signed(hub, clock, "m1", "dashboard:admin"), from: "mqtt:pifog-hub" }));
      await h.client.waitFor(SIM, (m) => text(m) === "1");
      clock.tick(5000);
      const result = doorResult(await h.client.waitFor(EVENT, (m) => doorResult(m)?.id === "m1"))!;
      assert.equal(result.by, "mqtt:mallory");
      assert.equal(result.claimedBy, "dashboard:admin");
      assert.equal(result.signedBy, "hub");
      const audit = new DoorAudit(h.dataDir).read();
      assert.deepEqual(audit.map((r) => [r.by, r.claimedBy]), [["mqtt:mallory", "dashboard:admin"]]);
    } finally {
      await mallory.end();
    }
  });

  it("opens from a flow message with who and through what, and fails a malformed one to Catch and the dead letters", async () => {
    await loadUntilOnline(h, nodes, doorFlow(h.url), "bp1");
    const out = outputs();
    const caught = outputs("caught");
    const door = helper.getNode("door")!;
    door.receive({ payload: { by: 42 } } as never);
    await until(() => caught.length === 1, "the bad message caught");
    assert.match(caught[0]!.error!.message, /by must be text/);
    const letters = new DeadLetterFile(h.dataDir).read();
    assert.equal(letters.length, 1);
    assert.equal(letters[0]!.type, "door-opener");
    assert.match(letters[0]!.payload ?? "", /"by":42/);

    door.receive({ payload: { by: "operator", via: "dashboard", seconds: 2 } } as never);
    await h.client.waitFor(SIM, (m) => text(m) === "1");
    clock.tick(2000);
    await until(() => out.length === 1, "the answer");
    assert.equal(out[0]!.payload.result, "opened");
    assert.equal(out[0]!.payload.pulseMs, 2000);
    // the answer comes in-process, the level through the broker
    await pingBarrier(h.client, "bp1");
    assert.deepEqual(levels(h), ["0", "1", "0"], "the bad message opened nothing");
    const audit = new DoorAudit(h.dataDir).read();
    assert.deepEqual(audit.map((r) => [r.by, r.via, r.result]), [["operator", "dashboard", "opened"]]);
  });

  it("at start drives its output LOW before it takes any command", async () => {
    await loadUntilOnline(h, nodes, doorFlow(h.url), "bp1");
    await h.client.waitFor(SIM, (m) => text(m) === "0");
    await pingBarrier(h.client, "bp1");
    assert.deepEqual(levels(h), ["0"], "LOW, and nothing else, until someone asks");
  });

  it("goes safe when the runtime fails mid-pulse: LOW at once, the pulse audited and announced as aborted", async () => {
    await loadUntilOnline(h, nodes, doorFlow(h.url), "bp1");
    assert.equal(safe.size, 1, "the door registered its go-safe");
    const out = outputs();
    await openDoor(h, "f1", "ann");
    await h.client.waitFor(SIM, (m) => text(m) === "1");
    clock.tick(1500);

    const errors: unknown[] = [];
    const pending = safe.goSafe((_name, err) => errors.push(err));
    const result = doorResult(await h.client.waitFor(EVENT, (m) => doorResult(m)?.id === "f1"))!;
    await Promise.all(pending);
    assert.deepEqual(errors, []);
    await pingBarrier(h.client, "bp1");
    assert.deepEqual(levels(h), ["0", "1", "0"], "LOW, published by the time the go-safe settled");
    assert.equal(result.result, "opened");
    assert.equal(result.reason, "aborted");
    assert.equal(result.abortedBy, "failure");
    assert.equal(Date.parse(result.closedAt!) - Date.parse(result.openedAt!), 1500, "cut short when it went safe");
    const audit = new DoorAudit(h.dataDir).read();
    assert.deepEqual(audit.map((r) => [r.id, r.claimedBy, r.result, r.reason ?? null, r.abortedBy ?? null]), [
      ["f1", "ann", "opened", null, null],
      ["f1", "ann", "opened", "aborted", "failure"],
    ]);

    // the pulse's own end never comes after: no second LOW, no second event
    clock.tick(10_000);
    await pingBarrier(h.client, "bp1");
    assert.deepEqual(levels(h), ["0", "1", "0"]);
    assert.deepEqual(results(h).map((r) => r.reason ?? r.result), ["aborted"]);
    assert.equal(out.length, 0, "a dying runtime answers the broker, not the flow");
  });

  it("on close mid-pulse (a deploy) drives the output LOW, audits the pulse as aborted by the stop and deregisters", async () => {
    await loadUntilOnline(h, nodes, doorFlow(h.url), "bp1");
    await openDoor(h, "s1");
    await h.client.waitFor(SIM, (m) => text(m) === "1");
    clock.tick(200);
    const door = helper.getNode("door") as unknown as { close(removed: boolean): Promise<void> };
    await door.close(true);
    assert.equal(safe.size, 0);
    await h.client.waitFor(SIM, (m) => text(m) === "0", 5000, false);
    const audit = new DoorAudit(h.dataDir).read();
    assert.deepEqual(audit.map((r) => [r.id, r.reason ?? null, r.abortedBy ?? null]), [["s1", null, null], ["s1", "aborted", "stop"]]);
  });

  it("going safe with no pulse running writes LOW and audits nothing", async () => {
    await loadUntilOnline(h, nodes, doorFlow(h.url), "bp1");
    await h.client.waitFor(SIM, (m) => text(m) === "0");
    await Promise.all(safe.goSafe(() => undefined));
    await pingBarrier(h.client, "bp1");
    assert.deepEqual(levels(h), ["0"]);
    assert.deepEqual(new DoorAudit(h.dataDir).read(), []);
  });

  it("off a Pi with hardware set to pi: 'not available', attempts refused and audited, no crash", async () => {
    // with the node's own message catalog, as the log shows it to the user
    await loadUntilOnline(h, translated(nodes), doorFlow(h.url, {}, { hardware: "pi" }), "bp1");
    const logged = helper.log().args.map((a) => JSON.stringify(a)).join("\n");
    assert.match(logged, /door GPIO not available here \(.+\); set the device's hardware to sim to simulate it/);
    await openDoor(h, "x", "ann");
    const r = doorResult(await h.client.waitFor(EVENT, (m) => doorResult(m)?.id === "x"))!;
    assert.equal(r.result, "refused");
    assert.equal(r.reason, "unavailable");
    assert.deepEqual(new DoorAudit(h.dataDir).read().map((a) => a.reason), ["unavailable"]);
    assert.deepEqual(levels(h), [], "no simulated output either");
  });

  describe("signed native commands", () => {
    type Caught = { error?: { message: string }; payload: DoorOpenResult };
    /** Sends a native command and waits for the door's answer to it. */
    async function answer(payload: unknown, id: string): Promise<DoorOpenResult> {
      await h.client.publish("pifog/bp1/command", JSON.stringify(payload));
      return doorResult(await h.client.waitFor(EVENT, (m) => doorResult(m)?.id === id))!;
    }
    /** The refusal as the caller (the event), the door's record, the runtime's audit and a Catch node see it. */
    async function assertRefused(result: DoorOpenResult, reason: string, detail: RegExp, caught: Caught[]): Promise<void> {
      assert.equal(result.result, "refused", `${result.id}`);
      assert.equal(result.reason, reason, `${result.id}: ${result.detail}`);
      assert.match(result.detail ?? "", detail);
      const record = new DoorAudit(h.dataDir).read().findLast((r) => r.id === result.id);
      assert.equal(record?.reason, reason, `the door's audit of ${result.id}`);
      assert.match(record?.detail ?? "", detail);
      const audited = h.services.audit.read().findLast((r) => r.event === "door.command.refused" && r.id === result.id);
      assert.equal(audited?.refusal, reason, `the runtime's audit of ${result.id}`);
      assert.equal(audited?.device, "bp1");
      await until(() => caught.some((c) => c.payload.id === result.id), `${result.id} caught`);
      assert.match(caught.find((c) => c.payload.id === result.id)!.error!.message, new RegExp(`open-door refused, ${reason}`));
    }

    it("refuses unsigned, tampered, stale, another role's, another CA's and another door's commands; the relay never moves", async () => {
      await loadUntilOnline(h, translated(nodes), doorFlow(h.url), "bp1");
      await h.client.waitFor(SIM, (m) => text(m) === "0");
      const caught = outputs("caught") as unknown as Caught[];
      const statuses = outputs("statuses") as unknown as Array<{ status: { fill?: string; text?: string } }>;
      const now = new Date(START - 60_000);
      const kiosk = await issueDevice(ca, { id: "kiosk", role: "viewer", now });
      const camera = await enrol("camerapi", "camerapi");
      const mallorys = await issueDevice(await createCa({ commonName: "Mallory's CA", now }), { id: "hub", role: "hub", now });

      await assertRefused(await answer({ command: "open-door", id: "u1", by: "ann" }, "u1"), "unsigned", /no signature/, caught);
      await assertRefused(await answer({ ...signed(hub, clock, "t1", "ann"), by: "mallory" }, "t1"), "tampered", /does not match the payload/, caught);
      await assertRefused(await answer({ ...signed(hub, clock, "t2"), seconds: 30 }, "t2"), "tampered", /does not match/, caught);
      const early = signPayload({ command: "open-door", id: "s1" }, hub, clock.now() - 60_001, { topic: "pifog/bp1/command" });
      await assertRefused(await answer(early, "s1"), "stale", /at most ±60 s/, caught);
      const late = signPayload({ command: "open-door", id: "s2" }, hub, clock.now() + 61_000, { topic: "pifog/bp1/command" });
      await assertRefused(await answer(late, "s2"), "stale", /at most ±60 s/, caught);
      await assertRefused(await answer(signed(kiosk, clock, "v1"), "v1"), "not-allowed", /role viewer\) may not command the door.*signed by "kiosk"/, caught);
      await assertRefused(await answer(signed(camera, clock, "c1"), "c1"), "not-allowed", /role camerapi/, caught);
      await assertRefused(await answer(signed(mallorys, clock, "x1"), "x1"), "untrusted", /not issued by this fog's CA/, caught);
      await assertRefused(await answer(signed(hub, clock, "d1", undefined, "pifog/bp2/command"), "d1"), "tampered", /signed for pifog\/bp2\/command/, caught);

      await pingBarrier(h.client, "bp1");
      assert.deepEqual(levels(h), ["0"], "not one pulse");
      const shown = statuses.map((m) => m.status).filter((st) => st.fill === "red");
      assert.ok(shown.some((st) => /refused: tampered/.test(st.text ?? "")), JSON.stringify(shown));
      assert.equal(new DoorAudit(h.dataDir).read().filter((r) => r.result === "opened").length, 0);
      // and the door still opens for the hub
      await openDoor(h, "ok");
      await h.client.waitFor(SIM, (m) => text(m) === "1");
    });

    it("refuses a replay of a command it took, even after the pulse and the cooldown", async () => {
      await loadUntilOnline(h, translated(nodes), doorFlow(h.url), "bp1");
      await h.client.waitFor(SIM, (m) => text(m) === "0");
      const caught = outputs("caught") as unknown as Caught[];
      const command = signed(hub, clock, "r1", "ann");
      assert.equal((await (async () => {
        await h.client.publish("pifog/bp1/command", JSON.stringify(command));
        await h.client.waitFor(SIM, (m) => text(m) === "1");
        clock.tick(5000);
        return doorResult(await h.client.waitFor(EVENT, (m) => doorResult(m)?.id === "r1"))!;
      })()).result, "opened");
      clock.tick(2000);
      h.client.received.length = 0;
      const replay = await answer(command, "r1");
      await assertRefused(replay, "replayed", /was seen already/, caught);
      await pingBarrier(h.client, "bp1");
      assert.deepEqual(levels(h), [], "no second pulse");
      assert.deepEqual(new DoorAudit(h.dataDir).read().map((r) => r.reason ?? r.result), ["opened", "replayed"]);
    });

    it("refuses a signer once the hub's revocation list names it, and never goes back to an older list or takes a forged one", async () => {
      let taken: () => void = () => undefined;
      const inner = trust;
      const accepted: string[] = [];
      h.useServices({
        clock,
        safeState: safe,
        trust: {
          ...inner,
          acceptCrl: async (pem) => {
            const r = await inner.acceptCrl(pem);
            accepted.push(r.taken ? "taken" : r.why);
            taken();
            return r;
          },
        },
      });
      const next = () => new Promise<void>((resolve) => (taken = resolve));
      const hub2 = await enrol("hub2", "hub");
      const older = fs.readFileSync(identityPaths(caDir).crl, "utf8");
      await loadUntilOnline(h, translated(nodes), doorFlow(h.url), "bp1");
      await h.client.waitFor(SIM, (m) => text(m) === "0");
      const caught = outputs("caught") as unknown as Caught[];

      await revokeDevice(caDir, "hub2", new Date(START - 60_000));
      const newer = fs.readFileSync(identityPaths(caDir).crl, "utf8");
      const serial = certificateInfo(hub2.cert).serial;
      let arrived = next();
      await h.client.publish("pifog/$ca/crl", newer, { retain: true });
      await arrived;
      await assertRefused(await answer(signed(hub2, clock, "k1"), "k1"), "revoked", new RegExp(`serial ${serial}\\) is revoked`), caught);

      arrived = next();
      await h.client.publish("pifog/$ca/crl", older, { retain: true });
      await arrived;
      const forged = await createCrl(await createCa({ now: new Date(START) }), [], new Date(START));
      arrived = next();
      await h.client.publish("pifog/$ca/crl", forged, { retain: true });
      await arrived;
      assert.deepEqual(accepted, ["taken", "older", "invalid"]);
      await assertRefused(await answer(signed(hub2, clock, "k2"), "k2"), "revoked", /revoked/, caught);
      const crlRefusals = h.services.audit.read().filter((r) => r.event === "trust.crl.refused").map((r) => r.reason);
      assert.equal(crlRefusals.length, 2);
      assert.match(crlRefusals[0]!, /^issued 2026-03-27T12:29:56\.000Z, older than the one held \(2026-03-28T12:28:56\.000Z\)$/);
      assert.match(crlRefusals[1]!, /not signed by this fog's CA/);
      await pingBarrier(h.client, "bp1");
      assert.deepEqual(levels(h), ["0"]);
    });

    it("on a Pi without a CA refuses every native open-door, saying how to enrol it; PiFog's compat command still opens", async () => {
      h.useServices({ clock, safeState: safe, trust: noTrust() });
      await loadUntilOnline(h, translated(nodes), doorFlow(h.url), "bp1");
      await h.client.waitFor(SIM, (m) => text(m) === "0");
      const caught = outputs("caught") as unknown as Caught[];
      assert.match(helper.log().args.map((a) => JSON.stringify(a)).join("\n"), /signed open-door commands cannot be checked/);
      await assertRefused(await answer(signed(hub, clock, "n1"), "n1"), "no-ca", /enrol it with `pifog device add`/, caught);
      await pingBarrier(h.client, "bp1");
      assert.deepEqual(levels(h), ["0"]);
      await h.client.publish(COMPAT_COMMAND, JSON.stringify({ command: "open-door", id: "compat-1" }));
      await h.client.waitFor(SIM, (m) => text(m) === "1");
    });
  });
});
