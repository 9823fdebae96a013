// Whether a verified client certificate is a device that may come in now: the one check the broker's TLS listener
// (../broker/client-guard.ts) and the hub's device HTTPS listener (../security/device-https.ts) both make, and the
// words both use for a handshake's verdict. The TLS layer has checked the chain and the CRL; this checks the store.
import type { Identity, IdentityDirectory } from "./types";

/** A certificate serial as hex to compare: lower case, no separators, no leading zeros. */
export function normalSerial(serial: string): string {
  return serial.replace(/[^0-9a-f]/gi, "").toLowerCase().replace(/^0+(?=.)/, "");
}

export class CertificateRefused extends Error {
  /** `unknown-device`, `revoked` or `superseded`. */
  constructor(
    readonly key: "unknown-device" | "revoked" | "superseded",
    reason: string,
  ) {
    super(reason);
  }
}

/** The device a verified certificate (CN, serial as the peer gives it) is; throws CertificateRefused saying why not:
 * no enrolled device of that CN, revoked (honoured as soon as the store says so), or not its current certificate. */
export function deviceOfCertificate(directory: IdentityDirectory | null, cn: string, peerSerial: string): Identity & { kind: "device" } {
  const serial = normalSerial(peerSerial);
  const record = directory?.device(cn);
  if (!directory || !record) throw new CertificateRefused("unknown-device", `the certificate's CN "${cn}" is no enrolled device`);
  const current = normalSerial(record.serial) === serial;
  if (directory.isRevoked(current ? record.serial : serial) || (current && record.revokedAt)) {
    throw new CertificateRefused("revoked", `device "${cn}"'s certificate (serial ${serial}) is revoked`);
  }
  if (!current) throw new CertificateRefused("superseded", `device "${cn}"'s certificate (serial ${serial}) is not its current one (${record.serial})`);
  return { kind: "device", id: cn, role: record.role, via: "certificate", serial: record.serial };
}

const TLS_REASONS: Record<string, string> = {
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "a certificate from another CA",
  NO_CLIENT_CERTIFICATE: "no client certificate",
  UNABLE_TO_GET_ISSUER_CERT: "a certificate from another CA",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "a certificate from another CA",
  SELF_SIGNED_CERT_IN_CHAIN: "a certificate from another CA",
  DEPTH_ZERO_SELF_SIGNED_CERT: "a self-signed certificate",
  CERT_HAS_EXPIRED: "an expired certificate",
  CERT_NOT_YET_VALID: "a certificate not valid yet",
  CERT_REVOKED: "a revoked certificate",
  CRL_HAS_EXPIRED: "the revocation list has expired (pifog renews it)",
};

/** OpenSSL's verdict on a client certificate (socket.authorizationError) in words. */
export function tlsRefusalReason(code: string): string {
  return TLS_REASONS[code] ?? code;
}
