// Accounts and their devices (detectordag's DynamoDB table and IoT things, kept locally in SQLite):
// who owns which power Pi, who gets its e-mails, and each device's last power and connection status.
import crypto from "node:crypto";
import type { ConnectionStatus, MainsState } from "../contract";
import { checkPassword, hashPassword } from "../security/passwords";
import { dataDatabase, type DatabaseHandle, type SqlitePool } from "../store/sqlite";

export interface Account {
  id: string;
  username: string;
  emails: string[];
}

export interface DeviceRecord {
  id: string;
  name: string;
  accountId: string | null;
  power: MainsState | null;
  /** ms since the epoch, or null. */
  powerUpdated: number | null;
  connection: ConnectionStatus | null;
  connectionUpdated: number | null;
  /** When it was attached to its account (ms since the epoch), or null for a device no account holds. */
  attachedAt: number | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS accounts (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  emails TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS devices (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  account_id TEXT REFERENCES accounts(id) ON DELETE SET NULL,
  power TEXT,
  power_updated INTEGER,
  connection TEXT,
  connection_updated INTEGER,
  attached_at INTEGER
);
CREATE INDEX IF NOT EXISTS devices_account ON devices(account_id);
`;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export class AccountError extends Error {}

export function validEmails(emails: unknown): string[] {
  if (!Array.isArray(emails) || emails.some((e) => typeof e !== "string" || !EMAIL.test(e) || e.length > 254)) {
    throw new AccountError("emails must be a list of e-mail addresses");
  }
  return [...new Set(emails as string[])];
}

interface AccountRow {
  id: string;
  username: string;
  password_hash: string;
  emails: string;
}
interface DeviceRow {
  id: string;
  name: string;
  account_id: string | null;
  power: string | null;
  power_updated: number | null;
  connection: string | null;
  connection_updated: number | null;
  attached_at: number | null;
}

const toAccount = (r: AccountRow): Account => ({ id: r.id, username: r.username, emails: JSON.parse(r.emails) as string[] });
const toDevice = (r: DeviceRow): DeviceRecord => ({
  id: r.id,
  name: r.name,
  accountId: r.account_id,
  power: (r.power as MainsState | null) ?? null,
  powerUpdated: r.power_updated,
  connection: (r.connection as ConnectionStatus | null) ?? null,
  connectionUpdated: r.connection_updated,
  attachedAt: r.attached_at ?? null,
});

export class AccountStore {
  private readonly handle: DatabaseHandle;

  /** `pool`: the runtime's open database files, shared with its other users (else a connection of its own). */
  constructor(dataDir: string, pool?: SqlitePool) {
    this.handle = dataDatabase(dataDir, "accounts", pool);
    this.handle.db.exec(SCHEMA);
    const columns = this.handle.db.prepare("PRAGMA table_info(devices)").all() as Array<{ name: string }>;
    if (!columns.some((c) => c.name === "attached_at")) {
      // a store from before attach times: its attached devices count from the day this version opened it
      this.handle.db.exec("ALTER TABLE devices ADD COLUMN attached_at INTEGER");
      this.handle.db.prepare("UPDATE devices SET attached_at = ? WHERE account_id IS NOT NULL").run(Date.now());
    }
  }

  private get db() {
    return this.handle.db;
  }

  /** Hashing runs on libuv's thread pool: the event loop (the broker, the door) goes on meanwhile. */
  async createAccount(username: string, password: string, emails: string[] = []): Promise<Account> {
    if (!username || username.length > 254) throw new AccountError("username is required");
    if (!password || password.length < 8) throw new AccountError("password must be at least 8 characters");
    const list = validEmails(emails);
    const id = crypto.randomUUID();
    const hash = await hashPassword(password);
    try {
      this.db
        .prepare("INSERT INTO accounts (id, username, password_hash, emails) VALUES (?, ?, ?, ?)")
        .run(id, username, hash, JSON.stringify(list));
    } catch (err) {
      if (/UNIQUE/.test((err as Error).message)) throw new AccountError(`username ${username} is taken`);
      throw err;
    }
    return { id, username, emails: list };
  }

  /**
   * The account when the password is right, else null, in the same time for an unknown user. The check runs on
   * libuv's thread pool, so a flood of sign-ins never stalls the event loop.
   */
  async verify(username: string, password: string): Promise<Account | null> {
    const row = this.db.prepare("SELECT * FROM accounts WHERE username = ?").get(username) as AccountRow | undefined;
    return (await checkPassword(password, row?.password_hash)) && row ? toAccount(row) : null;
  }

  account(id: string): Account | null {
    const row = this.db.prepare("SELECT * FROM accounts WHERE id = ?").get(id) as AccountRow | undefined;
    return row ? toAccount(row) : null;
  }

  accountByUsername(username: string): Account | null {
    const row = this.db.prepare("SELECT * FROM accounts WHERE username = ?").get(username) as AccountRow | undefined;
    return row ? toAccount(row) : null;
  }

  accounts(): Account[] {
    return (this.db.prepare("SELECT * FROM accounts ORDER BY username").all() as AccountRow[]).map(toAccount);
  }

  setEmails(accountId: string, emails: unknown): Account {
    const list = validEmails(emails);
    const changed = this.db.prepare("UPDATE accounts SET emails = ? WHERE id = ?").run(JSON.stringify(list), accountId).changes;
    if (changed === 0) throw new AccountError(`no account ${accountId}`);
    return this.account(accountId)!;
  }

  async setPassword(accountId: string, password: string): Promise<void> {
    if (!password || password.length < 8) throw new AccountError("password must be at least 8 characters");
    const hash = await hashPassword(password);
    this.db.prepare("UPDATE accounts SET password_hash = ? WHERE id = ?").run(hash, accountId);
  }

  /**
   * Attaches a device to an account (making the device record if needed) at `at` (ms since the epoch): what the
   * API says of a device the hub has not heard from yet is dated from then. Attaching it again to the same
   * account keeps the first time.
   */
  attachDevice(accountId: string, deviceId: string, name?: string, at: number = Date.now()): DeviceRecord {
    if (!this.account(accountId)) throw new AccountError(`no account ${accountId}`);
    this.db
      .prepare(
        `INSERT INTO devices (id, name, account_id, attached_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET
           attached_at = CASE WHEN devices.account_id IS excluded.account_id THEN coalesce(devices.attached_at, excluded.attached_at)
                              ELSE excluded.attached_at END,
           account_id = excluded.account_id, name = coalesce(?, devices.name)`,
      )
      .run(deviceId, name ?? deviceId, accountId, at, name ?? null);
    return this.device(deviceId)!;
  }

  device(id: string): DeviceRecord | null {
    const row = this.db.prepare("SELECT * FROM devices WHERE id = ?").get(id) as DeviceRow | undefined;
    return row ? toDevice(row) : null;
  }

  devicesOf(accountId: string): DeviceRecord[] {
    return (this.db.prepare("SELECT * FROM devices WHERE account_id = ? ORDER BY name, id").all(accountId) as DeviceRow[]).map(toDevice);
  }

  /** Every device the store knows, attached or not. */
  allDevices(): DeviceRecord[] {
    return (this.db.prepare("SELECT * FROM devices ORDER BY id").all() as DeviceRow[]).map(toDevice);
  }

  renameDevice(id: string, name: string): DeviceRecord {
    if (typeof name !== "string" || name.trim() === "" || name.length > 128) throw new AccountError("name must be 1..128 characters");
    const changed = this.db.prepare("UPDATE devices SET name = ? WHERE id = ?").run(name.trim(), id).changes;
    if (changed === 0) throw new AccountError(`no device ${id}`);
    return this.device(id)!;
  }

  /** Records a device's power status (making an unattached device record if it is new). */
  setPower(id: string, power: MainsState, at: number): void {
    this.db
      .prepare(
        `INSERT INTO devices (id, name, power, power_updated) VALUES (?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET power = excluded.power, power_updated = excluded.power_updated`,
      )
      .run(id, id, power, at);
  }

  setConnection(id: string, status: ConnectionStatus, at: number): void {
    this.db
      .prepare(
        `INSERT INTO devices (id, name, connection, connection_updated) VALUES (?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET connection = excluded.connection, connection_updated = excluded.connection_updated`,
      )
      .run(id, id, status, at);
  }

  /** Who gets a device's e-mails: every address of its account. */
  recipients(deviceId: string): string[] {
    const device = this.device(deviceId);
    if (!device?.accountId) return [];
    return this.account(device.accountId)?.emails ?? [];
  }

  close(): void {
    this.handle.release();
  }
}
