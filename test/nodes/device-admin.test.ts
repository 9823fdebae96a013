// The Devices tab's node against a small pairing service of the test's own (the PairingService interface the hub's
// implements): an admin sees the pending codes, the devices and the CA's fingerprint, approves a code with a name and
// an owner from the users, revokes a device, and is told clearly why a step was refused; the service hears who did it
// and from where (the socket's person and address, never the payload). Anyone but an admin is refused, audited, and
// sees no code; a runtime without a pairing service says pairing is unavailable.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import deviceAdmin, { normaliseDeviceAdmin, type DevicesView } from "../../nodes/device-admin/device-admin";
import { Audit } from "../../nodes/lib/audit/audit";
import { PairingError, type DeviceOverview, type PairingService, type PendingPairing } from "../../nodes/lib/identity/pairing-types";
import type { PifogServices } from "../../nodes/lib/services";
import { BROWSERS, signedInBrowsers } from "../support/dashboard-people";
import { helper } from "../support/node-harness";
import { testServices } from "../support/services";

interface Answer {
  topic: string;
  socketid?: string;
  payload: DevicesView;
}

/** A pairing service with one Pi waiting (code K7QX-2P) and one device; it keeps who approved or revoked what. */
class TestPairing implements PairingService {
  readonly calls: Array<{ what: string; by: string; address: string; id: string }> = [];
  private waiting: PendingPairing[] = [
    { code: "K7QX-2P", role: "doorpi", suggestedId: "doorpi-2", version: "1.4.0", address: "192.0.2.77", requestedAt: 1_000, expiresAt: 601_000 },
  ];
  private readonly list: DeviceOverview[] = [
    { id: "camerapi", role: "camerapi", owner: "pat-operator", online: true, lastSeen: 5_000, notAfter: "2027-12-07T00:00:00.000Z", version: "1.4.0", login: "certificate" },
  ];
  caFingerprint(): string {
    return "AB:CD:EF:01";
  }
  pending(): PendingPairing[] {
    return [...this.waiting];
  }
  devices(): DeviceOverview[] {
    return [...this.list];
  }
  async approve(code: string, o: { id: string; owner: string; by: string; address: string }): Promise<DeviceOverview> {
    const p = this.waiting.find((w) => w.code === code);
    if (!p) throw new PairingError(`no Pi is waiting with code ${code} (wrong, expired or used)`, "unknown-code");
    if (this.list.some((d) => d.id === o.id)) throw new PairingError(`the name ${o.id} is taken`, "name-taken");
    this.calls.push({ what: "approve", by: o.by, address: o.address, id: o.id });
    this.waiting = this.waiting.filter((w) => w !== p);
    const d: DeviceOverview = { id: o.id, role: p.role, owner: o.owner, online: false, notAfter: "2027-12-07T00:00:00.000Z", version: p.version, login: "certificate" };
    this.list.push(d);
    return d;
  }
  async revoke(id: string, o: { by: string; address: string }): Promise<DeviceOverview> {
    const d = this.list.find((x) => x.id === id);
    if (!d) throw new PairingError(`no device ${id}`, "bad-request");
    this.calls.push({ what: "revoke", by: o.by, address: o.address, id });
    d.revokedAt = "2026-12-07T09:00:00.000Z";
    d.online = false;
    return d;
  }
  close(): void {}
}

const flow = [
  { id: "tab", type: "tab" },
  { id: "devices", type: "device-admin", z: "tab", tab: "Devices", wires: [["answers"], ["tabs"]] },
  { id: "answers", type: "helper", z: "tab" },
  { id: "tabs", type: "helper", z: "tab" },
];

function next<T>(id: string): Promise<T> {
  return new Promise((resolve) => (helper.getNode(id) as unknown as NodeJS.EventEmitter).once("input", resolve));
}

describe("device-admin node (the Devices tab)", function () {
  this.timeout(30_000);
  let dataDir: string;
  let pairing: TestPairing;

  async function load(withPairing: boolean): Promise<PifogServices> {
    const base = testServices({ dataDir });
    await signedInBrowsers(base);
    pairing = new TestPairing();
    const services = withPairing ? { ...base, pairing } : base;
    helper.settings({ pifogServices: services });
    await helper.load([deviceAdmin], flow);
    return services;
  }

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-devices-"));
  });
  afterEach(async () => {
    await helper.unload();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function ask(topic: string | undefined, payload: unknown, socketid: string = BROWSERS.admin.socketid): Promise<Answer> {
    const answer = next<Answer>("answers");
    helper.getNode("devices")!.receive({ topic, payload, socketid } as never);
    return answer;
  }

  it("normalises its settings", () => {
    assert.deepEqual(normaliseDeviceAdmin({}), { tab: "Devices" });
  });

  it("shows an admin the CA's fingerprint, the Pis waiting with their codes, the devices and the possible owners", async () => {
    await load(true);
    const a = (await ask("list", {})).payload;
    assert.deepEqual([a.admin, a.available, a.fingerprint], [true, true, "AB:CD:EF:01"]);
    assert.deepEqual(a.pending.map((p) => [p.code, p.suggestedId, p.role]), [["K7QX-2P", "doorpi-2", "doorpi"]]);
    assert.deepEqual(a.devices.map((d) => [d.id, d.owner, d.online]), [["camerapi", "pat-operator", true]]);
    assert.ok(a.owners.includes("pat-viewer") && a.owners.includes("pat-admin"));
  });

  it("approves a code with a name and an owner, saying who did it from where to the pairing service", async () => {
    await load(true);
    const a = await ask("approve", { code: "K7QX-2P", id: "frontdoor-2", owner: "pat-viewer", by: "mallory" });
    assert.equal(a.payload.message, "paired frontdoor-2 (doorpi), owned by pat-viewer");
    assert.deepEqual(pairing.calls, [{ what: "approve", by: "pat-admin", address: "192.0.2.30", id: "frontdoor-2" }], "who: the socket's person, never the payload");
    assert.deepEqual(a.payload.pending, []);
    assert.ok(a.payload.devices.some((d) => d.id === "frontdoor-2"));
  });

  it("says clearly why a step was refused: a wrong code, a name taken, an owner who is no user, a missing field", async () => {
    await load(true);
    assert.match((await ask("approve", { code: "NOPE-00", id: "x", owner: "pat-admin" })).payload.error!, /no Pi is waiting with code NOPE-00/);
    assert.match((await ask("approve", { code: "K7QX-2P", id: "camerapi", owner: "pat-admin" })).payload.error!, /the name camerapi is taken/);
    assert.match((await ask("approve", { code: "K7QX-2P", id: "x", owner: "nobody" })).payload.error!, /no user nobody to own it/);
    assert.match((await ask("approve", { code: "K7QX-2P", owner: "pat-admin" })).payload.error!, /id is missing/);
    assert.deepEqual(pairing.calls, []);
  });

  it("revokes a device", async () => {
    await load(true);
    const a = await ask("revoke", { id: "camerapi" });
    assert.equal(a.payload.message, "revoked camerapi");
    assert.ok(a.payload.devices.find((d) => d.id === "camerapi")?.revokedAt);
    assert.deepEqual(pairing.calls, [{ what: "revoke", by: "pat-admin", address: "192.0.2.30", id: "camerapi" }]);
  });

  it("refuses a viewer, an operator and a browser without a session: no code shown, nothing approved, audited", async () => {
    await load(true);
    for (const socketid of [BROWSERS.viewer.socketid, BROWSERS.operator.socketid, "sock-nobody"]) {
      const a = await ask("approve", { code: "K7QX-2P", id: "evil", owner: "pat-viewer" }, socketid);
      assert.deepEqual([a.payload.admin, a.payload.pending, a.payload.fingerprint], [false, [], null]);
      assert.match(a.payload.error!, /admins only|sign in first|refused\./);
    }
    assert.deepEqual(pairing.calls, []);
    assert.equal(new Audit(dataDir).read().filter((r) => r.event === "dashboard.action.refused").length, 3);
  });

  it("on a runtime without a pairing service, tells the admin pairing is unavailable", async () => {
    await load(false);
    const a = (await ask("list", {})).payload;
    assert.deepEqual([a.admin, a.available, a.pending, a.devices], [true, false, [], []]);
    assert.match((await ask("approve", { code: "K7QX-2P", id: "x", owner: "pat-admin" })).payload.error!, /pairing is unavailable|status\.unavailable/);
  });

  it("shows the Devices tab to an admin's browser only", async () => {
    await load(true);
    for (const [role, want] of [["admin", { show: ["Devices"] }], ["viewer", { hide: ["Devices"] }]] as const) {
      const tabs = next<{ socketid: string; payload: unknown }>("tabs");
      helper.getNode("devices")!.receive({ payload: "change", socketid: BROWSERS[role].socketid } as never);
      assert.deepEqual((await tabs).payload, { tabs: want });
    }
  });
});
