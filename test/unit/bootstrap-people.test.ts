// The first people of an install: nobody is ever left unable to sign in, an upgraded install keeps its passwords,
// the environment's passwords win, and what an admin changed on purpose stays.
import assert from "node:assert/strict";
import bcrypt from "bcryptjs";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { addDevice, addUser, initCa, listUsers } from "../../nodes/lib/identity/admin";
import { bootstrapPeople } from "../../nodes/lib/identity/bootstrap";
import { filePeople } from "../../nodes/lib/security/people";

describe("the first users of an install", function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-bootstrap-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const users = () => listUsers(dir).map((u) => `${u.name}:${u.role}`).sort();
  const signsIn = async (name: string, password: string) => (await filePeople(dir).checkPassword(name, password))?.role ?? null;

  it("gives a fresh install an admin and an operator with generated passwords, shown once, only their hashes kept", async () => {
    const first = await bootstrapPeople(dir);
    assert.deepEqual(users(), ["admin:admin", "operator:operator"]);
    const shown = first.lines.map((l) => /user "(\w+)", password "([^"]+)"/.exec(l)).filter((m) => m !== null);
    assert.deepEqual(shown.map((m) => m![1]), ["admin", "operator"]);
    assert.equal(await signsIn("admin", shown[0]![2]!), "admin");
    assert.equal(await signsIn("operator", shown[1]![2]!), "operator");
    const stored = fs.readFileSync(path.join(dir, "identity", "identities.json"), "utf8");
    assert.ok(!stored.includes(shown[0]![2]!), "only the hash is kept");
    assert.deepEqual((await bootstrapPeople(dir)).lines, [], "shown once: nothing on the next start");
  });

  it("keeps an upgraded install's editor and operator passwords (admin.json, operator.json)", async () => {
    fs.writeFileSync(path.join(dir, "admin.json"), JSON.stringify({ username: "admin", hash: bcrypt.hashSync("old admin password", 10) }));
    fs.writeFileSync(path.join(dir, "operator.json"), JSON.stringify({ username: "operator", hash: bcrypt.hashSync("old operator password", 10) }));
    const report = await bootstrapPeople(dir);
    assert.ok(report.lines.every((l) => !/password "/.test(l)), "nothing generated");
    assert.equal(await signsIn("admin", "old admin password"), "admin");
    assert.equal(await signsIn("operator", "old operator password"), "operator");
  });

  it("sets the passwords PIFOG_ADMIN_PASSWORD and PIFOG_OPERATOR_PASSWORD name, and changes them when they change", async () => {
    await addUser(dir, "pat-admin", "admin", "pat-admin-password");
    await bootstrapPeople(dir, { adminPassword: "first-choice", operatorPassword: "operator-choice" });
    assert.equal(await signsIn("admin", "first-choice"), "admin");
    assert.equal(await signsIn("operator", "operator-choice"), "operator");
    await bootstrapPeople(dir, { adminPassword: "second-choice" });
    assert.equal(await signsIn("admin", "second-choice"), "admin");
    assert.equal(await signsIn("admin", "first-choice"), null);
    assert.equal(await signsIn("operator", "operator-choice"), "operator", "no variable: the operator stays");
  });

  it("makes no admin when the store has one already, and leaves a role an admin changed", async () => {
    await addUser(dir, "kim", "admin", "kim-password");
    await addUser(dir, "operator", "viewer", "viewer-password");
    const report = await bootstrapPeople(dir);
    assert.deepEqual(users(), ["kim:admin", "operator:viewer"]);
    assert.deepEqual(report.lines, []);
    await bootstrapPeople(dir, { operatorPassword: "a-new-password" });
    assert.deepEqual(users(), ["kim:admin", "operator:viewer"], "the password changes, the role stays");
    assert.equal(await signsIn("operator", "a-new-password"), "viewer");
  });

  it("leaves a device called admin alone, and says so", async () => {
    await initCa(dir, { now: new Date() });
    await addDevice(dir, "admin", "doorpi", { hubUrl: "mqtts://hub.local:8883", now: new Date() });
    const report = await bootstrapPeople(dir, { adminPassword: "chosen-one" });
    assert.ok(report.lines.some((l) => /"admin" is a device's id/.test(l)), report.lines.join("\n"));
    assert.ok(!users().includes("admin:admin"));
  });
});
