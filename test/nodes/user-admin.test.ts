// The Users tab's node: an admin lists, adds, re-roles, re-passwords and removes users of the real user store, each
// change audited with who made it; removing a user or setting their password signs them out everywhere; anyone but
// an admin (a viewer, an operator, a browser with no session) is refused, answered and audited, and gets no list;
// the tab is shown to admins' browsers only.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Audit } from "../../nodes/lib/audit/audit";
import { listUsers } from "../../nodes/lib/identity/admin";
import type { PifogServices } from "../../nodes/lib/services";
import userAdmin, { normaliseUserAdmin, type UsersView } from "../../nodes/user-admin/user-admin";
import { BROWSERS, signedInBrowsers, type SignedInBrowsers } from "../support/dashboard-people";
import { helper } from "../support/node-harness";
import { testServices } from "../support/services";

interface Answer {
  topic: string;
  socketid?: string;
  payload: UsersView;
}

const flow = [
  { id: "tab", type: "tab" },
  { id: "users", type: "user-admin", z: "tab", tab: "Users", wires: [["answers"], ["tabs"]] },
  { id: "answers", type: "helper", z: "tab" },
  { id: "tabs", type: "helper", z: "tab" },
];

function next<T>(id: string): Promise<T> {
  return new Promise((resolve) => (helper.getNode(id) as unknown as NodeJS.EventEmitter).once("input", resolve));
}

describe("user-admin node (the Users tab)", function () {
  this.timeout(30_000);
  let dataDir: string;
  let services: PifogServices;
  let browsers: SignedInBrowsers;

  beforeEach(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-users-"));
    services = testServices({ dataDir });
    browsers = await signedInBrowsers(services);
    helper.settings({ pifogServices: services });
    await helper.load([userAdmin], flow);
  });
  afterEach(async () => {
    await helper.unload();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function ask(topic: string | undefined, payload: unknown, socketid: string = BROWSERS.admin.socketid): Promise<Answer> {
    const answer = next<Answer>("answers");
    helper.getNode("users")!.receive({ topic, payload, socketid } as never);
    return answer;
  }

  it("normalises its settings", () => {
    assert.deepEqual(normaliseUserAdmin({}), { tab: "Users" });
    assert.deepEqual(normaliseUserAdmin({ tab: " People " }), { tab: "People" });
  });

  it("lists the users to an admin, with how many browsers each has signed in", async () => {
    const a = await ask("list", {});
    assert.equal(a.socketid, BROWSERS.admin.socketid, "to that browser only");
    assert.equal(a.payload.admin, true);
    assert.deepEqual(a.payload.me, { name: "pat-admin", role: "admin" });
    const pat = a.payload.users.filter((u) => u.name.startsWith("pat-"));
    assert.deepEqual(pat.map((u) => [u.name, u.role, u.sessions]), [["pat-admin", "admin", 1], ["pat-operator", "operator", 1], ["pat-viewer", "viewer", 1]]);
  });

  it("adds a user with a role and a password, who can then sign in; audited with who added them", async () => {
    const a = await ask("add", { name: "sam", role: "operator", password: "sam-password-1" });
    assert.equal(a.payload.message, "added sam (operator)");
    assert.deepEqual(listUsers(dataDir).find((u) => u.name === "sam")?.role, "operator");
    browsers.connect("sock-sam", "sam");
    assert.deepEqual(services.dashboardSockets.personOf("sock-sam"), { name: "sam", role: "operator" });
    const added = new Audit(dataDir).read().find((r) => r.event === "user.add");
    assert.deepEqual([added?.by, added?.user, added?.who], ["pat-admin", "sam", "pat-admin@192.0.2.30"]);
  });

  it("says clearly what is wrong with an add: a short password, a bad role, a name taken", async () => {
    assert.match((await ask("add", { name: "sam", role: "operator", password: "short" })).payload.error!, /at least 8 characters/);
    assert.match((await ask("add", { name: "sam", role: "root", password: "long-enough-1" })).payload.error!, /"root" is not a role/);
    assert.match((await ask("add", { name: "pat-viewer", role: "viewer", password: "long-enough-1" })).payload.error!, /exists/);
    assert.match((await ask("add", { name: "a/b", role: "viewer", password: "long-enough-1" })).payload.error!, /not a user name/);
    assert.equal(listUsers(dataDir).some((u) => u.name === "sam"), false);
    assert.equal(new Audit(dataDir).read().filter((r) => r.event === "user.add.refused").length, 4);
  });

  it("changes a role: the person's open browser has the new role at once", async () => {
    const a = await ask("set-role", { name: "pat-operator", role: "viewer" });
    assert.equal(a.payload.message, "pat-operator is now a viewer");
    assert.deepEqual(services.dashboardSockets.personOf(BROWSERS.operator.socketid), { name: "pat-operator", role: "viewer" });
    assert.match((await ask("set-role", { name: "pat-admin", role: "viewer" })).payload.error!, /your own admin role/);
  });

  it("sets a password and removes a user, each ending every session of theirs", async () => {
    const set = await ask("set-password", { name: "pat-operator", password: "new-password-1" });
    assert.match(set.payload.message!, /password of pat-operator set; 1 session\(s\) ended/);
    assert.equal(services.dashboardSockets.personOf(BROWSERS.operator.socketid), null, "signed out");
    const removed = await ask("remove", { name: "pat-viewer" });
    assert.match(removed.payload.message!, /removed pat-viewer; 1 session\(s\) ended/);
    assert.equal(services.dashboardSockets.personOf(BROWSERS.viewer.socketid), null);
    assert.equal(listUsers(dataDir).some((u) => u.name === "pat-viewer"), false);
    assert.match((await ask("remove", { name: "pat-admin" })).payload.error!, /cannot remove yourself/);
    assert.match((await ask("set-password", { name: "nobody", password: "new-password-1" })).payload.error!, /no user nobody/);
  });

  it("refuses a viewer, an operator and a browser without a session: answered without a list, audited, nothing changed", async () => {
    for (const socketid of [BROWSERS.viewer.socketid, BROWSERS.operator.socketid, "sock-nobody"]) {
      const a = await ask("add", { name: "eve", role: "admin", password: "eve-password-1" }, socketid);
      assert.equal(a.payload.admin, false);
      assert.deepEqual(a.payload.users, [], "no list for a non-admin");
      assert.match(a.payload.error!, /admins only|sign in first|refused\./);
    }
    assert.equal(listUsers(dataDir).some((u) => u.name === "eve"), false);
    const refused = new Audit(dataDir).read().filter((r) => r.event === "dashboard.action.refused");
    assert.deepEqual(refused.map((r) => r.who), ["pat-viewer@192.0.2.10", "pat-operator@192.0.2.20", "unknown"]);
  });

  it("shows the Users tab to an admin's browser and hides it from everyone else's, when they connect", async () => {
    for (const [role, want] of [["admin", { show: ["Users"] }], ["operator", { hide: ["Users"] }], ["viewer", { hide: ["Users"] }]] as const) {
      const tabs = next<{ socketid: string; payload: unknown }>("tabs");
      helper.getNode("users")!.receive({ payload: "connect", socketid: BROWSERS[role].socketid } as never);
      const t = await tabs;
      assert.deepEqual([t.socketid, t.payload], [BROWSERS[role].socketid, { tabs: want }], role);
    }
  });
});
