// Pairing a Pi by a code (issue 12), the hub's side as the rest of the runtime sees it: the Devices tab (an admin
// enters a Pi's code, names it, picks its owner; lists the devices; revokes one) talks to this, and the HTTP routes a
// Pi without an identity uses are built on it. pairing.ts implements it.
import type { DeviceRole } from "./types";

/** A Pi that asked to be paired and has not been approved yet. */
export interface PendingPairing {
  /** The short code the Pi shows (and scrolls on its Sense HAT), masked (`K7**-****`): the admin types the whole
   * code as the Pi shows it, so pairing needs someone who sees the Pi; the hub never shows it whole. */
  code: string;
  /** The role the Pi was started with (PIFOG_ROLE). */
  role: DeviceRole;
  /** The id the Pi suggests (its PIFOG_DEVICE_ID); the admin may name it otherwise. */
  suggestedId: string;
  /** The PiFog version the Pi runs. */
  version: string;
  /** The Pi's address as the hub saw it. */
  address: string;
  /** ms since the epoch */
  requestedAt: number;
  expiresAt: number;
}

/** One device of the fog, as the Devices tab lists it. */
export interface DeviceOverview {
  id: string;
  role: DeviceRole;
  /** The user it belongs to (chosen when it was paired); undefined for the hub's own and CLI-enrolled devices. */
  owner?: string;
  online: boolean;
  /** ms since the epoch: its last connection or message the hub saw; undefined: never seen by this runtime. */
  lastSeen?: number;
  /** The identity's expiry (ISO time). */
  notAfter: string;
  /** The version it last reported (its status message). */
  version?: string;
  /** Set once revoked (ISO time). */
  revokedAt?: string;
  /** How it logs in: "certificate", or "password" for a Pi that cannot do TLS. */
  login: "certificate" | "password";
}

/** Why a pairing step was refused: the message is meant for the person (on the Pi's console or the Devices tab). */
export class PairingError extends Error {
  constructor(
    message: string,
    /** unknown-code, expired, used, rate-limited, bad-request, name-taken, unknown-owner */
    readonly code: string,
    /** The HTTP status a route answers with. */
    readonly status = 400,
  ) {
    super(message);
    this.name = "PairingError";
  }
}

/** The hub's pairing service (on a runtime with the embedded broker and a CA). */
export interface PairingService {
  /** The CA's SHA-256 fingerprint, as both sides show it ("AB:CD:…"). */
  caFingerprint(): string;
  pending(): PendingPairing[];
  /** An admin approves a code: the hub issues the identity (certificate, or a user name and password for a Pi
   * that cannot do TLS), which the waiting Pi then fetches. Refused (PairingError) for a wrong, expired or used
   * code, a taken name or an unknown owner; every outcome is audited with `by` and `address`. */
  approve(code: string, o: { id: string; owner: string; by: string; address: string }): Promise<DeviceOverview>;
  devices(): DeviceOverview[];
  /** Revokes a device: the broker drops it at once and every API refuses it. */
  revoke(id: string, o: { by: string; address: string }): Promise<DeviceOverview>;
  close(): void;
}
