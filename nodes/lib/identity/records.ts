// identities.json: the devices, the users (with their bcrypt hashes) and every revoked serial. Parsed strictly, so a
// damaged file stops the CLI and the broker with a message instead of letting anyone in.
import * as fs from "node:fs";
import { isTopicLevel } from "../contract";
import { IdentityError } from "./errors";
import { isDeviceRole, isUserRoleName } from "./paths";
import type { DeviceRecord, UserRecord } from "./types";

export const IDENTITIES_VERSION = 1;

export interface StoredDevice extends DeviceRecord {
  /** bcrypt hash, for a device that also logs in with a password. */
  passwordHash?: string;
}

export interface StoredUser extends UserRecord {
  passwordHash: string;
}

export interface Revocation {
  serial: string;
  /** The device the certificate was issued to. */
  id: string;
  revokedAt: string;
  /** `revoked` by `device revoke`, `superseded` by a renewal. */
  reason: "revoked" | "superseded";
}

export interface IdentitiesFile {
  version: typeof IDENTITIES_VERSION;
  devices: StoredDevice[];
  users: StoredUser[];
  revocations: Revocation[];
}

export function emptyIdentities(): IdentitiesFile {
  return { version: IDENTITIES_VERSION, devices: [], users: [], revocations: [] };
}

const SERIAL = /^[0-9a-f]{1,40}$/;

function isIso(value: unknown): value is string {
  return typeof value === "string" && !Number.isNaN(Date.parse(value));
}

function bad(file: string, what: string): never {
  throw new IdentityError(`${file} is damaged: ${what}`);
}

export function parseIdentities(text: string, file: string): IdentitiesFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    bad(file, (err as Error).message);
  }
  if (typeof raw !== "object" || raw === null) bad(file, "not a JSON object");
  const r = raw as Record<string, unknown>;
  if (r.version !== IDENTITIES_VERSION) bad(file, `version ${String(r.version)}, this PiFog reads ${IDENTITIES_VERSION}`);
  const list = (key: string): Record<string, unknown>[] => {
    const v = r[key];
    if (!Array.isArray(v) || v.some((e) => typeof e !== "object" || e === null)) bad(file, `"${key}" is not a list of objects`);
    return v as Record<string, unknown>[];
  };
  const devices = list("devices").map((d, i): StoredDevice => {
    const at = `devices[${i}]`;
    if (typeof d.id !== "string" || !isTopicLevel(d.id)) bad(file, `${at}.id`);
    if (typeof d.role !== "string" || !isDeviceRole(d.role)) bad(file, `${at}.role`);
    if (typeof d.serial !== "string" || !SERIAL.test(d.serial)) bad(file, `${at}.serial`);
    if (!isIso(d.notBefore) || !isIso(d.notAfter)) bad(file, `${at}.notBefore/notAfter`);
    if (d.revokedAt !== undefined && !isIso(d.revokedAt)) bad(file, `${at}.revokedAt`);
    if (d.passwordHash !== undefined && typeof d.passwordHash !== "string") bad(file, `${at}.passwordHash`);
    if (d.owner !== undefined && (typeof d.owner !== "string" || !isTopicLevel(d.owner))) bad(file, `${at}.owner`);
    const device: StoredDevice = { id: d.id, role: d.role, serial: d.serial, notBefore: d.notBefore, notAfter: d.notAfter };
    if (d.revokedAt !== undefined) device.revokedAt = d.revokedAt;
    if (typeof d.owner === "string") device.owner = d.owner;
    if (typeof d.passwordHash === "string") {
      device.password = true;
      device.passwordHash = d.passwordHash;
    }
    return device;
  });
  const users = list("users").map((u, i): StoredUser => {
    const at = `users[${i}]`;
    if (typeof u.name !== "string" || !isTopicLevel(u.name)) bad(file, `${at}.name`);
    if (typeof u.role !== "string" || !isUserRoleName(u.role)) bad(file, `${at}.role`);
    if (!isIso(u.createdAt)) bad(file, `${at}.createdAt`);
    if (typeof u.passwordHash !== "string") bad(file, `${at}.passwordHash`);
    return { name: u.name, role: u.role, createdAt: u.createdAt, passwordHash: u.passwordHash };
  });
  const revocations = list("revocations").map((v, i): Revocation => {
    const at = `revocations[${i}]`;
    if (typeof v.serial !== "string" || !SERIAL.test(v.serial)) bad(file, `${at}.serial`);
    if (typeof v.id !== "string") bad(file, `${at}.id`);
    if (!isIso(v.revokedAt)) bad(file, `${at}.revokedAt`);
    if (v.reason !== "revoked" && v.reason !== "superseded") bad(file, `${at}.reason`);
    return { serial: v.serial, id: v.id, revokedAt: v.revokedAt, reason: v.reason };
  });
  return { version: IDENTITIES_VERSION, devices, users, revocations };
}

/** The file's contents, or an empty set when there is none yet. */
export function readIdentities(file: string): IdentitiesFile {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return emptyIdentities();
    throw err;
  }
  return parseIdentities(text, file);
}

export function serialiseIdentities(file: IdentitiesFile): string {
  return `${JSON.stringify(file, null, 2)}\n`;
}

/** A device as the directory hands it out: no password hash. */
export function publicDevice(d: StoredDevice): DeviceRecord {
  const { passwordHash: _hash, ...record } = d;
  return record;
}

export function publicUser(u: StoredUser): UserRecord {
  return { name: u.name, role: u.role, createdAt: u.createdAt };
}
