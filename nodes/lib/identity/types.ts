// Who is who on the fog: the identities the broker, the door opener and the CLI agree on (issue 11).
// The store (store.ts) keeps them in the data dir; the ACL (../broker/acl.ts) says what each may do.
import type { EventEmitter } from "node:events";
import type { Role } from "../runtime/config";

/** What a Pi runs (the runtime's PIFOG_ROLE); it decides what the device reads besides its own topics. */
export type DeviceRole = Exclude<Role, "all">;

/** People and programs that log in with a name and a password: `viewer` reads, `operator` also commands, `admin` all. */
export const USER_ROLES = ["viewer", "operator", "admin"] as const;
export type UserRole = (typeof USER_ROLES)[number];

/** Who a connection (or a signed command) is, once the broker has checked it. */
export type Identity =
  /** A Pi: by its client certificate (CN = id) or, for one that cannot do TLS, by its id and password. */
  | { kind: "device"; id: string; role: DeviceRole; via: "certificate" | "password"; serial?: string }
  | { kind: "user"; name: string; role: UserRole }
  /** No credentials, from an address PIFOG_BROKER_ANONYMOUS allows. */
  | { kind: "anonymous"; address: string };

export interface DeviceRecord {
  id: string;
  role: DeviceRole;
  /** The certificate's serial number, lower-case hex without separators. */
  serial: string;
  notBefore: string;
  notAfter: string;
  /** Set once revoked (ISO time). */
  revokedAt?: string;
  /** Whether the device may also log in with a password (devices that cannot do TLS). */
  password?: boolean;
  /** The user it belongs to (chosen when it was paired, issue 12). */
  owner?: string;
}

export interface UserRecord {
  name: string;
  role: UserRole;
  createdAt: string;
}

export interface PemPair {
  cert: string;
  key: string;
}

export interface IdentityDirectoryEvents {
  /** The files changed (another process, the `pifog` CLI, wrote them); the directory has reloaded. */
  changed: [];
  /** A device's certificate was revoked: the broker drops its connections at once. */
  revoked: [device: DeviceRecord];
}

/**
 * What a running runtime reads of the identities in its data dir (store.ts implements it; it reloads when the
 * CLI changes the files, so a revocation is honoured without a restart).
 */
export interface IdentityDirectory extends EventEmitter<IdentityDirectoryEvents> {
  /** The local CA's certificate (PEM): what a client certificate must chain to. */
  readonly caCert: string;
  device(id: string): DeviceRecord | undefined;
  devices(): DeviceRecord[];
  users(): UserRecord[];
  /** Whether a certificate serial (lower-case hex) is revoked. */
  isRevoked(serial: string): boolean;
  /** The current revocation list (PEM), signed by the CA. */
  crl(): string;
  /** A user's or a password device's identity when the password is right; null otherwise (bcrypt, off the main thread). */
  checkPassword(name: string, password: Buffer | string): Promise<Identity | null>;
  /** The hub's TLS server certificate and key (signed by the CA, for the MQTTS listener). */
  serverTls(): PemPair;
  close(): void;
}
