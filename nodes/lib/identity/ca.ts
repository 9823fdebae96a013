// The fog's own certificate authority: ECDSA P-256 keys from node:crypto, certificates and revocation lists built by
// @peculiar/x509 (no hand-written ASN.1). Everything is PEM in and PEM out, so the files in the data dir, node's tls
// and Mosquitto read the same bytes.
import { X509Certificate as NodeX509, createPublicKey, randomBytes, webcrypto } from "node:crypto";
import { isIP } from "node:net";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import type { PemPair } from "./types";
import { IdentityError } from "./errors";

const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

const KEY_ALGORITHM: EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALGORITHM: EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
const DAY_MS = 86_400_000;
/**
 * Certificates start a little before `now`: a Pi whose clock is a few minutes behind the hub's (no RTC, NTP not yet
 * synchronised) still accepts them.
 */
const BACKDATE_MS = 5 * 60_000;

export const DEFAULT_CA_YEARS = 10;
export const DEFAULT_DEVICE_DAYS = 825;
export const DEFAULT_SERVER_DAYS = 825;
/** How long a revocation list is good for; it is re-signed well before (admin.ts) so node's tls never sees it expire. */
export const CRL_DAYS = 365;

export interface IssuedCertificate extends PemPair {
  /** Lower-case hex, no separators. */
  serial: string;
}

export interface RevokedSerial {
  serial: string;
  revokedAt: Date;
}

export interface CertificateInfo {
  cn: string;
  /** The subject's OU: a device certificate's role (null when it states none). */
  role: string | null;
  /** Lower-case hex, no separators. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** The DNS names and IP addresses of the subject alternative name. */
  hosts: string[];
  /** Whether the certificate names `caPem`'s subject as issuer and carries its signature. */
  issuerMatches(caPem: string): boolean;
}

/**
 * A random positive serial of 16 bytes whose first byte is 0x01..0x7f: DER keeps it as is (no sign padding, no
 * stripped zero), so our hex, node's and OpenSSL's agree.
 */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! % 0x7f) + 1;
  return bytes.toString("hex");
}

async function newKeyPair(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

async function importSigningKey(pem: string): Promise<CryptoKey> {
  try {
    const der = x509.PemConverter.decodeFirst(pem);
    return await crypto.subtle.importKey("pkcs8", der, KEY_ALGORITHM, false, ["sign"]);
  } catch (err) {
    throw new IdentityError(`the CA key is not a PKCS#8 ECDSA P-256 key: ${(err as Error).message}`);
  }
}

function parse(pem: string): x509.X509Certificate {
  try {
    return new x509.X509Certificate(pem);
  } catch (err) {
    throw new IdentityError(`not a PEM certificate: ${(err as Error).message}`);
  }
}

/** A distinguished-name value: our names are topic levels, but a CA name is free text. */
function dnValue(value: string): string {
  return value.replace(/([,+"\\<>;=#])/g, "\\$1");
}

/** A self-signed CA certificate and its key (PKCS#8 PEM). */
export async function createCa(options: { commonName?: string; now: Date; years?: number }): Promise<PemPair> {
  const keys = await newKeyPair();
  const notBefore = new Date(options.now.getTime() - BACKDATE_MS);
  const notAfter = new Date(options.now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + (options.years ?? DEFAULT_CA_YEARS));
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${dnValue(options.commonName ?? "PiFog local CA")}`,
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString("pem"), key: await privateKeyPem(keys.privateKey) };
}

async function issue(
  ca: PemPair,
  options: { cn: string; ou?: string; now: Date; days: number; usage: x509.ExtendedKeyUsage; extra?: x509.Extension[]; publicKey?: CryptoKey },
): Promise<IssuedCertificate> {
  const caCert = parse(ca.cert);
  const signingKey = await importSigningKey(ca.key);
  // a key the subject made itself (a pairing Pi): its private half never leaves it, and `key` comes back empty
  const keys: { publicKey: CryptoKey; privateKey?: CryptoKey } = options.publicKey ? { publicKey: options.publicKey } : await newKeyPair();
  const serial = randomSerial();
  const notAfter = new Date(options.now.getTime() + options.days * DAY_MS);
  if (notAfter > caCert.notAfter) throw new IdentityError(`the CA expires (${caCert.notAfter.toISOString()}) before the certificate would`);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: `CN=${dnValue(options.cn)}${options.ou ? `, OU=${dnValue(options.ou)}` : ""}`,
    issuer: caCert.subject,
    notBefore: new Date(options.now.getTime() - BACKDATE_MS),
    notAfter,
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([options.usage], false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
      ...(options.extra ?? []),
    ],
  });
  return { cert: cert.toString("pem"), key: keys.privateKey ? await privateKeyPem(keys.privateKey) : "", serial };
}

/** A Pi's client certificate: CN = its device id, OU = its role (a Pi that verifies a signed command reads the
 * signer's role there: signing.ts), for TLS client authentication and for signing. */
export function issueDevice(ca: PemPair, options: { id: string; role?: string; now: Date; days?: number }): Promise<IssuedCertificate> {
  return issue(ca, { cn: options.id, ou: options.role, now: options.now, days: options.days ?? DEFAULT_DEVICE_DAYS, usage: x509.ExtendedKeyUsage.clientAuth });
}

/** An ECDSA P-256 public key (SPKI PEM, as node's crypto exports it), or an IdentityError. */
export async function importPublicKey(pem: string): Promise<CryptoKey> {
  try {
    const der = x509.PemConverter.decodeFirst(pem);
    return await crypto.subtle.importKey("spki", der, KEY_ALGORITHM, true, ["verify"]);
  } catch (err) {
    throw new IdentityError(`not an ECDSA P-256 public key (SPKI PEM): ${(err as Error).message}`);
  }
}

/** A device certificate for a key the device made itself (pairing): the hub signs, the private key stays on the Pi.
 * The returned `key` is empty. */
export async function issueDeviceForKey(
  ca: PemPair,
  options: { id: string; role?: string; publicKey: string; now: Date; days?: number },
): Promise<IssuedCertificate> {
  const publicKey = await importPublicKey(options.publicKey);
  return issue(ca, { cn: options.id, ou: options.role, now: options.now, days: options.days ?? DEFAULT_DEVICE_DAYS, usage: x509.ExtendedKeyUsage.clientAuth, publicKey });
}

/** A certificate's SHA-256 fingerprint as people compare it: "AB:CD:…" (what openssl x509 -fingerprint -sha256 shows). */
export function fingerprint(pem: string): string {
  try {
    return new NodeX509(pem).fingerprint256;
  } catch (err) {
    throw new IdentityError(`not a PEM certificate: ${(err as Error).message}`);
  }
}

/** Whether the certificate `certPem` is for the public key `publicKeyPem` (SPKI PEM). */
export function certificateHasKey(certPem: string, publicKeyPem: string): boolean {
  try {
    const certKey = new NodeX509(certPem).publicKey.export({ type: "spki", format: "der" });
    const given = createPublicKey(publicKeyPem).export({ type: "spki", format: "der" });
    return certKey.equals(given);
  } catch {
    return false;
  }
}

/** The broker's TLS listener certificate; every host name and IP address a Pi may dial goes into its SAN. */
export function issueServer(ca: PemPair, options: { hosts: string[]; now: Date; days?: number }): Promise<IssuedCertificate> {
  const hosts = [...new Set(options.hosts.map((h) => h.trim()).filter((h) => h !== ""))];
  if (hosts.length === 0) throw new IdentityError("a server certificate needs at least one host name or address");
  const names: x509.JsonGeneralName[] = hosts.map((h) => ({ type: isIP(h) ? "ip" : "dns", value: h }));
  return issue(ca, {
    cn: hosts[0]!,
    now: options.now,
    days: options.days ?? DEFAULT_SERVER_DAYS,
    usage: x509.ExtendedKeyUsage.serverAuth,
    extra: [new x509.SubjectAlternativeNameExtension(names, false)],
  });
}

/** The revocation list (PEM) signed by the CA; node's tls takes it as `crl`, Mosquitto as `crlfile`. */
export async function createCrl(ca: PemPair, revoked: RevokedSerial[], now: Date): Promise<string> {
  const caCert = parse(ca.cert);
  const signingKey = await importSigningKey(ca.key);
  const crl = await x509.X509CrlGenerator.create({
    issuer: caCert.subject,
    thisUpdate: new Date(now.getTime() - BACKDATE_MS),
    nextUpdate: new Date(now.getTime() + CRL_DAYS * DAY_MS),
    signingKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [await x509.AuthorityKeyIdentifierExtension.create(caCert)],
    entries: revoked.map((r) => ({ serialNumber: r.serial, revocationDate: r.revokedAt })),
  });
  // OpenSSL (node's tls, Mosquitto) reads only the "X509 CRL" PEM label, not the "CRL" one @peculiar/x509 writes
  return x509.PemConverter.encode(crl.rawData, "X509 CRL");
}

/** The serials (lower-case hex) a revocation list names and when it needs re-signing. */
export function crlInfo(pem: string): { serials: string[]; thisUpdate: Date; nextUpdate: Date | undefined } {
  const crl = new x509.X509Crl(pem);
  return {
    serials: crl.entries.map((e) => normaliseSerial(e.serialNumber)),
    thisUpdate: crl.thisUpdate,
    nextUpdate: crl.nextUpdate,
  };
}

export function normaliseSerial(hex: string): string {
  return hex.replace(/[^0-9a-fA-F]/g, "").toLowerCase();
}

export function certificateInfo(pem: string): CertificateInfo {
  const cert = parse(pem);
  const node = new NodeX509(pem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const hosts = (san?.names.items ?? []).filter((n) => n.type === "dns" || n.type === "ip").map((n) => n.value);
  return {
    cn: cert.subjectName.getField("CN")[0] ?? "",
    role: cert.subjectName.getField("OU")[0] ?? null,
    serial: normaliseSerial(node.serialNumber),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    hosts,
    issuerMatches(caPem: string): boolean {
      try {
        const ca = new NodeX509(caPem);
        return node.checkIssued(ca) && node.verify(ca.publicKey);
      } catch {
        return false;
      }
    },
  };
}

/**
 * Whether `certPem` was signed by the CA `caPem` and both are valid at `at` (default: now). Revocation is the
 * caller's to check (IdentityDirectory.isRevoked).
 */
export async function verifyChain(certPem: string, caPem: string, at: Date = new Date()): Promise<boolean> {
  try {
    const cert = new x509.X509Certificate(certPem);
    const ca = new x509.X509Certificate(caPem);
    if (!certificateInfo(certPem).issuerMatches(caPem)) return false;
    const caConstraints = ca.getExtension(x509.BasicConstraintsExtension);
    if (!caConstraints?.ca) return false;
    const valid = (c: x509.X509Certificate) => c.notBefore <= at && at <= c.notAfter;
    if (!valid(cert) || !valid(ca)) return false;
    return await cert.verify({ publicKey: ca.publicKey, signatureOnly: true });
  } catch {
    return false;
  }
}
