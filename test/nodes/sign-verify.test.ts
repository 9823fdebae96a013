// The sign and verify nodes on a real CA in a temp data dir (as `pifog ca init` / `device add` / `device revoke`
// make it), with the identity store as the hub's runtime reads it: sign adds the runtime's signature; verify passes
// what is good with msg.signer and refuses the rest on output 2 with msg.reason, audited, caught and shown.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { addDevice, initCa, revokeDevice } from "../../nodes/lib/identity/admin";
import type { DeviceBundle } from "../../nodes/lib/identity/paths";
import { signPayload, type Signature } from "../../nodes/lib/identity/signing";
import { IdentityStore } from "../../nodes/lib/identity/store";
import { directoryTrust, noTrust, type Trust } from "../../nodes/lib/identity/trust";
import sign, { normaliseSign } from "../../nodes/sign/sign";
import verify, { normaliseVerify } from "../../nodes/verify/verify";
import { FakeClock } from "../support/fake-clock";
import { translated } from "../support/messages";
import { helper } from "../support/node-harness";
import { testServices } from "../support/services";
import { until } from "../support/until";

const START = Date.UTC(2026, 5, 1, 10, 0, 0);
const nodes = translated([sign, verify]);

interface Passed {
  topic: string;
  payload: Record<string, unknown> & { signature?: Signature };
  signer?: { cn: string; serial: string; role: string | null };
  reason?: string;
  detail?: string;
  error?: { message: string };
}

function flow(verifyConfig: Record<string, unknown> = {}) {
  return [
    { id: "tab", type: "tab" },
    { id: "signer", type: "sign", z: "tab", bindTopic: true, wires: [["signed", "checker"]] },
    { id: "checker", type: "verify", z: "tab", roles: "", checkTopic: true, wires: [["good"], ["bad"]], ...verifyConfig },
    { id: "signed", type: "helper", z: "tab" },
    { id: "good", type: "helper", z: "tab" },
    { id: "bad", type: "helper", z: "tab" },
    { id: "catcher", type: "catch", z: "tab", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper", z: "tab" },
    { id: "watch", type: "status", z: "tab", scope: ["checker", "signer"], wires: [["statuses"]] },
    { id: "statuses", type: "helper", z: "tab" },
  ];
}

function collect(id: string): Passed[] {
  const seen: Passed[] = [];
  helper.getNode(id)!.on("input", (msg: unknown) => seen.push(msg as Passed));
  return seen;
}

describe("sign and verify nodes", function () {
  this.timeout(20_000);
  let caDir: string;
  let hub: DeviceBundle;
  let camera: DeviceBundle;
  let doorpi: DeviceBundle;
  let store: IdentityStore;
  let dataDir: string;
  let clock: FakeClock;
  let trust: Trust;
  let services: ReturnType<typeof testServices>;

  before(async () => {
    caDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-ca-"));
    const now = new Date(START - 3_600_000);
    await initCa(caDir, { now });
    hub = await addDevice(caDir, "hub", "hub", { hubUrl: "mqtts://127.0.0.1:8883", now });
    camera = await addDevice(caDir, "camerapi", "camerapi", { hubUrl: "mqtts://127.0.0.1:8883", now });
    doorpi = await addDevice(caDir, "doorpi", "doorpi", { hubUrl: "mqtts://127.0.0.1:8883", now });
    store = await IdentityStore.open(caDir, { watch: true, debounceMs: 10 });
  });
  after(() => {
    store.close();
    fs.rmSync(caDir, { recursive: true, force: true });
  });
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-sign-"));
    clock = new FakeClock(START);
    // the hub's runtime: the store is its CA, revocations and roles; its own bundle signs
    trust = directoryTrust(store, hub, clock);
    services = testServices({ dataDir, clock, trust });
    helper.settings({ pifogServices: services });
  });
  afterEach(async () => {
    await helper.unload();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("normalises its settings", () => {
    assert.deepEqual(normaliseSign({}), { bindTopic: true });
    assert.deepEqual(normaliseSign({ bindTopic: false }), { bindTopic: false });
    assert.deepEqual(normaliseVerify({ roles: " hub, camerapi ," }), { roles: ["hub", "camerapi"], checkTopic: true });
    assert.throws(() => normaliseVerify({ roles: "hub;rm" }), /not a role name/);
  });

  it("signs an object or JSON text with the runtime's identity and the topic; verify passes it with msg.signer", async () => {
    await helper.load(nodes, flow());
    const signed = collect("signed");
    const good = collect("good");
    helper.getNode("signer")!.receive({ topic: "pifog/hub/notes", payload: { note: "hello", n: 1 } } as never);
    helper.getNode("signer")!.receive({ topic: "pifog/hub/notes", payload: JSON.stringify({ note: "as text" }) } as never);
    await until(() => good.length === 2, "both verified");
    const s = signed[0]!.payload.signature!;
    assert.equal(s.by, "hub");
    assert.equal(s.topic, "pifog/hub/notes");
    assert.equal(s.ts, new Date(START).toISOString());
    assert.equal(typeof signed[1]!.payload, "string", "JSON text leaves as JSON text");
    assert.deepEqual(good[0]!.signer, { cn: "hub", serial: store.device("hub")!.serial, role: "hub" });
    assert.equal(good[0]!.payload.note, "hello");
    assert.equal(good[1]!.signer!.cn, "hub");
  });

  it("refuses unsigned, tampered, replayed, stale, another topic's and a revoked signer's: output 2, audit, Catch, status", async () => {
    await helper.load(nodes, flow());
    const good = collect("good");
    const bad = collect("bad");
    const caught = collect("caught");
    const statuses = collect("statuses") as unknown as Array<{ status: { fill?: string; text?: string } }>;
    const checker = helper.getNode("checker")!;
    const topic = "pifog/hub/notes";
    const fresh = (note: string, signer = hub) => signPayload({ note }, signer, clock.now(), { topic });

    const sent: Array<[string, unknown, string]> = [];
    const send = (name: string, payload: unknown, on = topic) => {
      sent.push([name, payload, on]);
      checker.receive({ topic: on, payload, name } as never);
    };
    send("unsigned", { note: "no signature" });
    send("not json", "open sesame");
    send("tampered", { ...fresh("a"), note: "b" });
    const once = fresh("once");
    send("first", once);
    send("replayed", once);
    send("stale", signPayload({ note: "old" }, hub, clock.now() - 61_000, { topic }));
    send("elsewhere", fresh("moved"), "pifog/hub/other");
    await until(() => good.length + bad.length === sent.length, "every message answered");

    await revokeDevice(caDir, "camerapi", new Date(START));
    await new Promise<void>((resolve) => store.once("revoked", () => resolve()));
    send("revoked", fresh("from the camera", camera));
    await until(() => bad.length === 7, "the revoked one refused");

    assert.deepEqual(good.map((m) => m.payload.note), ["once"]);
    assert.deepEqual(
      bad.map((m) => [(m as unknown as { name: string }).name, m.reason]),
      [
        ["unsigned", "unsigned"],
        ["not json", "unsigned"],
        ["tampered", "tampered"],
        ["replayed", "replayed"],
        ["stale", "stale"],
        ["elsewhere", "tampered"],
        ["revoked", "revoked"],
      ],
    );
    assert.match(bad[6]!.detail!, /camerapi.*is revoked/);
    assert.equal(bad[6]!.signer!.cn, "camerapi");

    await until(() => caught.length === 7, "each caught");
    assert.match(caught[3]!.error!.message, /signature refused, replayed: nonce [0-9a-f]{32} was seen already/);
    const audited = services.audit.read().filter((r) => r.event === "signature.refused");
    assert.deepEqual(audited.map((r) => r.refusal), ["unsigned", "unsigned", "tampered", "replayed", "stale", "tampered", "revoked"]);
    assert.equal(audited[6]!.who, "camerapi");
    assert.ok(statuses.some((st) => st.status.fill === "red" && st.status.text === "refused: revoked"), JSON.stringify(statuses.map((st) => st.status)));
  });

  it("takes only the roles it names: a DoorPi's signature is refused as not-allowed where only the hub may", async () => {
    await helper.load(nodes, flow({ roles: "hub" }));
    const good = collect("good");
    const bad = collect("bad");
    const checker = helper.getNode("checker")!;
    checker.receive({ topic: "t", payload: signPayload({ x: 1 }, doorpi, clock.now(), { topic: "t" }) } as never);
    checker.receive({ topic: "t", payload: signPayload({ x: 2 }, hub, clock.now(), { topic: "t" }) } as never);
    await until(() => good.length + bad.length === 2, "both answered");
    assert.deepEqual(good.map((m) => m.payload.x), [2]);
    assert.equal(bad[0]!.reason, "not-allowed");
    assert.match(bad[0]!.detail!, /"doorpi" \(role doorpi\) is not one of hub/);
  });

  it("without an identity: sign refuses (nothing leaves unsigned) and verify refuses everything as untrusted", async () => {
    services = testServices({ dataDir, clock, trust: noTrust() });
    helper.settings({ pifogServices: services });
    await helper.load(nodes, flow());
    const signed = collect("signed");
    const bad = collect("bad");
    const caught = collect("caught");
    helper.getNode("signer")!.receive({ topic: "t", payload: { x: 1 } } as never);
    helper.getNode("checker")!.receive({ topic: "t", payload: signPayload({ x: 1 }, hub, clock.now(), { topic: "t" }) } as never);
    await until(() => caught.length === 2, "both caught");
    assert.equal(signed.length, 0);
    assert.match(caught.map((c) => c.error!.message).join("\n"), /no identity to sign with \(no CA on this Pi: enrol it with `pifog device add`\)/);
    assert.equal(bad[0]!.reason, "untrusted");
    assert.match(bad[0]!.detail!, /enrol it/);
  });

  it("refuses to sign what is not an object", async () => {
    await helper.load(nodes, flow());
    const signed = collect("signed");
    const caught = collect("caught");
    helper.getNode("signer")!.receive({ topic: "t", payload: [1, 2] } as never);
    helper.getNode("signer")!.receive({ topic: "t", payload: "not json" } as never);
    await until(() => caught.length === 2, "both caught");
    assert.equal(signed.length, 0);
    assert.match(caught[0]!.error!.message, /only an object payload/);
  });
});
