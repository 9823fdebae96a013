// The /v1 API's HS256 tokens: made and checked with node:crypto; tampering, expiry and `alg` tricks refused.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DEFAULT_TOKEN_LIFETIME_MS, jwtSecret, parseLifetime, signJwt, signToken, TokenError, verifyToken } from "../../nodes/lib/accounts/jwt";

const SECRET = "a-test-secret";
const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const ACCOUNT = "7c1d2b1e-1f3a-4a5b-9c8d-0123456789ab";
const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
const hmac = (data: string, secret = SECRET) => crypto.createHmac("sha256", secret).update(data).digest("base64url");

describe("JWT (HS256)", () => {
  it("is a standard HS256 JWT with sub, iat and exp (2 h by default)", () => {
    const token = signToken(ACCOUNT, SECRET, NOW);
    const [h, p, s] = token.split(".");
    assert.deepEqual(JSON.parse(Buffer.from(h!, "base64url").toString()), { alg: "HS256", typ: "JWT" });
    const claims = JSON.parse(Buffer.from(p!, "base64url").toString());
    assert.equal(claims.sub, ACCOUNT);
    assert.equal(claims.accountId, ACCOUNT, "detectordag's claim name too");
    assert.equal(claims.iat, NOW / 1000);
    assert.equal(claims.exp, NOW / 1000 + 7200);
    // anyone with the secret can check it the standard way
    assert.equal(s, hmac(`${h}.${p}`));
    assert.equal(DEFAULT_TOKEN_LIFETIME_MS, 7_200_000);
  });

  it("verifies its own token until it expires", () => {
    const token = signToken(ACCOUNT, SECRET, NOW, 60_000);
    assert.equal(verifyToken(token, SECRET, NOW).sub, ACCOUNT);
    assert.equal(verifyToken(token, SECRET, NOW + 59_999).sub, ACCOUNT);
    assert.throws(() => verifyToken(token, SECRET, NOW + 60_000), (e: Error) => e instanceof TokenError && /expired/.test(e.message));
  });

  it("never takes a token made for another API (one that names its audience), even with the same secret", () => {
    const apiToken = signJwt({ sub: "vera", role: "admin", aud: "pifog-api" }, SECRET, NOW, 60_000);
    assert.throws(() => verifyToken(apiToken, SECRET, NOW), (e: Error) => e instanceof TokenError && /not for this API/.test(e.message));
  });

  it("refuses a token signed with another secret", () => {
    assert.throws(() => verifyToken(signToken(ACCOUNT, "other", NOW), SECRET, NOW), /signature/);
  });

  it("refuses changed claims (another account, a later expiry)", () => {
    const [h, p, s] = signToken(ACCOUNT, SECRET, NOW).split(".");
    const claims = JSON.parse(Buffer.from(p!, "base64url").toString());
    const other = part({ ...claims, sub: "00000000-0000-4000-8000-000000000000" });
    assert.throws(() => verifyToken(`${h}.${other}.${s}`, SECRET, NOW), /signature/);
    const later = part({ ...claims, exp: claims.exp + 86_400 });
    assert.throws(() => verifyToken(`${h}.${later}.${s}`, SECRET, NOW), /signature/);
    // a flipped signature character
    const flipped = s!.slice(0, -2) + (s!.at(-2) === "A" ? "B" : "A") + s!.at(-1);
    assert.throws(() => verifyToken(`${h}.${p}.${flipped}`, SECRET, NOW), TokenError);
  });

  it("refuses alg none and other algorithms, whatever the signature", () => {
    const claims = { sub: ACCOUNT, iat: NOW / 1000, exp: NOW / 1000 + 60 };
    const none = `${part({ alg: "none", typ: "JWT" })}.${part(claims)}.`;
    assert.throws(() => verifyToken(none, SECRET, NOW), /algorithm/);
    const hs512Header = part({ alg: "HS512", typ: "JWT" });
    const body = `${hs512Header}.${part(claims)}`;
    assert.throws(() => verifyToken(`${body}.${hmac(body)}`, SECRET, NOW), /algorithm/);
  });

  it("refuses malformed tokens and tokens without subject or expiry", () => {
    for (const bad of ["", "abc", "a.b", "a.b.c.d", "!!.??.**"]) assert.throws(() => verifyToken(bad, SECRET, NOW), TokenError, bad);
    const header = part({ alg: "HS256", typ: "JWT" });
    for (const claims of [{ exp: NOW / 1000 + 60 }, { sub: ACCOUNT }, { sub: "", exp: NOW / 1000 + 60 }, { sub: ACCOUNT, exp: "later" }]) {
      const body = `${header}.${part(claims)}`;
      assert.throws(() => verifyToken(`${body}.${hmac(body)}`, SECRET, NOW), TokenError, JSON.stringify(claims));
    }
    const notJson = `${header}.${Buffer.from("not json").toString("base64url")}`;
    assert.throws(() => verifyToken(`${notJson}.${hmac(notJson)}`, SECRET, NOW), /malformed/);
  });

  it("makes the secret once, mode 0600, and keeps it", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-jwt-"));
    try {
      const secret = jwtSecret(dir);
      assert.match(secret, /^[0-9a-f]{64}$/);
      const file = path.join(dir, "jwt-secret");
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      assert.equal(jwtSecret(dir), secret);
      fs.chmodSync(file, 0o644);
      assert.equal(jwtSecret(dir), secret);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600, "made private again");
      fs.writeFileSync(file, "");
      assert.notEqual(jwtSecret(dir), "", "an empty file (cut short) gets a new secret");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads token lifetimes as Go durations", () => {
    assert.equal(parseLifetime(""), 7_200_000);
    assert.equal(parseLifetime("2h"), 7_200_000);
    assert.equal(parseLifetime("1h30m"), 5_400_000);
    assert.equal(parseLifetime("90s"), 90_000);
    assert.equal(parseLifetime("1s"), 1000);
    for (const bad of ["0s", "500ms", "2 hours", "h", "-1h", "400d"]) assert.throws(() => parseLifetime(bad), Error, bad);
  });
});
