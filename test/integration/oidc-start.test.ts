// A runtime whose OpenID Connect settings are wrong does not start: it says what is wrong, and never prints the
// client secret.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startRuntime } from "../support/runtime";

describe("a runtime with bad OpenID Connect settings", function () {
  this.timeout(30_000);

  it("refuses to start, saying which setting is wrong and without printing the secret", async function () {
    const secret = "never-print-this-secret-4242";
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-oidc-start-"));
    const env = {
      PIFOG_OIDC_ISSUER: "https://accounts.example.com",
      PIFOG_OIDC_CLIENT_ID: "pifog",
      PIFOG_OIDC_CLIENT_SECRET: secret,
      PIFOG_OIDC_ALLOW: "alice@example.com=owner",
    };
    try {
      await assert.rejects(startRuntime({ dataDir, env }), (err: Error) => {
        assert.match(err.message, /PiFog exited with 1/);
        assert.match(err.message, /PiFog: PIFOG_OIDC_ALLOW: "alice@example.com=owner" must end in =viewer, =operator, =admin/);
        assert.ok(!err.message.includes(secret), "the secret is never printed");
        return true;
      });
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
