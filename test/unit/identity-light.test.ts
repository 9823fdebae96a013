// A Pi's runtime stays small: the modules every runtime loads (services, the launcher, the trust, the sign, verify
// and door-opener nodes) read certificates with node:crypto and load the ASN.1 library (@peculiar/x509, ~15 MiB)
// only where certificates are made or a revocation list is read. And the names node:crypto prints are read back
// exactly: a CN with DN special characters, multi-valued RDNs, escaped control characters.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { createCa, issueDevice } from "../../nodes/lib/identity/ca";
import { subjectAttributes } from "../../nodes/lib/identity/cert-subject";
import { signPayload, Verifier } from "../../nodes/lib/identity/signing";

const DIST = path.resolve(__dirname, "../..");
const T0 = Date.UTC(2026, 11, 6, 12, 0, 0);

/** The heavy modules a fresh node process holds after running `script` (with `dist` the build's root). */
function heavyModulesAfter(script: string): string[] {
  const out = execFileSync(
    process.execPath,
    [
      "-e",
      `const dist = ${JSON.stringify(DIST)}; const load = (p) => require(require("path").join(dist, p));
       Promise.resolve((async () => { ${script} })()).then(() => {
         const heavy = Object.keys(require.cache).filter((k) => /[\\\\/](@peculiar|reflect-metadata|tsyringe)[\\\\/]/.test(k));
         process.stdout.write(JSON.stringify(heavy));
       });`,
    ],
    { encoding: "utf8", timeout: 30_000 },
  );
  return JSON.parse(out) as string[];
}

describe("a Pi's runtime without the ASN.1 library", function () {
  this.timeout(30_000);

  it("loads none of it with the settings, the services, the launcher, the trust and every node of the palette", () => {
    const nodes = Object.values((require("../../../package.json") as { "node-red": { nodes: Record<string, string> } })["node-red"].nodes);
    const heavy = heavyModulesAfter(`
      for (const m of ["nodes/lib/services.js", "nodes/lib/runtime/launcher.js", "nodes/lib/identity/runtime-trust.js",
        "nodes/lib/identity/trust.js", "nodes/lib/identity/signing.js", "nodes/lib/identity/pairing.js",
        "nodes/lib/identity/pair-client.js", "nodes/lib/identity/admin.js", "nodes/lib/identity/bootstrap.js",
        ...${JSON.stringify(nodes.map((n) => n.replace(/^dist\//, "")))}]) load(m);
      load("nodes/lib/identity/trust.js").noTrust();`);
    assert.deepEqual(heavy, []);
  });

  it("signs and verifies with a Pi's bundle without it, and loads it only when a revocation list arrives", () => {
    const heavy = heavyModulesAfter(`
      const ca = await load("nodes/lib/identity/ca.js").createCa({ now: new Date(${T0}) });
      const dev = await load("nodes/lib/identity/ca.js").issueDevice(ca, { id: "doorpi", role: "door", now: new Date(${T0}) });
      const crl = await load("nodes/lib/identity/ca.js").createCrl(ca, [], new Date(${T0}));
      // forget what making them loaded, as if they had been made elsewhere (the hub)
      for (const k of Object.keys(require.cache)) delete require.cache[k];
      const { bundleTrust } = load("nodes/lib/identity/trust.js");
      const trust = bundleTrust({ ...dev, ca: ca.cert }, { now: () => ${T0} });
      const signed = load("nodes/lib/identity/signing.js").signPayload({ a: 1 }, trust.signer, ${T0});
      const r = trust.verifier()?.verify(signed);
      if (!r || !r.ok || r.signer.cn !== "doorpi" || r.signer.role !== "door") throw new Error("not verified: " + JSON.stringify(r));
      const before = Object.keys(require.cache).filter((k) => k.includes("@peculiar")).length;
      if (before !== 0) throw new Error(before + " modules of @peculiar before the list");
      const taken = await trust.acceptCrl(crl);
      if (!taken.taken) throw new Error("list not taken: " + taken.detail);`);
    assert.ok(heavy.some((k) => k.includes("@peculiar")), "the library is loaded to read the list");
  });

  it("reads a CN with DN special characters and the OU from a certificate of the CA", async () => {
    const ca = await createCa({ now: new Date(T0) });
    const odd = await issueDevice(ca, { id: 'a,b+c=d;"e"', role: "hub", now: new Date(T0) });
    const signed = signPayload({ a: 1 }, odd, T0);
    assert.equal(signed.signature.by, 'a,b+c=d;"e"');
    const r = new Verifier({ caCert: ca.cert, isRevoked: () => false, clock: { now: () => T0 } }).verify(signed);
    assert.deepEqual(r, { ok: true, signer: { cn: 'a,b+c=d;"e"', serial: r.ok ? r.signer.serial : "", role: "hub" } });
  });

  it("splits multi-valued RDNs and undoes escapes, so no value can pose as another attribute", () => {
    assert.deepEqual(subjectAttributes("CN=a\\,b + OU=x\\0AOU=hub\nOU=door\nO=\\\"z\\\\"), [
      ["CN", "a,b"],
      ["OU", "x\nOU=hub"],
      ["OU", "door"],
      ["O", '"z\\'],
    ]);
    assert.deepEqual(subjectAttributes("CN=x \\+ y"), [["CN", "x + y"]]);
    assert.deepEqual(subjectAttributes(""), []);
  });
});
