// What /v1 says of a device, checked against what detectordag's frontend accepts: its Device card throws on any
// power other than on|off and any connection other than connected|disconnected, and renders every time with
// timeago (originals.md §2.7, §2.8). A device attached before its first report must still get a card.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { apiDevice, GO_ZERO_TIME, type ApiDevice } from "../../nodes/lib/accounts/api";
import { AccountStore, type DeviceRecord } from "../../nodes/lib/accounts/store";

const T_ATTACH = Date.UTC(2026, 0, 1, 9, 0, 0);
const T_POWER = Date.UTC(2026, 0, 1, 12, 0, 0, 500);
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** The original frontend's checks on a Device (Device.vue: powerState, connectionState), as a predicate. */
function frontendAccepts(d: ApiDevice): boolean {
  return (
    typeof d.name === "string" &&
    typeof d.deviceId === "string" &&
    (d.state.power === "on" || d.state.power === "off") &&
    (d.connection.status === "connected" || d.connection.status === "disconnected") &&
    RFC3339.test(d.state.updated) &&
    RFC3339.test(d.connection.updated)
  );
}

function record(extra: Partial<DeviceRecord>): DeviceRecord {
  return { id: "kims-pi", name: "kims-pi", accountId: "a", power: null, powerUpdated: null, connection: null, connectionUpdated: null, attachedAt: null, ...extra };
}

describe("/v1's Device object", () => {
  it("a device never heard from: disconnected, power on, both dated from when it was attached", () => {
    const d = apiDevice(record({ attachedAt: T_ATTACH }));
    assert.deepEqual(d, {
      name: "kims-pi",
      deviceId: "kims-pi",
      state: { power: "on", updated: "2026-01-01T09:00:00Z" },
      connection: { status: "disconnected", updated: "2026-01-01T09:00:00Z" },
    });
    assert.ok(frontendAccepts(d));
    assert.doesNotMatch(JSON.stringify(d), /null/, "nothing on the wire that the original's types cannot hold");
  });

  it("what the device did report is kept; only the missing half is filled", () => {
    const powerOnly = apiDevice(record({ attachedAt: T_ATTACH, power: "off", powerUpdated: T_POWER }));
    assert.deepEqual(powerOnly.state, { power: "off", updated: "2026-01-01T12:00:00.5Z" });
    assert.deepEqual(powerOnly.connection, { status: "disconnected", updated: "2026-01-01T09:00:00Z" });
    const connectionOnly = apiDevice(record({ attachedAt: T_ATTACH, connection: "connected", connectionUpdated: T_POWER }));
    assert.deepEqual(connectionOnly.state, { power: "on", updated: "2026-01-01T09:00:00Z" });
    assert.deepEqual(connectionOnly.connection, { status: "connected", updated: "2026-01-01T12:00:00.5Z" });
    for (const d of [powerOnly, connectionOnly]) assert.ok(frontendAccepts(d));
  });

  it("no attach time (a device no account holds, on the owner's list): the other half's time, else Go's zero time", () => {
    const unattached = apiDevice(record({ accountId: null, power: "on", powerUpdated: T_POWER }));
    assert.equal(unattached.connection.updated, "2026-01-01T12:00:00.5Z");
    const nothing = apiDevice(record({ accountId: null }));
    assert.equal(nothing.state.updated, GO_ZERO_TIME);
    assert.equal(nothing.connection.updated, GO_ZERO_TIME);
    for (const d of [unattached, nothing]) assert.ok(frontendAccepts(d));
  });
});

describe("the account store's attach time", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-accounts-"));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("is kept when a device is attached; attaching again to the same account keeps the first, moving it starts anew", async () => {
    const store = new AccountStore(dir);
    try {
      const sam = await store.createAccount("sam@example.com", "password1");
      const kim = await store.createAccount("kim@example.com", "password1");
      store.setPower("garage", "on", T_POWER); // heard of before it is attached
      assert.equal(store.device("garage")!.attachedAt, null);
      assert.equal(store.attachDevice(sam.id, "garage", "Garage", T_ATTACH).attachedAt, T_ATTACH);
      assert.equal(store.attachDevice(sam.id, "garage", "Garage door", T_ATTACH + 1000).attachedAt, T_ATTACH);
      assert.equal(store.attachDevice(kim.id, "garage", undefined, T_ATTACH + 2000).attachedAt, T_ATTACH + 2000);
      assert.equal(store.device("garage")!.name, "Garage door");
    } finally {
      store.close();
    }
  });

  it("a store from before attach times gains them: its attached devices get a time, so /v1 never answers null", async () => {
    const first = new AccountStore(dir);
    const account = await first.createAccount("sam@example.com", "password1");
    first.attachDevice(account.id, "garage", "Garage", T_ATTACH);
    first.close();
    // the column as an older version left the file: absent
    const db = new Database(path.join(dir, "accounts.db"));
    db.exec("ALTER TABLE devices DROP COLUMN attached_at");
    db.close();
    const before = Date.now();
    const reopened = new AccountStore(dir);
    try {
      const d = reopened.device("garage")!;
      assert.ok(d.attachedAt !== null && d.attachedAt >= before, `attachedAt ${d.attachedAt}`);
      assert.ok(frontendAccepts(apiDevice(d)));
    } finally {
      reopened.close();
    }
  });
});
