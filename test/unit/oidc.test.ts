// OpenID Connect sign-in's pieces that need no provider: the settings, who gets which role, the sign-ins under way,
// where a person may be sent afterwards and the redirect URL.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import util from "node:util";
import { ConfigError, readConfig } from "../../nodes/lib/runtime/config";
import { redirectUriFor, safeNext } from "../../nodes/lib/security/oidc";
import { parseOidcConfig, type OidcConfig } from "../../nodes/lib/security/oidc-config";
import { claimAt, decideRole, roleFromClaim } from "../../nodes/lib/security/oidc-role";
import { OidcStates } from "../../nodes/lib/security/oidc-states";
import { FakeClock } from "../support/fake-clock";

const BASE = {
  PIFOG_OIDC_ISSUER: "https://accounts.example.com",
  PIFOG_OIDC_CLIENT_ID: "pifog",
  PIFOG_OIDC_CLIENT_SECRET: "s3cret-value-never-shown",
  PIFOG_OIDC_ROLE_CLAIM: "pifog_role",
};

function refused(env: NodeJS.ProcessEnv, message: RegExp, dataDir = "/nonexistent"): void {
  assert.throws(
    () => readConfig({ PIFOG_DATA_DIR: dataDir, ...env }, "/srv"),
    (err: unknown) => err instanceof ConfigError && message.test(err.message),
    `${JSON.stringify(env)} should be refused with ${message}`,
  );
}

describe("OpenID Connect settings", () => {
  it("are off when PIFOG_OIDC_ISSUER is unset, whatever else is set", () => {
    assert.equal(readConfig({ PIFOG_OIDC_CLIENT_ID: "x" }, "/srv").oidc, undefined);
  });

  it("read the issuer, client, public URL, role claim and allow list", () => {
    const c = parseOidcConfig(
      { ...BASE, PIFOG_PUBLIC_URL: "https://fog.example/pifog/", PIFOG_OIDC_ALLOW: " Alice@Example.com=admin , bob@example.com=viewer " },
      "/d",
    )!;
    assert.equal(c.issuer.href, "https://accounts.example.com/");
    assert.equal(c.clientId, "pifog");
    assert.equal(c.clientSecret(), BASE.PIFOG_OIDC_CLIENT_SECRET);
    assert.equal(c.publicUrl?.href, "https://fog.example/pifog/");
    assert.equal(c.roleClaim, "pifog_role");
    assert.deepEqual([...c.allow], [["alice@example.com", "admin"], ["bob@example.com", "viewer"]]);
    assert.equal(c.trustUnverifiedEmail, false);
  });

  it("never show the client secret when the configuration is printed or serialised", () => {
    const c = readConfig({ ...BASE, PIFOG_DATA_DIR: "/d" }, "/srv");
    assert.ok(!JSON.stringify(c).includes("s3cret"));
    assert.ok(!util.inspect(c, { depth: 10 }).includes("s3cret"));
  });

  it("take the client secret from <data dir>/oidc-client-secret and make the file private", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-oidc-"));
    try {
      const file = path.join(dir, "oidc-client-secret");
      fs.writeFileSync(file, "from-the-file\n", { mode: 0o644 });
      fs.chmodSync(file, 0o644);
      const c = parseOidcConfig({ ...BASE, PIFOG_OIDC_CLIENT_SECRET: "" }, dir)!;
      assert.equal(c.clientSecret(), "from-the-file");
      assert.equal(c.clientSecretFrom, file);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuse a bad configuration at start, saying what is wrong", () => {
    refused({ ...BASE, PIFOG_OIDC_ISSUER: "accounts.example.com" }, /PIFOG_OIDC_ISSUER must be/);
    refused({ ...BASE, PIFOG_OIDC_ISSUER: "http://accounts.example.com" }, /https:\/\/ URL \(http:\/\/ only for a provider on this machine/);
    refused({ ...BASE, PIFOG_OIDC_ISSUER: "https://a.example.com/?x=1" }, /no query/);
    refused({ ...BASE, PIFOG_OIDC_CLIENT_ID: "" }, /PIFOG_OIDC_CLIENT_ID must be too/);
    refused({ ...BASE, PIFOG_OIDC_CLIENT_SECRET: "" }, /set PIFOG_OIDC_CLIENT_SECRET or write it to \/nonexistent\/oidc-client-secret/);
    refused({ ...BASE, PIFOG_OIDC_ROLE_CLAIM: "" }, /nobody could sign in/);
    refused({ ...BASE, PIFOG_OIDC_ROLE_CLAIM: "a..b" }, /PIFOG_OIDC_ROLE_CLAIM must be/);
    refused({ ...BASE, PIFOG_OIDC_ALLOW: "alice@example.com=root" }, /PIFOG_OIDC_ALLOW: "alice@example.com=root" must end in =viewer, =operator, =admin/);
    refused({ ...BASE, PIFOG_OIDC_ALLOW: "alice=admin" }, /not e-mail=role/);
    refused({ ...BASE, PIFOG_OIDC_ALLOW: "a@x.org=admin,A@x.org=viewer" }, /names a@x.org twice/);
    refused({ ...BASE, PIFOG_PUBLIC_URL: "ftp://fog" }, /PIFOG_PUBLIC_URL must start with http/);
    refused({ ...BASE, PIFOG_OIDC_TRUST_UNVERIFIED_EMAIL: "maybe" }, /must be true or false/);
  });

  it("accept a provider on this machine over plain http (a test or a provider beside PiFog)", () => {
    assert.equal(parseOidcConfig({ ...BASE, PIFOG_OIDC_ISSUER: "http://127.0.0.1:9000" }, "/d")!.issuer.port, "9000");
    assert.equal(parseOidcConfig({ ...BASE, PIFOG_OIDC_ISSUER: "http://localhost:9000/realms/fog" }, "/d")!.issuer.pathname, "/realms/fog");
  });
});

describe("OpenID Connect role decision", () => {
  const config = (o: Partial<OidcConfig> = {}) => ({
    roleClaim: "pifog_role" as string | undefined,
    allow: new Map([["carol@example.com", "viewer" as const]]),
    trustUnverifiedEmail: false,
    ...o,
  });

  it("takes the role a claim names, or the highest of a list, ignoring other groups", () => {
    assert.equal(roleFromClaim("operator"), "operator");
    assert.equal(roleFromClaim(" Admin "), "admin");
    assert.equal(roleFromClaim(["staff", "viewer", "operator"]), "operator");
    assert.equal(roleFromClaim(["staff"]), null);
    assert.equal(roleFromClaim("superuser"), null);
    assert.equal(roleFromClaim(42), null);
  });

  it("finds a nested claim by a dotted path, and a claim whose name has dots first", () => {
    assert.deepEqual(claimAt({ realm_access: { roles: ["admin"] } }, "realm_access.roles"), ["admin"]);
    assert.equal(claimAt({ "https://pifog.example/role": "viewer" }, "https://pifog.example/role"), "viewer");
    assert.equal(claimAt({ a: "x" }, "a.b"), undefined);
    assert.equal(claimAt({}, "constructor"), undefined);
  });

  it("names the person by their verified e-mail, in lower case", () => {
    const d = decideRole({ sub: "1", email: "Alice@Example.com", email_verified: true, pifog_role: "operator" }, config());
    assert.deepEqual(d, { allowed: true, name: "alice@example.com", role: "operator", because: "claim pifog_role" });
  });

  it("gives the allow list's role to a verified e-mail on it, over the provider's claim", () => {
    const d = decideRole({ sub: "3", email: "carol@example.com", email_verified: true, pifog_role: "admin" }, config());
    assert.ok(d.allowed && d.role === "viewer");
  });

  it("refuses an unverified e-mail on the allow list, unless told to trust unverified e-mails", () => {
    const claims = { sub: "3", email: "carol@example.com", email_verified: false };
    const d = decideRole(claims, config());
    assert.ok(!d.allowed && /carol@example.com is on the allow list but the provider has not verified it/.test(d.reason));
    assert.ok(decideRole(claims, config({ trustUnverifiedEmail: true })).allowed);
  });

  it("never names someone by an e-mail the provider has not verified (so it cannot pass for a local user)", () => {
    const d = decideRole({ sub: "abc", email: "admin@example.com", email_verified: false, pifog_role: "viewer" }, config());
    assert.deepEqual(d.allowed && [d.name, d.role], ["oidc:abc", "viewer"]);
  });

  it("refuses someone neither the claim nor the list lets in, saying why", () => {
    const d = decideRole({ sub: "9", email: "mallory@example.com", email_verified: true, pifog_role: "root" }, config());
    assert.deepEqual(d, {
      allowed: false,
      who: "mallory@example.com",
      reason: "mallory@example.com is not on the allow list; claim pifog_role names no PiFog role (viewer, operator or admin)",
    });
    assert.ok(!decideRole({ sub: "9" }, config({ roleClaim: undefined })).allowed);
  });
});

describe("OpenID Connect sign-ins under way", () => {
  const pending = { codeVerifier: "v", nonce: "n", redirectUri: "http://x/signin/oidc/callback", next: "/ui/", address: "10.0.0.1" };
  const KEY = OidcStates.newBrowserKey();

  it("are good once, in the browser that started them", () => {
    const states = new OidcStates(new FakeClock());
    const state = states.put(pending, KEY);
    assert.equal(states.take(state, OidcStates.newBrowserKey()).ok, false, "another browser");
    assert.equal(states.take(state, undefined).ok, false, "no cookie");
    const first = states.take(state, KEY);
    assert.ok(first.ok && first.pending.nonce === "n");
    const second = states.take(state, KEY);
    assert.ok(!second.ok && second.why === "reused");
  });

  it("expire after ten minutes", () => {
    const clock = new FakeClock();
    const states = new OidcStates(clock);
    const state = states.put(pending, KEY);
    clock.tick(10 * 60_000);
    const taken = states.take(state, KEY);
    assert.ok(!taken.ok && taken.why === "expired");
  });

  it("know no altered or empty state", () => {
    const states = new OidcStates(new FakeClock());
    const state = states.put(pending, KEY);
    for (const s of [`${state}x`, "", state.slice(1)]) {
      const taken = states.take(s, KEY);
      assert.ok(!taken.ok && taken.why === "unknown");
    }
  });

  it("are bounded per address, so one address cannot push out everybody else's", () => {
    const states = new OidcStates(new FakeClock());
    const others = states.put({ ...pending, address: "10.0.0.2" }, KEY);
    for (let i = 0; i < 100; i++) states.put(pending, KEY);
    assert.equal(states.size, 21);
    assert.ok(states.take(others, KEY).ok);
  });
});

describe("where a signed-in person is sent, and the redirect URL", () => {
  it("keeps a path of this PiFog and drops anything that leaves it", () => {
    assert.equal(safeNext("/ui/#!/2?x=1"), "/ui/#!/2?x=1");
    assert.equal(safeNext("/admin/"), "/admin/");
    for (const bad of ["//evil.example/", "/\\evil.example", "https://evil.example/", "javascript:alert(1)", "/ui/\r\nx", "", undefined, ["/ui/"]]) {
      assert.equal(safeNext(bad), "/ui/", JSON.stringify(bad));
    }
  });

  it("builds the redirect URL on PIFOG_PUBLIC_URL, or on the request", () => {
    assert.equal(redirectUriFor({ publicUrl: new URL("https://fog.example/pifog/") }, { protocol: "http", host: "10.0.0.5:1880" }), "https://fog.example/pifog/signin/oidc/callback");
    assert.equal(redirectUriFor({}, { protocol: "http", host: "hub.local:1880" }), "http://hub.local:1880/signin/oidc/callback");
  });
});
