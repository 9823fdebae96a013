// `pifog user token <name>`: a long-lived bearer token for a scraper (Prometheus), as a person runs it (a child
// process on a data dir): only for a viewer of the identity store, the token alone on stdout, and the runtime's own
// token check (the data dir's secret) takes it with the viewer's name and role until it expires.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { addUser } from "../../nodes/lib/identity/admin";
import { ApiTokens } from "../../nodes/lib/security/api-tokens";

const CLI = path.resolve(__dirname, "../../nodes/lib/identity/cli.js");

function pifog(dataDir: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { env: { ...process.env, PIFOG_DATA_DIR: dataDir } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end();
  });
}

describe("pifog user token", function () {
  this.timeout(30_000);
  let dataDir: string;
  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-token-cli-"));
    await addUser(dataDir, "prometheus", "viewer", "a-long-enough-password");
    await addUser(dataDir, "olga", "operator", "a-long-enough-password");
  });
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("prints a viewer's token that the runtime's check takes, for the days asked", async () => {
    const r = await pifog(dataDir, ["user", "token", "prometheus", "--days", "90"]);
    assert.equal(r.code, 0, r.stderr);
    const token = r.stdout.trim();
    assert.equal(r.stdout.split("\n").filter(Boolean).length, 1, "only the token on stdout");
    assert.match(r.stderr, /viewer prometheus, valid until/);
    const now = Date.now();
    assert.deepEqual(ApiTokens.forDataDir(dataDir, { now: () => now }).verify(token), { name: "prometheus", role: "viewer" });
    assert.deepEqual(ApiTokens.forDataDir(dataDir, { now: () => now + 89 * 86_400_000 }).verify(token), { name: "prometheus", role: "viewer" });
    assert.throws(() => ApiTokens.forDataDir(dataDir, { now: () => now + 91 * 86_400_000 }).verify(token), /expired/);
    assert.equal(fs.statSync(path.join(dataDir, "api-token-secret")).mode & 0o077, 0, "the secret only its owner reads");
  });

  it("refuses anyone but a viewer, an unknown user and a bad --days", async () => {
    const operator = await pifog(dataDir, ["user", "token", "olga"]);
    assert.equal(operator.code, 1);
    assert.match(operator.stderr, /olga is an operator: a long-lived token is only made for a viewer/);
    assert.equal(operator.stdout, "");
    const unknown = await pifog(dataDir, ["user", "token", "nobody"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no user "nobody"/);
    const days = await pifog(dataDir, ["user", "token", "prometheus", "--days", "0"]);
    assert.equal(days.code, 2);
    assert.match(days.stderr, /--days must be a whole number 1\.\.3650/);
  });
});
