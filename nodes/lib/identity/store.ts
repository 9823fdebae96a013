// The identities a running runtime reads (IdentityDirectory): the files in <dataDir>/identity/, reloaded when another
// process (the `pifog` CLI) rewrites them, so that a revocation reaches the running broker at once.
import { EventEmitter } from "node:events";
import * as fs from "node:fs";
import { checkPassword as checkBcrypt } from "../security/passwords";
import { IdentityError } from "./errors";
import { identityPaths, type IdentityPaths } from "./paths";
import { publicDevice, publicUser, readIdentities, type IdentitiesFile, type StoredDevice, type StoredUser } from "./records";
import type { DeviceRecord, Identity, IdentityDirectory, IdentityDirectoryEvents, PemPair, UserRecord } from "./types";

export interface IdentityStoreOptions {
  /** Reload when the files change on disk (the broker's store does; a one-shot reader does not). */
  watch?: boolean;
  /** Quiet time after the last change before reloading (ms). */
  debounceMs?: number;
  /** The clock; kept for checks against the certificates' validity. */
  now?: () => number;
  /** A reload failed (a damaged file): the previous identities stay in force. */
  onError?: (err: Error) => void;
}

interface Snapshot {
  caCert: string;
  crl: string;
  file: IdentitiesFile;
  devices: Map<string, StoredDevice>;
  users: Map<string, StoredUser>;
  revoked: Set<string>;
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

function load(paths: IdentityPaths): Snapshot {
  const caCert = readText(paths.caCert);
  if (caCert === undefined) throw new IdentityError(`no CA in ${paths.dir} (run \`pifog ca init\`)`);
  const file = readIdentities(paths.identities);
  return {
    caCert,
    crl: readText(paths.crl) ?? "",
    file,
    devices: new Map(file.devices.map((d) => [d.id, d])),
    users: new Map(file.users.map((u) => [u.name, u])),
    revoked: new Set(file.revocations.map((r) => r.serial)),
  };
}

export class IdentityStore extends EventEmitter<IdentityDirectoryEvents> implements IdentityDirectory {
  private snapshot: Snapshot;
  private watcher: fs.FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Why the last reload kept the previous identities (damaged files), if it did. */
  lastError: Error | undefined;

  private constructor(
    readonly paths: IdentityPaths,
    snapshot: Snapshot,
    private readonly options: IdentityStoreOptions,
  ) {
    super();
    this.snapshot = snapshot;
  }

  /** Reads the identities in `dataDir`; throws an IdentityError when there is no CA or the files are damaged. */
  static async open(dataDir: string, options: IdentityStoreOptions = {}): Promise<IdentityStore> {
    const paths = identityPaths(dataDir);
    const store = new IdentityStore(paths, load(paths), options);
    if (options.watch) store.watch();
    return store;
  }

  get caCert(): string {
    return this.snapshot.caCert;
  }

  device(id: string): DeviceRecord | undefined {
    const d = this.snapshot.devices.get(id);
    return d && publicDevice(d);
  }

  devices(): DeviceRecord[] {
    return this.snapshot.file.devices.map(publicDevice);
  }

  users(): UserRecord[] {
    return this.snapshot.file.users.map(publicUser);
  }

  user(name: string): UserRecord | undefined {
    const u = this.snapshot.users.get(name);
    return u && publicUser(u);
  }

  isRevoked(serial: string): boolean {
    return this.snapshot.revoked.has(serial.toLowerCase());
  }

  crl(): string {
    return this.snapshot.crl;
  }

  /**
   * A user, or a device that has a password and is not revoked, whose password matches. One bcrypt comparison
   * whatever the name (an unknown name is compared against a dummy hash), so the time tells nothing.
   */
  async checkPassword(name: string, password: Buffer | string): Promise<Identity | null> {
    const text = typeof password === "string" ? password : password.toString("utf8");
    const user = this.snapshot.users.get(name);
    const device = user ? undefined : this.snapshot.devices.get(name);
    const ok = await checkBcrypt(text, user?.passwordHash ?? device?.passwordHash);
    if (!ok) return null;
    if (user) return { kind: "user", name: user.name, role: user.role };
    if (device && !device.revokedAt && !this.isRevoked(device.serial)) {
      return { kind: "device", id: device.id, role: device.role, via: "password", serial: device.serial };
    }
    return null;
  }

  serverTls(): PemPair {
    const cert = readText(this.paths.serverCert);
    const key = readText(this.paths.serverKey);
    if (cert === undefined || key === undefined) throw new IdentityError(`no server certificate in ${this.paths.dir} (ensureServerTls makes one)`);
    return { cert, key };
  }

  /** Reads the files again now; emits `revoked` for each device revoked since, then `changed` if anything did. */
  reload(): void {
    if (this.closed) return;
    let next: Snapshot;
    try {
      next = load(this.paths);
    } catch (err) {
      // a damaged edit by hand: keep what we had (nobody gets in who could not before) and say so
      this.lastError = err as Error;
      this.options.onError?.(err as Error);
      return;
    }
    this.lastError = undefined;
    const before = this.snapshot;
    this.snapshot = next;
    if (JSON.stringify(before.file) === JSON.stringify(next.file) && before.caCert === next.caCert && before.crl === next.crl) return;
    for (const r of next.file.revocations) {
      if (before.revoked.has(r.serial)) continue;
      // a renewal revokes the device's previous certificate: the record names the serial that was revoked
      const current = next.devices.get(r.id);
      if (current) this.emit("revoked", { ...publicDevice(current), serial: r.serial, revokedAt: r.revokedAt });
    }
    this.emit("changed");
  }

  private watch(): void {
    fs.mkdirSync(this.paths.dir, { recursive: true });
    this.watcher = fs.watch(this.paths.dir, { persistent: false }, (_event, name) => {
      // our writers' temp files and lock come and go: the rename onto the real name is what counts
      if (name && (String(name).endsWith(".tmp") || String(name) === ".lock")) return;
      this.schedule();
    });
    this.watcher.on("error", (err) => {
      this.lastError = err;
      this.options.onError?.(err);
    });
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.reload();
    }, this.options.debounceMs ?? 50);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }
}
