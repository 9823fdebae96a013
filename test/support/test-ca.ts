// A CA of the tests' own with @peculiar/x509 (ECDSA P-256, as the fog's): issues device certificates with a role
// (the subject's OU), and signs revocation lists, so signing tests need no data dir.
import crypto from "node:crypto";
import "../../nodes/lib/identity/reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(crypto.webcrypto as Crypto);

const EC = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 24 * 3600 * 1000;
/** Wide enough for every fake clock of the tests (they start in 2026). */
const FROM = new Date(Date.UTC(2020, 0, 1));
const UNTIL = new Date(Date.UTC(2045, 0, 1));

export interface TestIdentity {
  cn: string;
  cert: string;
  key: string;
  serial: string;
}

async function keyPair(): Promise<CryptoKeyPair> {
  return (await crypto.webcrypto.subtle.generateKey(EC, true, ["sign", "verify"])) as CryptoKeyPair;
}

async function pkcs8Pem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await crypto.webcrypto.subtle.exportKey("pkcs8", key));
  return crypto.createPrivateKey({ key: der, format: "der", type: "pkcs8" }).export({ format: "pem", type: "pkcs8" }).toString();
}

export class TestCa {
  private crlNumber = 0;

  private constructor(
    readonly cert: x509.X509Certificate,
    private readonly keys: CryptoKeyPair,
    readonly name: string,
  ) {}

  static async create(name = "PiFog test CA", notBefore = FROM, notAfter = new Date(UNTIL.getTime() + DAY)): Promise<TestCa> {
    const keys = await keyPair();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      name: `CN=${name}`,
      keys,
      notBefore,
      notAfter,
      signingAlgorithm: EC,
      extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
    });
    return new TestCa(cert, keys, name);
  }

  get certPem(): string {
    return this.cert.toString("pem");
  }

  /** A device certificate: CN = id, OU = role. */
  async issue(cn: string, role: string, validity: { notBefore?: Date; notAfter?: Date } = {}): Promise<TestIdentity> {
    const keys = await keyPair();
    const serial = crypto.randomBytes(12).toString("hex").replace(/^[89a-f]/, "1");
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject: `CN=${cn}, OU=${role}`,
      issuer: this.cert.subject,
      notBefore: validity.notBefore ?? FROM,
      notAfter: validity.notAfter ?? UNTIL,
      signingAlgorithm: EC,
      publicKey: keys.publicKey,
      signingKey: this.keys.privateKey,
      extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
    });
    return { cn, cert: cert.toString("pem"), key: await pkcs8Pem(keys.privateKey), serial: cert.serialNumber.toLowerCase() };
  }

  /** A revocation list of these serials, numbered one higher than the last. */
  async crl(serials: string[], thisUpdate = new Date()): Promise<string> {
    this.crlNumber++;
    const crl = await x509.X509CrlGenerator.create({
      issuer: this.cert.subject,
      thisUpdate,
      nextUpdate: new Date(thisUpdate.getTime() + 30 * DAY),
      signingAlgorithm: EC,
      signingKey: this.keys.privateKey,
      entries: serials.map((serialNumber) => ({ serialNumber, revocationDate: thisUpdate })),
    });
    return crl.toString("pem");
  }
}
