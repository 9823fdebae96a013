import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { credentialSecret } from "../../nodes/lib/runtime/secrets";

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
});
