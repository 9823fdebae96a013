// The revocations a Pi holds (trust.ts, bundleTrust): from the hub's retained revocation list, each list checked
// against the CA (signature and issuer) and taken only when it is newer than the one held, or as new and revoking
// more (two revocations within a second share a thisUpdate). An older list (a replay of an earlier retained message)
// never replaces a newer one. The ASN.1 library that reads a list is loaded with the first list, not before.
import crypto from "node:crypto";
import type { X509Lib } from "./x509-lib";
import type { CrlOutcome } from "./trust";

function loadX509(): X509Lib {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require("./x509-lib") as typeof import("./x509-lib")).x509;
}

export function normaliseSerial(hex: string): string {
  return hex.replace(/[^0-9a-fA-F]/g, "").toLowerCase();
}

export class RevocationList {
  private serials = new Set<string>();
  private updated: Date | null = null;

  constructor(private readonly caCert: string) {
    // a CA that does not parse is said now, not with the first list
    new crypto.X509Certificate(caCert);
  }

  get thisUpdate(): Date | null {
    return this.updated;
  }

  isRevoked(serial: string): boolean {
    return this.serials.has(normaliseSerial(serial));
  }

  async accept(pem: string): Promise<CrlOutcome> {
    const x509 = loadX509();
    let crl: InstanceType<X509Lib["X509Crl"]>;
    try {
      crl = new x509.X509Crl(pem);
    } catch (err) {
      return { taken: false, why: "invalid", detail: `not a revocation list: ${(err as Error).message}` };
    }
    let signed = false;
    try {
      const ca = new x509.X509Certificate(this.caCert);
      signed = crl.issuer === ca.subject && (await crl.verify({ publicKey: ca.publicKey }));
    } catch {
      signed = false;
    }
    if (!signed) return { taken: false, why: "invalid", detail: "the revocation list is not signed by this fog's CA" };
    const serials = new Set(crl.entries.map((e) => normaliseSerial(e.serialNumber)));
    const held = this.updated?.getTime() ?? -Infinity;
    const at = crl.thisUpdate.getTime();
    if (at < held) return { taken: false, why: "older", detail: `issued ${crl.thisUpdate.toISOString()}, older than the one held (${this.updated!.toISOString()})` };
    if (at === held && ![...serials].some((s) => !this.serials.has(s))) {
      return { taken: false, why: "same", detail: "revokes nothing the one held does not" };
    }
    if (at === held) for (const s of this.serials) serials.add(s);
    this.serials = serials;
    this.updated = crl.thisUpdate;
    return { taken: true, serials: serials.size, thisUpdate: crl.thisUpdate.toISOString() };
  }
}
