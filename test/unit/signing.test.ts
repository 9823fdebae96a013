// Signed payloads: the format, and every refusal (unsigned, tampered, replayed, stale, revoked, untrusted,
// not-allowed) on the injected clock, the ±60 s window to the millisecond, and the nonce cache's bound.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import {
  canonicalJson,
  NonceCache,
  signPayload,
  Verifier,
  type SignerInfo,
  type VerifyResult,
} from "../../nodes/lib/identity/signing";
import { createCa, issueDevice, type IssuedCertificate } from "../../nodes/lib/identity/ca";
import type { PemPair } from "../../nodes/lib/identity/types";
import { FakeClock } from "../support/fake-clock";

const T0 = Date.UTC(2026, 11, 6, 12, 0, 0);
const COMMAND = { command: "open-door", id: "d-1", by: "dashboard:operator" };

function refused(r: VerifyResult): { reason: string; detail: string } {
  assert.equal(r.ok, false, "refused");
  return r as { ok: false; reason: string; detail: string };
}

describe("signed payloads", function () {
  this.timeout(20_000);
  let ca: PemPair;
  let hub: IssuedCertificate;
  let viewer: IssuedCertificate;
  const at = (ms: number) => new Date(ms);
  let clock: FakeClock;
  let revoked: Set<string>;
  const verifier = (options: { allowed?: (s: SignerInfo) => true | string; caCert?: string; nonces?: NonceCache } = {}) =>
    new Verifier({ caCert: options.caCert ?? ca.cert, isRevoked: (s) => revoked.has(s), clock, ...options });

  before(async () => {
    ca = await createCa({ now: at(T0) });
    hub = await issueDevice(ca, { id: "hub", role: "hub", now: at(T0) });
    viewer = await issueDevice(ca, { id: "kiosk", role: "viewer", now: at(T0) });
  });
  beforeEach(() => {
    clock = new FakeClock(T0);
    revoked = new Set();
  });

  it("adds a signature: ES256 by the CN, its certificate, the time, a 16-byte nonce, the signature", () => {
    const signed = signPayload(COMMAND, hub, T0);
    assert.deepEqual(Object.keys(signed).sort(), ["by", "command", "id", "signature"]);
    const s = signed.signature;
    assert.equal(s.alg, "ES256");
    assert.equal(s.by, "hub");
    assert.equal(s.ts, new Date(T0).toISOString());
    assert.match(s.nonce, /^[0-9a-f]{32}$/);
    assert.equal(Buffer.from(s.sig, "base64").length, 64, "r‖s of P-256");
    assert.equal(new crypto.X509Certificate(Buffer.from(s.cert, "base64")).subject.includes("CN=hub"), true);
    assert.notEqual(signPayload(COMMAND, hub, T0).signature.nonce, s.nonce, "a new nonce every time");
    assert.deepEqual(COMMAND, { command: "open-door", id: "d-1", by: "dashboard:operator" }, "the payload itself is not changed");
  });

  it("encodes canonically: keys sorted at every depth, so the order a sender wrote them in does not matter", () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: 0, y: "x" }], c: null } }), '{"a":{"c":null,"d":[1,{"y":"x","z":0}]},"b":1}');
    const signed = signPayload({ id: "d-1", command: "open-door", by: "dashboard:operator" }, hub, T0);
    const reordered = JSON.parse(JSON.stringify({ signature: signed.signature, by: signed.by, command: signed.command, id: signed.id })) as unknown;
    assert.deepEqual(verifier().verify(reordered), { ok: true, signer: { cn: "hub", serial: hub.serial, role: "hub" } });
  });

  it("takes a payload whose `from` the broker overwrote (the stamp is not signed)", () => {
    const signed = { ...signPayload({ ...COMMAND, from: "mqtt:anyone" }, hub, T0), from: "mqtt:pifog-hub" };
    assert.equal(verifier().verify(signed).ok, true);
  });

  it("refuses an unsigned payload, and a payload that is not an object", () => {
    assert.equal(refused(verifier().verify(COMMAND)).reason, "unsigned");
    assert.equal(refused(verifier().verify("open-door")).reason, "unsigned");
    assert.equal(refused(verifier().verify(null)).reason, "unsigned");
  });

  it("refuses a tampered payload: a changed field, an added field, a changed time or nonce, a bad signature", () => {
    const signed = signPayload(COMMAND, hub, T0);
    const v = verifier();
    for (const bad of [
      { ...signed, id: "d-2" },
      { ...signed, seconds: 30 },
      { ...signed, signature: { ...signed.signature, ts: new Date(T0 + 1000).toISOString() } },
      { ...signed, signature: { ...signed.signature, nonce: "00".repeat(16) } },
      { ...signed, signature: { ...signed.signature, sig: Buffer.alloc(64, 1).toString("base64") } },
      { ...signed, signature: { ...signed.signature, sig: "not base64 at all" } },
      { ...signed, signature: { ...signed.signature, alg: "none" } },
      { ...signed, signature: "yes" },
      { ...signed, signature: { ...signed.signature, cert: "AAAA" } },
    ]) {
      assert.equal(refused(v.verify(bad)).reason, "tampered", JSON.stringify(bad).slice(0, 200));
    }
    assert.equal(v.verify(signed).ok, true, "the original still passes: a refused attempt does not use up its nonce");
  });

  it("refuses a payload signed for one topic on another (a command for one door replayed on the next)", () => {
    const signed = signPayload(COMMAND, hub, T0, { topic: "pifog/door-a/command" });
    assert.equal(signed.signature.topic, "pifog/door-a/command");
    const r = refused(verifier().verify(signed, { topic: "pifog/door-b/command" }));
    assert.equal(r.reason, "tampered");
    assert.match(r.detail, /signed for pifog\/door-a\/command, arrived on pifog\/door-b\/command/);
    assert.equal(refused(verifier().verify(signPayload(COMMAND, hub, T0), { topic: "pifog/door-a/command" })).reason, "tampered", "no topic signed");
    assert.equal(verifier().verify(signed, { topic: "pifog/door-a/command" }).ok, true);
  });

  it("refuses a replay: the same nonce twice in the window", () => {
    const signed = signPayload(COMMAND, hub, T0);
    const v = verifier();
    assert.equal(v.verify(signed).ok, true);
    clock.tick(30_000);
    const r = refused(v.verify(JSON.parse(JSON.stringify(signed))));
    assert.equal(r.reason, "replayed");
    assert.match(r.detail, new RegExp(signed.signature.nonce));
  });

  it("shares what it has seen between verifiers of one cache (a redeployed node still knows)", () => {
    const nonces = new NonceCache();
    const signed = signPayload(COMMAND, hub, T0);
    assert.equal(verifier({ nonces }).verify(signed).ok, true);
    assert.equal(refused(verifier({ nonces }).verify(signed)).reason, "replayed");
  });

  it("takes ±60 s to the millisecond and refuses beyond as stale, both ways", () => {
    const at = (offset: number) => signPayload({ ...COMMAND, id: `o${offset}` }, hub, T0 + offset);
    const v = verifier();
    for (const offset of [-60_000, 60_000, 0]) assert.equal(v.verify(at(offset)).ok, true, `${offset} ms`);
    for (const offset of [-60_001, 60_001, -3_600_000]) {
      const r = refused(v.verify(at(offset)));
      assert.equal(r.reason, "stale", `${offset} ms`);
      assert.match(r.detail, /at most ±60 s/);
    }
    // the clock moves on: a signature taken once becomes stale, not replayed (the cache may have forgotten it)
    const signed = at(1);
    clock.tick(60_002);
    assert.equal(refused(v.verify(signed)).reason, "stale");
  });

  it("refuses a revoked signer, asking at every verification (a revocation counts at once)", () => {
    const v = verifier();
    assert.equal(v.verify(signPayload(COMMAND, hub, T0)).ok, true);
    revoked.add(hub.serial);
    const r = refused(v.verify(signPayload(COMMAND, hub, T0)));
    assert.equal(r.reason, "revoked");
    assert.match(r.detail, new RegExp(hub.serial));
  });

  it("refuses a signer of another CA, and one whose certificate is expired or not valid yet", async () => {
    const other = await createCa({ commonName: "Mallory's CA", now: at(T0) });
    const stranger = await issueDevice(other, { id: "hub", role: "hub", now: at(T0) });
    assert.equal(refused(verifier().verify(signPayload(COMMAND, stranger, T0))).reason, "untrusted");
    // a certificate with our CA's name but another key: issued by name, not by key
    const lookalike = await createCa({ now: at(T0) });
    assert.equal(refused(verifier().verify(signPayload(COMMAND, await issueDevice(lookalike, { id: "hub", role: "hub", now: at(T0) }), T0))).reason, "untrusted");

    const expired = await issueDevice(ca, { id: "old", role: "hub", now: at(T0 - 10 * 86_400_000), days: 1 });
    const r = refused(verifier().verify(signPayload(COMMAND, expired, T0)));
    assert.equal(r.reason, "untrusted");
    assert.match(r.detail, /not valid now/);
    const early = await issueDevice(ca, { id: "new", role: "hub", now: at(T0 + 86_400_000) });
    assert.equal(refused(verifier().verify(signPayload(COMMAND, early, T0))).reason, "untrusted");
  });

  it("asks whether the signer may: a viewer's signature is refused as not-allowed, with the reason it gives", () => {
    const onlyHubs = (s: SignerInfo) => s.role === "hub" || `role ${s.role} may not open the door`;
    const r = refused(verifier({ allowed: onlyHubs }).verify(signPayload(COMMAND, viewer, T0)));
    assert.equal(r.reason, "not-allowed");
    assert.equal(r.detail, "role viewer may not open the door");
    assert.equal(verifier({ allowed: onlyHubs }).verify(signPayload(COMMAND, hub, T0)).ok, true);
  });

  it("will not sign a payload that is not an object, or with a key that is not P-256", () => {
    assert.throws(() => signPayload([1, 2] as unknown as object, hub, T0), /object/);
    const rsa = crypto.generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    assert.throws(() => signPayload(COMMAND, { cert: hub.cert, key: rsa }, T0), /P-256/);
  });

  describe("the nonce cache", () => {
    it("forgets nonces once their signatures are out of the window", () => {
      const cache = new NonceCache(60_000, 100);
      for (let i = 0; i < 100; i++) cache.add(`n${i}`, T0 + i, T0 + i);
      assert.equal(cache.size, 100);
      cache.add("late", T0 + 61_000, T0 + 61_000);
      // every earlier nonce was signed more than 60 s before: all forgotten, none pushed out
      assert.equal(cache.size, 1);
      assert.equal(cache.floor, -Infinity);
    });

    it("stays bounded under a flood of fresh signatures, and raises its floor so a forgotten nonce is never taken", () => {
      const nonces = new NonceCache(60_000, 50);
      const v = verifier({ nonces });
      const first = signPayload({ ...COMMAND, id: "first" }, hub, T0 - 1000);
      assert.equal(v.verify(first).ok, true);
      for (let i = 0; i < 200; i++) assert.equal(v.verify(signPayload({ ...COMMAND, id: `f${i}` }, hub, T0 + i)).ok, true);
      assert.equal(nonces.size, 50, "bounded");
      assert.equal(nonces.has(first.signature.nonce), false, "the earliest was forgotten");
      const r = refused(v.verify(first));
      assert.equal(r.reason, "stale", "yet its replay is refused");
      assert.match(r.detail, /earliest signature this verifier still remembers/);
    });
  });
});
