import assert from "node:assert/strict";
import bcrypt from "bcryptjs";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { adminAccount, credentialSecret, operatorAccount } from "../../nodes/lib/runtime/secrets";

describe("runtime secrets", () => {
  let root: string;
  let n = 0;
  const freshDir = () => path.join(root, `data-${n++}`);
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-unit-secrets-"));
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  const modeOf = (file: string) => fs.statSync(file).mode & 0o777;

  describe("credentialSecret", () => {
    it("is made once, in a file only the owner can read, and then returned unchanged", () => {
      const dir = freshDir();
      const first = credentialSecret(dir);
      const file = path.join(dir, "credential-secret");
      assert.match(first, /^[0-9a-f]{64}$/, "32 random bytes in hex");
      assert.equal(fs.readFileSync(file, "utf8").trim(), first);
      assert.equal(modeOf(file), 0o600);
      assert.equal(credentialSecret(dir), first);
      assert.equal(credentialSecret(dir), first);
      assert.equal(modeOf(file), 0o600);
    });

    it("differs between data dirs", () => {
      assert.notEqual(credentialSecret(freshDir()), credentialSecret(freshDir()));
    });

    it("keeps a secret the user put there, and tightens its mode", () => {
      const dir = freshDir();
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, "credential-secret");
      fs.writeFileSync(file, "my-own-secret\n", { mode: 0o644 });
      fs.chmodSync(file, 0o644);
      assert.equal(credentialSecret(dir), "my-own-secret");
      assert.equal(modeOf(file), 0o600);
      assert.equal(fs.readFileSync(file, "utf8"), "my-own-secret\n", "content untouched");
    });

    it("replaces an empty secret file (as a power cut can leave one) instead of refusing to start", () => {
      const dir = freshDir();
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, "credential-secret");
      fs.writeFileSync(file, "");
      const secret = credentialSecret(dir);
      assert.match(secret, /^[0-9a-f]{64}$/);
      assert.equal(fs.readFileSync(file, "utf8").trim(), secret);
      assert.equal(modeOf(file), 0o600);
      assert.equal(credentialSecret(dir), secret, "and keeps it from then on");
    });

    it("makes the data dir when it does not exist", () => {
      const dir = path.join(freshDir(), "nested", "deeper");
      credentialSecret(dir);
      assert.ok(fs.existsSync(path.join(dir, "credential-secret")));
    });
  });

  describe("adminAccount", () => {
    it("generates a password the first time only, and its bcrypt hash verifies", () => {
      const dir = freshDir();
      const first = adminAccount(dir);
      assert.equal(first.username, "admin");
      assert.equal(typeof first.generatedPassword, "string");
      assert.ok(first.generatedPassword!.length >= 16, "a strong password");
      assert.match(first.hash, /^\$2[aby]\$10\$/);
      assert.equal(bcrypt.compareSync(first.generatedPassword!, first.hash), true);
      assert.equal(bcrypt.compareSync("admin", first.hash), false);

      const second = adminAccount(dir);
      assert.equal(second.generatedPassword, undefined, "never printed again");
      assert.deepEqual(second, { username: "admin", hash: first.hash });
      assert.equal(bcrypt.compareSync(first.generatedPassword!, second.hash), true);
    });

    it("stores only the hash, owner-readable", () => {
      const dir = freshDir();
      const account = adminAccount(dir);
      const file = path.join(dir, "admin.json");
      const text = fs.readFileSync(file, "utf8");
      assert.deepEqual(JSON.parse(text), { username: "admin", hash: account.hash });
      assert.ok(!text.includes(account.generatedPassword!), "the password itself is not stored");
      assert.equal(modeOf(file), 0o600);
    });

    it("generates a different password in each data dir", () => {
      assert.notEqual(adminAccount(freshDir()).generatedPassword, adminAccount(freshDir()).generatedPassword);
    });

    it("PIFOG_ADMIN_PASSWORD replaces a generated password", () => {
      const dir = freshDir();
      const generated = adminAccount(dir);
      const set = adminAccount(dir, "correct horse battery staple");
      assert.equal(set.username, "admin");
      assert.equal(set.generatedPassword, undefined);
      assert.equal(bcrypt.compareSync("correct horse battery staple", set.hash), true);
      assert.equal(bcrypt.compareSync(generated.generatedPassword!, set.hash), false, "the old password no longer works");

      // the next start without the variable keeps the password that was set
      const later = adminAccount(dir);
      assert.equal(later.generatedPassword, undefined);
      assert.equal(bcrypt.compareSync("correct horse battery staple", later.hash), true);
    });

    it("keeps the stored hash while PIFOG_ADMIN_PASSWORD stays the same, and changes it when it changes", () => {
      const dir = freshDir();
      const a = adminAccount(dir, "first-password");
      const again = adminAccount(dir, "first-password");
      assert.equal(again.hash, a.hash, "not rehashed on every start");
      const b = adminAccount(dir, "second-password");
      assert.notEqual(b.hash, a.hash);
      assert.equal(bcrypt.compareSync("second-password", b.hash), true);
      assert.equal(bcrypt.compareSync("first-password", b.hash), false);
      assert.equal(bcrypt.compareSync("second-password", adminAccount(dir).hash), true);
    });

    it("with PIFOG_ADMIN_PASSWORD on the first start, never generates one", () => {
      const dir = freshDir();
      const account = adminAccount(dir, "given");
      assert.equal(account.generatedPassword, undefined);
      assert.equal(bcrypt.compareSync("given", account.hash), true);
    });

    it("replaces a damaged admin.json with a new generated password", () => {
      const dir = freshDir();
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, "admin.json"), "{not json");
      const account = adminAccount(dir);
      assert.equal(typeof account.generatedPassword, "string");
      assert.equal(bcrypt.compareSync(account.generatedPassword!, account.hash), true);
    });
  });

  describe("operatorAccount (the dashboard's sign-in)", () => {
    it("is its own account: user \"operator\", a generated password shown once, never the editor's", () => {
      const dir = freshDir();
      const admin = adminAccount(dir, "the-editor-password");
      const first = operatorAccount(dir);
      assert.equal(first.username, "operator");
      assert.ok(first.generatedPassword && first.generatedPassword.length >= 16, "a strong password");
      assert.equal(bcrypt.compareSync(first.generatedPassword, first.hash), true, "a bcrypt hash Node-RED's bcrypt reads too");
      assert.equal(bcrypt.compareSync("the-editor-password", first.hash), false, "the editor's password does not sign an operator in");
      assert.notEqual(first.hash, admin.hash);
      const second = operatorAccount(dir);
      assert.deepEqual(second, { username: "operator", hash: first.hash }, "never printed again");
    });

    it("stores only the hash in operator.json, owner-readable, even over a file left readable", () => {
      const dir = freshDir();
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, "operator.json");
      fs.writeFileSync(file, "{}", { mode: 0o644 });
      fs.chmodSync(file, 0o644);
      const account = operatorAccount(dir, "door-keeper-password");
      const text = fs.readFileSync(file, "utf8");
      assert.deepEqual(JSON.parse(text), { username: "operator", hash: account.hash });
      assert.ok(!text.includes("door-keeper-password"));
      assert.equal(modeOf(file), 0o600);
    });

    it("PIFOG_OPERATOR_PASSWORD sets it; the same value keeps the hash, a new one replaces it", () => {
      const dir = freshDir();
      const generated = operatorAccount(dir);
      const a = operatorAccount(dir, "first-operator-password");
      assert.equal(a.generatedPassword, undefined);
      assert.equal(bcrypt.compareSync(generated.generatedPassword!, a.hash), false, "the generated one no longer works");
      assert.equal(operatorAccount(dir, "first-operator-password").hash, a.hash, "not rehashed on every start");
      assert.equal(operatorAccount(dir).hash, a.hash, "kept when the variable is unset later");
      const b = operatorAccount(dir, "second-operator-password");
      assert.equal(bcrypt.compareSync("second-operator-password", b.hash), true);
      assert.equal(bcrypt.compareSync("first-operator-password", b.hash), false);
    });
  });
});
