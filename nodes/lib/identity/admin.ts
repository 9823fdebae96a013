// What the `pifog` CLI and the all-in-one runtime do to the identities in a data dir: the CA, device certificates and
// their bundles, users, revocations, the hub's server certificate. Every change is a read-modify-write under the
// identity lock, each file replaced atomically, so a running IdentityStore reloads a consistent set.
import * as fs from "node:fs";
import { isTopicLevel } from "../contract";
import { hashPassword } from "../security/passwords";
import type * as CaModule from "./ca";
import { IdentityError } from "./errors";
import { withLock, writeFileAtomic } from "./files";
import {
  bundlePaths,
  deviceBundleDir,
  identityPaths,
  readBundle,
  type DeviceBundle,
  type HubFile,
  type IdentityPaths,
} from "./paths";
import { publicDevice, publicUser, readIdentities, serialiseIdentities, type IdentitiesFile, type StoredDevice } from "./records";
import { USER_ROLES, type DeviceRecord, type DeviceRole, type PemPair, type UserRecord, type UserRole } from "./types";

/** The certificate maker (ca.ts: @peculiar/x509, ~15 MiB), loaded when a certificate is made or read: managing users never loads it. */
function x509(): typeof CaModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("./ca") as typeof CaModule;
}

const DAY_MS = 86_400_000;
/** A certificate (device, server) or the revocation list this close to its end is renewed by the ensure* calls. */
export const RENEW_BEFORE_DAYS = 30;
export const MIN_PASSWORD_LENGTH = 8;
/** bcrypt reads only the first 72 bytes; a longer password would be cut without a word. */
export const MAX_PASSWORD_BYTES = 72;

function readCa(paths: IdentityPaths): PemPair | null {
  if (!fs.existsSync(paths.caCert)) return null;
  try {
    return { cert: fs.readFileSync(paths.caCert, "utf8"), key: fs.readFileSync(paths.caKey, "utf8") };
  } catch (err) {
    throw new IdentityError(`the CA in ${paths.dir} is incomplete: ${(err as Error).message}`);
  }
}

function requireCa(paths: IdentityPaths): PemPair {
  const ca = readCa(paths);
  if (!ca) throw new IdentityError(`no CA in ${paths.dir} yet (run \`pifog ca init\`)`);
  return ca;
}

function checkName(name: string, what: "device id" | "user name"): void {
  if (!isTopicLevel(name)) throw new IdentityError(`"${name}" is not a ${what} (1..64 letters, digits, _ . -)`);
}

function checkPasswordRule(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) throw new IdentityError(`a password must be at least ${MIN_PASSWORD_LENGTH} characters`);
  if (Buffer.byteLength(password, "utf8") > MAX_PASSWORD_BYTES) throw new IdentityError(`a password must be at most ${MAX_PASSWORD_BYTES} bytes (bcrypt ignores the rest)`);
}

function writeIdentities(paths: IdentityPaths, file: IdentitiesFile): void {
  writeFileAtomic(paths.identities, serialiseIdentities(file), 0o600);
}

async function writeCrl(paths: IdentityPaths, ca: PemPair, file: IdentitiesFile, now: Date): Promise<void> {
  const crl = await x509().createCrl(ca, file.revocations.map((r) => ({ serial: r.serial, revokedAt: new Date(r.revokedAt) })), now);
  writeFileAtomic(paths.crl, crl);
}

/** Changes identities.json (and whatever else `fn` writes) under the lock. */
async function change<T>(dataDir: string, fn: (file: IdentitiesFile, paths: IdentityPaths) => Promise<T> | T): Promise<T> {
  const paths = identityPaths(dataDir);
  return withLock(paths.lock, async () => {
    const file = readIdentities(paths.identities);
    const result = await fn(file, paths);
    writeIdentities(paths, file);
    return result;
  });
}

// ---- the CA ---------------------------------------------------------------------------------------------------

export interface InitCaOptions {
  now: Date;
  /** Replace an existing CA: every device certificate it signed stops working (their records and bundles go). */
  force?: boolean;
  commonName?: string;
  years?: number;
}

/** Makes the local CA (and an empty revocation list); refuses when there is one, unless `force` (which drops the devices). */
export async function initCa(dataDir: string, options: InitCaOptions): Promise<PemPair> {
  const paths = identityPaths(dataDir);
  return withLock(paths.lock, async () => {
    if (readCa(paths) && !options.force) throw new IdentityError(`there is a CA in ${paths.dir} already (--force replaces it, and every device must be enrolled again)`);
    const ca = await x509().createCa({ now: options.now, commonName: options.commonName, years: options.years });
    const file = readIdentities(paths.identities);
    if (options.force) {
      // certificates of the old CA no longer verify: the devices, their bundles and the server certificate go with
      // it (users stay: a password does not depend on the CA)
      file.devices = [];
      file.revocations = [];
      fs.rmSync(paths.devices, { recursive: true, force: true });
      fs.rmSync(paths.serverCert, { force: true });
      fs.rmSync(paths.serverKey, { force: true });
    }
    fs.mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(paths.caKey, ca.key, 0o600);
    writeFileAtomic(paths.caCert, ca.cert);
    await writeCrl(paths, ca, file, options.now);
    writeIdentities(paths, file);
    return ca;
  });
}

/** The CA, made first if there is none (what a hub does on its first start). */
export async function ensureCa(dataDir: string, options: { now: Date }): Promise<PemPair> {
  const existing = readCa(identityPaths(dataDir));
  if (existing) return existing;
  try {
    return await initCa(dataDir, { now: options.now });
  } catch (err) {
    // another process made it meanwhile
    const made = readCa(identityPaths(dataDir));
    if (made) return made;
    throw err;
  }
}

// ---- devices --------------------------------------------------------------------------------------------------

export interface AddDeviceOptions {
  /** Where the Pi connects, e.g. mqtts://hub.local:8883 (written to the bundle's hub.json). */
  hubUrl: string;
  /** Also let the device log in with this password (for one that cannot do TLS). */
  password?: string;
  days?: number;
  now: Date;
  /** Re-issue for an id that exists (its previous certificate is revoked as superseded). */
  renew?: boolean;
}

function writeBundle(dataDir: string, ca: PemPair, issued: PemPair, hub: HubFile): DeviceBundle {
  const dir = deviceBundleDir(dataDir, hub.device);
  const p = bundlePaths(dir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileAtomic(p.key, issued.key, 0o600);
  writeFileAtomic(p.cert, issued.cert);
  writeFileAtomic(p.ca, ca.cert);
  writeFileAtomic(p.hub, `${JSON.stringify(hub, null, 2)}\n`);
  return { ...hub, dir, cert: issued.cert, key: issued.key, ca: ca.cert };
}

function checkHubUrl(url: string): void {
  if (!/^(mqtts?|wss?):\/\/[^/\s]+/.test(url)) throw new IdentityError(`the hub URL must be mqtts://host:port (or mqtt://, ws://, wss://), not "${url}"`);
}

async function issueInto(
  dataDir: string,
  file: IdentitiesFile,
  paths: IdentityPaths,
  id: string,
  role: DeviceRole,
  options: { hubUrl: string; days?: number; now: Date; passwordHash?: string },
): Promise<DeviceBundle> {
  const ca = requireCa(paths);
  const issued = await x509().issueDevice(ca, { id, role, now: options.now, days: options.days });
  const info = x509().certificateInfo(issued.cert);
  const previous = file.devices.find((d) => d.id === id);
  const record: StoredDevice = {
    id,
    role,
    serial: issued.serial,
    notBefore: info.notBefore.toISOString(),
    notAfter: info.notAfter.toISOString(),
  };
  if (previous?.owner) record.owner = previous.owner;
  const passwordHash = options.passwordHash ?? previous?.passwordHash;
  if (passwordHash) {
    record.password = true;
    record.passwordHash = passwordHash;
  }
  if (previous) {
    if (!file.revocations.some((r) => r.serial === previous.serial)) {
      file.revocations.push({ serial: previous.serial, id, revokedAt: options.now.toISOString(), reason: "superseded" });
    }
    file.devices = file.devices.map((d) => (d.id === id ? record : d));
    await writeCrl(paths, ca, file, options.now);
  } else {
    file.devices.push(record);
  }
  return writeBundle(dataDir, ca, issued, { url: options.hubUrl, device: id, role });
}

/** Issues a device's key and certificate and writes its bundle; refuses an id that exists unless `renew`. */
export async function addDevice(dataDir: string, id: string, role: DeviceRole, options: AddDeviceOptions): Promise<DeviceBundle> {
  checkName(id, "device id");
  checkHubUrl(options.hubUrl);
  if (options.password !== undefined) checkPasswordRule(options.password);
  const passwordHash = options.password !== undefined ? await hashPassword(options.password) : undefined;
  return change(dataDir, (file, paths) => {
    if (file.users.some((u) => u.name === id)) throw new IdentityError(`"${id}" is a user's name; a device id must differ from every user name`);
    const existing = file.devices.find((d) => d.id === id);
    if (existing && !options.renew) {
      throw new IdentityError(`device ${id} exists${existing.revokedAt ? " (revoked)" : ""}; --renew issues it a new certificate`);
    }
    return issueInto(dataDir, file, paths, id, role, { ...options, passwordHash });
  });
}

export interface PairedDeviceOptions {
  /** The key the Pi made (SPKI PEM): the certificate is issued for it. Absent: a Pi that cannot do TLS, which
   * logs in with `password` only (a certificate is still issued, for its serial and validity, and thrown away). */
  publicKey?: string;
  /** A Pi that cannot do TLS logs in with its id and this password. */
  password?: string;
  /** The user it belongs to (a user of the store). */
  owner: string;
  now: Date;
}

/**
 * A paired Pi's record (pairing.ts): its certificate for the key it sent (the private key never leaves the Pi, so no
 * bundle is written here), its owner, and a password login for a Pi that cannot do TLS. Refuses a taken id (a
 * device's, revoked or not, or a user's) and an owner who is not a user. Returns the record and the certificate.
 */
export async function addPairedDevice(dataDir: string, id: string, role: DeviceRole, options: PairedDeviceOptions): Promise<{ device: DeviceRecord; cert: string; ca: string }> {
  checkName(id, "device id");
  if (options.password !== undefined) checkPasswordRule(options.password);
  if (options.publicKey === undefined && options.password === undefined) throw new IdentityError("a paired device needs a public key or a password");
  const passwordHash = options.password !== undefined ? await hashPassword(options.password) : undefined;
  return change(dataDir, async (file, paths) => {
    if (file.users.some((u) => u.name === id)) throw new IdentityError(`"${id}" is a user's name; a device id must differ from every user name`);
    const existing = file.devices.find((d) => d.id === id);
    if (existing) throw new IdentityError(`device ${id} exists${existing.revokedAt ? " (revoked)" : ""}; choose another name`);
    if (!file.users.some((u) => u.name === options.owner)) throw new IdentityError(`no user ${options.owner}`);
    const ca = requireCa(paths);
    const issued = options.publicKey
      ? await x509().issueDeviceForKey(ca, { id, role, publicKey: options.publicKey, now: options.now })
      : await x509().issueDevice(ca, { id, role, now: options.now });
    const info = x509().certificateInfo(issued.cert);
    const record: StoredDevice = { id, role, serial: issued.serial, notBefore: info.notBefore.toISOString(), notAfter: info.notAfter.toISOString(), owner: options.owner };
    if (passwordHash) {
      record.password = true;
      record.passwordHash = passwordHash;
    }
    file.devices.push(record);
    return { device: publicDevice(record), cert: options.publicKey ? issued.cert : "", ca: ca.cert };
  });
}

export function listDevices(dataDir: string): DeviceRecord[] {
  return readIdentities(identityPaths(dataDir).identities).devices.map(publicDevice);
}

/** Revokes a device's certificate (and its password login) and re-signs the revocation list. */
export async function revokeDevice(dataDir: string, id: string, now: Date): Promise<DeviceRecord> {
  return change(dataDir, async (file, paths) => {
    const device = file.devices.find((d) => d.id === id);
    if (!device) throw new IdentityError(`no device ${id}`);
    if (device.revokedAt) throw new IdentityError(`device ${id} was revoked already (${device.revokedAt})`);
    device.revokedAt = now.toISOString();
    file.revocations.push({ serial: device.serial, id, revokedAt: device.revokedAt, reason: "revoked" });
    await writeCrl(paths, requireCa(paths), file, now);
    return publicDevice(device);
  });
}

/**
 * The device's bundle, issued when it has none, when its certificate is not from the current CA, is near its end,
 * or its role or hub URL changed; otherwise the one on disk, untouched. What the all-in-one runtime calls on every
 * start for its simulated Pis. A revoked device stays revoked (an IdentityError).
 */
export async function ensureDevice(dataDir: string, id: string, role: DeviceRole, options: { hubUrl: string; now: Date }): Promise<DeviceBundle> {
  checkName(id, "device id");
  checkHubUrl(options.hubUrl);
  const ca = await ensureCa(dataDir, { now: options.now });
  const current = (): DeviceBundle | null => {
    const record = listDevices(dataDir).find((d) => d.id === id);
    let bundle: DeviceBundle | null;
    try {
      bundle = readBundle(deviceBundleDir(dataDir, id));
    } catch {
      return null;
    }
    if (!record || !bundle || record.revokedAt || record.role !== role || bundle.role !== role || bundle.url !== options.hubUrl) return null;
    const info = x509().certificateInfo(bundle.cert);
    if (info.serial !== record.serial || info.role !== role || bundle.ca !== ca.cert || !info.issuerMatches(ca.cert)) return null;
    if (info.notAfter.getTime() - options.now.getTime() < RENEW_BEFORE_DAYS * DAY_MS) return null;
    return bundle;
  };
  const ok = current();
  if (ok && (await x509().verifyChain(ok.cert, ca.cert, options.now))) return ok;
  return change(dataDir, async (file, paths) => {
    const existing = file.devices.find((d) => d.id === id);
    if (existing?.revokedAt) throw new IdentityError(`device ${id} is revoked (\`pifog device add ${id} --renew\` enrols it again)`);
    if (file.users.some((u) => u.name === id)) throw new IdentityError(`"${id}" is a user's name; a device id must differ from every user name`);
    return issueInto(dataDir, file, paths, id, role, { hubUrl: options.hubUrl, now: options.now });
  });
}

// ---- users ----------------------------------------------------------------------------------------------------

export async function addUser(dataDir: string, name: string, role: UserRole, password: string, options: { now?: Date } = {}): Promise<UserRecord> {
  checkName(name, "user name");
  checkPasswordRule(password);
  const passwordHash = await hashPassword(password);
  return change(dataDir, (file) => {
    if (file.users.some((u) => u.name === name)) throw new IdentityError(`user ${name} exists (\`pifog user passwd ${name}\` changes the password)`);
    if (file.devices.some((d) => d.id === name)) throw new IdentityError(`"${name}" is a device id; a user name must differ from every device id`);
    const user = { name, role, createdAt: (options.now ?? new Date()).toISOString(), passwordHash };
    file.users.push(user);
    return publicUser(user);
  });
}

export function listUsers(dataDir: string): UserRecord[] {
  return readIdentities(identityPaths(dataDir).identities).users.map(publicUser);
}

export async function removeUser(dataDir: string, name: string): Promise<void> {
  await change(dataDir, (file) => {
    if (!file.users.some((u) => u.name === name)) throw new IdentityError(`no user ${name}`);
    file.users = file.users.filter((u) => u.name !== name);
  });
}

/** A user's new role (what their sessions can do changes at once: the sessions ask the store on every check). */
export async function setRole(dataDir: string, name: string, role: UserRole): Promise<UserRecord> {
  if (!(USER_ROLES as readonly string[]).includes(role)) throw new IdentityError(`"${String(role)}" is not a role (${USER_ROLES.join(", ")})`);
  return change(dataDir, (file) => {
    const user = file.users.find((u) => u.name === name);
    if (!user) throw new IdentityError(`no user ${name}`);
    user.role = role;
    return publicUser(user);
  });
}

/** A user's new password, or a device's (which then may also log in with it). */
export async function setPassword(dataDir: string, name: string, password: string): Promise<void> {
  checkPasswordRule(password);
  const passwordHash = await hashPassword(password);
  await change(dataDir, (file) => {
    const user = file.users.find((u) => u.name === name);
    const device = file.devices.find((d) => d.id === name);
    if (user) user.passwordHash = passwordHash;
    else if (device) {
      device.password = true;
      device.passwordHash = passwordHash;
    } else throw new IdentityError(`no user or device ${name}`);
  });
}

// ---- the hub's TLS listener -----------------------------------------------------------------------------------

/**
 * The server certificate for the MQTTS listener, issued (the CA first if there is none) when there is none, when the
 * hosts changed, when it is not from the current CA or near its end; the revocation list is re-signed when it nears
 * its nextUpdate (node's tls refuses every client once it has passed).
 */
export async function ensureServerTls(dataDir: string, hosts: string[], now: Date): Promise<PemPair> {
  const wanted = [...new Set(hosts.map((h) => h.trim()).filter((h) => h !== ""))];
  if (wanted.length === 0) throw new IdentityError("the server certificate needs at least one host name or address");
  const ca = await ensureCa(dataDir, { now });
  const paths = identityPaths(dataDir);
  const soon = (end: Date | undefined): boolean => !end || end.getTime() - now.getTime() < RENEW_BEFORE_DAYS * DAY_MS;
  const current = (): PemPair | null => {
    try {
      const pair = { cert: fs.readFileSync(paths.serverCert, "utf8"), key: fs.readFileSync(paths.serverKey, "utf8") };
      const info = x509().certificateInfo(pair.cert);
      const same = info.hosts.length === wanted.length && wanted.every((h) => info.hosts.includes(h));
      return same && info.issuerMatches(ca.cert) && !soon(info.notAfter) ? pair : null;
    } catch {
      return null;
    }
  };
  const crlFresh = (): boolean => {
    try {
      return !soon(x509().crlInfo(fs.readFileSync(paths.crl, "utf8")).nextUpdate);
    } catch {
      return false;
    }
  };
  const existing = current();
  if (existing && crlFresh()) return existing;
  return withLock(paths.lock, async () => {
    if (!crlFresh()) await writeCrl(paths, ca, readIdentities(paths.identities), now);
    const again = current();
    if (again) return again;
    const issued = await x509().issueServer(ca, { hosts: wanted, now });
    writeFileAtomic(paths.serverKey, issued.key, 0o600);
    writeFileAtomic(paths.serverCert, issued.cert);
    return { cert: issued.cert, key: issued.key };
  });
}
