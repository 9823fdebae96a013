// Where the identities live in the data dir, and the bundle a Pi reads its own identity from.
//
//   <dataDir>/identity/ca.crt, ca.key (0600)      the local CA
//   <dataDir>/identity/identities.json (0600)      devices, users (bcrypt hashes), revocations
//   <dataDir>/identity/crl.pem                     the revocation list, signed by the CA
//   <dataDir>/identity/server.crt, server.key      the hub's MQTTS listener
//   <dataDir>/identity/devices/<id>/               a device's bundle: cert.pem, key.pem (0600), ca.pem, hub.json
import * as fs from "node:fs";
import * as path from "node:path";
import { IdentityError } from "./errors";
import { isTopicLevel as isIdentityName } from "../contract";
import { USER_ROLES, type DeviceRole } from "./types";
import { ROLES } from "../runtime/config";

export interface IdentityPaths {
  dir: string;
  caCert: string;
  caKey: string;
  identities: string;
  crl: string;
  serverCert: string;
  serverKey: string;
  devices: string;
  /** Held (O_EXCL) by whoever rewrites the files. */
  lock: string;
}

export function identityPaths(dataDir: string): IdentityPaths {
  const dir = path.join(dataDir, "identity");
  return {
    dir,
    caCert: path.join(dir, "ca.crt"),
    caKey: path.join(dir, "ca.key"),
    identities: path.join(dir, "identities.json"),
    crl: path.join(dir, "crl.pem"),
    serverCert: path.join(dir, "server.crt"),
    serverKey: path.join(dir, "server.key"),
    devices: path.join(dir, "devices"),
    lock: path.join(dir, ".lock"),
  };
}

export interface BundlePaths {
  dir: string;
  cert: string;
  key: string;
  ca: string;
  hub: string;
}

export function bundlePaths(dir: string): BundlePaths {
  return {
    dir,
    cert: path.join(dir, "cert.pem"),
    key: path.join(dir, "key.pem"),
    ca: path.join(dir, "ca.pem"),
    hub: path.join(dir, "hub.json"),
  };
}

export function deviceBundleDir(dataDir: string, id: string): string {
  if (!isIdentityName(id)) throw new IdentityError(`"${id}" is not a device id (letters, digits, _ . -)`);
  return path.join(identityPaths(dataDir).devices, id);
}

/** hub.json in a bundle: where the Pi connects and who it is. */
export interface HubFile {
  /** e.g. mqtts://hub.local:8883 */
  url: string;
  device: string;
  role: DeviceRole;
  /** The hub's device HTTPS listener (clip uploads), e.g. https://hub.local:8443; absent in bundles made before it. */
  deviceUrl?: string;
}

/** A Pi's own identity, as read from its bundle dir. */
export interface DeviceBundle extends HubFile {
  dir: string;
  /** PEM: the device's certificate, its PKCS#8 key, the CA that signed both ends. */
  cert: string;
  key: string;
  ca: string;
}

const DEVICE_ROLES = ROLES.filter((r) => r !== "all") as readonly string[];

export function isDeviceRole(value: string): value is DeviceRole {
  return DEVICE_ROLES.includes(value);
}

export function isUserRoleName(value: string): value is (typeof USER_ROLES)[number] {
  return (USER_ROLES as readonly string[]).includes(value);
}

function parseHubFile(text: string, file: string): HubFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new IdentityError(`${file} is not JSON: ${(err as Error).message}`);
  }
  const r = raw as Partial<Record<keyof HubFile, unknown>>;
  if (typeof raw !== "object" || raw === null) throw new IdentityError(`${file} is not a JSON object`);
  if (typeof r.url !== "string" || !/^(mqtts?|wss?):\/\//.test(r.url)) throw new IdentityError(`${file}: "url" must be an mqtts:// (or mqtt://, ws://, wss://) URL`);
  if (typeof r.device !== "string" || !isIdentityName(r.device)) throw new IdentityError(`${file}: "device" must be a device id`);
  if (typeof r.role !== "string" || !isDeviceRole(r.role)) throw new IdentityError(`${file}: "role" must be one of ${DEVICE_ROLES.join(", ")}`);
  if (r.deviceUrl !== undefined && (typeof r.deviceUrl !== "string" || !/^https:\/\/[^/\s]+$/.test(r.deviceUrl))) {
    throw new IdentityError(`${file}: "deviceUrl" must be an https:// address`);
  }
  return { url: r.url, device: r.device, role: r.role, ...(r.deviceUrl ? { deviceUrl: r.deviceUrl } : {}) };
}

/**
 * The bundle in `dir`, or null when there is none (no cert.pem there). A bundle that is there but incomplete or
 * damaged throws an IdentityError: a Pi must not quietly fall back to connecting without its identity.
 */
export function readBundle(dir: string): DeviceBundle | null {
  const p = bundlePaths(dir);
  if (!fs.existsSync(p.cert)) return null;
  const read = (file: string): string => {
    try {
      return fs.readFileSync(file, "utf8");
    } catch (err) {
      throw new IdentityError(`the identity bundle in ${dir} is incomplete: ${(err as Error).message}`);
    }
  };
  const hub = parseHubFile(read(p.hub), p.hub);
  return { ...hub, dir, cert: read(p.cert), key: read(p.key), ca: read(p.ca) };
}

/** Where a runtime finds its own identity: PIFOG_IDENTITY (a bundle dir), else `<dataDir>/identity/devices/<deviceId>/`. */
export function ownBundleDir(dataDir: string, deviceId: string, env: NodeJS.ProcessEnv = process.env): string {
  const explicit = (env.PIFOG_IDENTITY ?? "").trim();
  if (explicit) return path.resolve(explicit);
  return deviceBundleDir(dataDir, deviceId);
}
