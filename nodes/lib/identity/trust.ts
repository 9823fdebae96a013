// What a runtime trusts, for signed payloads (signing.ts): the local CA's certificate, the revocations, and its own
// identity to sign with. Made once per runtime and handed to the nodes as `services.trust`:
// - on the hub (and in the all-in-one `PIFOG_ROLE=all`), from the identity store in the data dir: its CA, its
//   revocations as they are now, the roles of its records (`directoryTrust`);
// - on a Pi, from its identity bundle (cert.pem, key.pem, ca.pem): the revocations arrive on the hub's retained
//   revocation list topic (`trustTopics.crl`), each taken only when the CA signed it and never older than the one held
//   (`bundleTrust`, `RevocationList`);
// - on a Pi without a bundle, nothing (`noTrust`): whatever needs a signature is refused, saying how to enrol it.
//
// Light on purpose: every runtime loads it (services.ts, noTrust), so it reads certificates with node:crypto and
// leaves revocation lists, the one thing that needs an ASN.1 library, to revocation-list.ts, which loads it lazily.
import crypto from "node:crypto";
import type { Clock } from "../clock";
import { subjectField } from "./cert-subject";
import { normaliseSerial, RevocationList } from "./revocation-list";
import { NonceCache, Verifier, type SignerInfo, type SigningIdentity } from "./signing";
import type { IdentityDirectory } from "./types";

export { RevocationList } from "./revocation-list";

/** This runtime's own identity: what it signs with. */
export interface TrustSigner extends SigningIdentity {
  /** Its certificate's CN (the device id). */
  cn: string;
}

export type CrlOutcome =
  | { taken: true; serials: number; thisUpdate: string }
  | { taken: false; why: "invalid" | "older" | "same" | "not-needed"; detail: string };

export interface Trust {
  /** This runtime's own identity, or null when it has none: a `sign` node then refuses. */
  readonly signer: TrustSigner | null;
  /** The local CA's certificate (PEM), or null on a Pi that was never enrolled. */
  readonly caCert: string | null;
  /** Why there is no CA (for a status and a refusal), when there is none. */
  readonly missing: string | null;
  /**
   * A verifier for one purpose (`allowed`), or null without a CA. `scope` (a node's id) names whose nonces it shares:
   * every verifier of one scope remembers the same nonces across a redeploy, while two nodes that each take the same
   * message once (a verify node and the door opener of one process) do not refuse each other's.
   */
  verifier(allowed?: (signer: SignerInfo) => true | string, scope?: string): Verifier | null;
  /** A revocation list as it arrived on `trustTopics.crl` (PEM); ignored where the store is the source. */
  acceptCrl(pem: string): Promise<CrlOutcome>;
}

export const NO_CA = "no CA on this Pi: enrol it with `pifog device add`";

/** Who may sign an open-door command: a device whose role is `hub` (the dashboard's and Slack's commands). */
export const DOOR_SIGNER_ROLES: readonly string[] = ["hub"];

export function mayCommandDoor(signer: SignerInfo): true | string {
  if (signer.role !== null && DOOR_SIGNER_ROLES.includes(signer.role)) return true;
  return `"${signer.cn}" (role ${signer.role ?? "unknown"}) may not command the door: only ${DOOR_SIGNER_ROLES.join(", ")}`;
}

/** The identity's CN, read from its certificate. */
export function signerOf(identity: SigningIdentity): TrustSigner {
  const cn = subjectField(new crypto.X509Certificate(identity.cert), "CN") ?? "";
  return { cn, cert: identity.cert, key: identity.key };
}

interface TrustParts {
  signer: SigningIdentity | null;
  caCert: string;
  isRevoked: (serial: string) => boolean;
  roleOf?: (signer: { cn: string; serial: string }) => string | null;
  acceptCrl: (pem: string) => Promise<CrlOutcome>;
  clock: Pick<Clock, "now">;
}

/** The most scopes (nodes) a runtime keeps nonces for; beyond it the least recently made goes. */
const MAX_SCOPES = 256;

function makeTrust(parts: TrustParts): Trust {
  const scopes = new Map<string, NonceCache>();
  const noncesOf = (scope: string): NonceCache => {
    let cache = scopes.get(scope);
    if (!cache) {
      if (scopes.size >= MAX_SCOPES) scopes.delete(scopes.keys().next().value!);
      scopes.set(scope, (cache = new NonceCache()));
    }
    return cache;
  };
  return {
    signer: parts.signer ? signerOf(parts.signer) : null,
    caCert: parts.caCert,
    missing: null,
    verifier: (allowed, scope = "") =>
      new Verifier({
        caCert: parts.caCert,
        isRevoked: parts.isRevoked,
        clock: parts.clock,
        nonces: noncesOf(scope),
        ...(parts.roleOf ? { roleOf: parts.roleOf } : {}),
        ...(allowed ? { allowed } : {}),
      }),
    acceptCrl: parts.acceptCrl,
  };
}

/**
 * The hub's (and the all-in-one runtime's) trust: the identity store is the source of the CA, the revocations (a
 * revocation counts at once) and each device's role. `signer`: the runtime's own identity (the hub's bundle).
 */
export function directoryTrust(directory: Pick<IdentityDirectory, "caCert" | "isRevoked" | "device">, signer: SigningIdentity | null, clock: Pick<Clock, "now">): Trust {
  return makeTrust({
    signer,
    caCert: directory.caCert,
    isRevoked: (serial) => directory.isRevoked(serial),
    // the store's record is the role, and only for the certificate it issued last to that device
    roleOf: ({ cn, serial }) => {
      const record = directory.device(cn);
      return record && normaliseSerial(record.serial) === serial ? record.role : null;
    },
    acceptCrl: () => Promise.resolve({ taken: false, why: "not-needed", detail: "the identity store is this runtime's revocation list" }),
    clock,
  });
}

/** A Pi's trust: its bundle's CA and own identity; the revocations from the hub's revocation list topic; roles from
 * the certificates (their OU, written by the CA). `kept`: called with each list taken (to keep it for the next start). */
export function bundleTrust(bundle: SigningIdentity & { ca: string }, clock: Pick<Clock, "now">, kept?: (pem: string) => void): Trust {
  const revocations = new RevocationList(bundle.ca);
  return makeTrust({
    signer: bundle,
    caCert: bundle.ca,
    isRevoked: (serial) => revocations.isRevoked(serial),
    acceptCrl: async (pem) => {
      const r = await revocations.accept(pem);
      if (r.taken) kept?.(pem);
      return r;
    },
    clock,
  });
}

/** A runtime with no identity: nothing verifies, nothing signs. */
export function noTrust(missing = NO_CA): Trust {
  return {
    signer: null,
    caCert: null,
    missing,
    verifier: () => null,
    acceptCrl: () => Promise.resolve({ taken: false, why: "not-needed", detail: missing }),
  };
}
