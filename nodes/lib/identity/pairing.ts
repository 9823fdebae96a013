// Pairing a Pi by a short code (issue 12), the hub's side: a Pi without an identity asks (its role, the id it
// suggests, its version, the public key it made), gets a code and a poll token; an admin enters the code on the
// Devices tab, names the device and picks its owner; the hub signs a certificate for the Pi's key (or makes a password
// login for a Pi that cannot do TLS), which the Pi fetches once with its poll token. Codes are single use and expire
// on the injected clock; requests and wrong codes are limited per address; every outcome goes to the audit.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Audit } from "../audit/audit";
import type { EmbeddedBroker } from "../broker/embedded-broker";
import type { Clock } from "../clock";
import { isTopicLevel, parseDeviceStatus, topics } from "../contract";
import { LoginThrottle } from "../security/throttle";
import { addPairedDevice, revokeDevice } from "./admin";
import type * as CaModule from "./ca";
import { IdentityError } from "./errors";
import { PairingError, type DeviceOverview, type PairingService, type PendingPairing } from "./pairing-types";
import { isDeviceRole } from "./paths";
import type { DeviceRecord, DeviceRole, IdentityDirectory } from "./types";

/** ca.ts, loaded on the first pairing (see admin.ts). */
function x509(): typeof CaModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("./ca") as typeof CaModule;
}

/** Letters and digits a person cannot confuse (no 0/O, 1/I/L): 32 of them, so a random byte maps evenly. */
export const CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const CODE_LENGTH = 8;
export const CODE_PATTERN = /^[A-Z2-9]{4}-[A-Z2-9]{4}$/;

export interface PairingLimits {
  /** How long a code is good for (10 minutes). */
  codeTtlMs: number;
  /** Pairing requests one address may make per `requestWindowMs` (10 per 10 minutes). */
  requestsPerAddress: number;
  requestWindowMs: number;
  /** Pairings waiting at once, from everyone (100): beyond, 503. */
  maxPending: number;
  /** Wrong codes (unknown, expired, used) one address may enter before it waits (5 in 15 minutes; a minute, doubling). */
  wrongCodes: number;
}

export const DEFAULT_PAIRING_LIMITS: PairingLimits = {
  codeTtlMs: 10 * 60_000,
  requestsPerAddress: 10,
  requestWindowMs: 10 * 60_000,
  maxPending: 100,
  wrongCodes: 5,
};

/** A refusal to wait: `retryAfterMs` becomes the route's Retry-After. */
export class PairingRateLimited extends PairingError {
  constructor(message: string, readonly retryAfterMs: number) {
    super(message, "rate-limited", 429);
  }
}

export type PairLogin = "certificate" | "password";

/** What a Pi sends to ask for a code (POST /api/pairing). */
export interface PairingRequestBody {
  role: DeviceRole;
  suggestedId: string;
  version: string;
  /** SPKI PEM of the ECDSA P-256 key the Pi made; required for a certificate login. */
  publicKey?: string;
  login: PairLogin;
}

/** The hub's answer: what the Pi prints and keeps. */
export interface PairingTicket {
  id: string;
  code: string;
  pollToken: string;
  expiresAt: number;
  caCert: string;
  caFingerprint: string;
}

/** What a Pi's poll gets (GET /api/pairing/:id); a refusal is a PairingError. */
export type PollAnswer =
  | { state: "pending"; expiresAt: number; message: string }
  | {
      state: "approved";
      device: { id: string; role: DeviceRole; owner: string };
      login: PairLogin;
      /** Its certificate (certificate login). */
      cert?: string;
      ca: string;
      /** Its login (password login): user name = device id. */
      username?: string;
      password?: string;
      /** The hub's MQTTS and MQTT ports, to write the Pi's hub.json. */
      mqttsPort?: number;
      mqttPort?: number;
      /** The hub's device HTTPS port (clip uploads), for hub.json's deviceUrl. */
      deviceHttpsPort?: number;
      message: string;
    };

interface Entry {
  id: string;
  code: string;
  tokenHash: Buffer;
  request: PairingRequestBody;
  address: string;
  requestedAt: number;
  expiresAt: number;
  state: "pending" | "approving" | "approved" | "fetched" | "expired";
  device?: { id: string; owner: string; cert: string; ca: string; password?: string };
}

const hash = (token: string) => createHash("sha256").update(token, "utf8").digest();

/** A code as an admin may type it (lower case, spaces, no dash) in the form the Pi shows: XXXX-XXXX. */
export function normaliseCode(typed: string): string {
  const bare = typed.toUpperCase().replace(/[\s-]/g, "");
  return bare.length === CODE_LENGTH ? `${bare.slice(0, 4)}-${bare.slice(4)}` : bare;
}

/** For the record: enough to tell attempts apart, never enough to use (the first two characters). */
export function maskedCode(code: string): string {
  return `${code.slice(0, 2)}**-****`;
}

export interface HubPairingOptions {
  dataDir: string;
  clock: Pick<Clock, "now">;
  audit: Pick<Audit, "record">;
  /** The runtime's identity store: read for devices and users, reloaded after each change so the broker sees it at once. */
  directory: IdentityDirectory & { reload?(): void; user?(name: string): unknown };
  /** The embedded broker's ports, for the Pi's hub.json. */
  ports: () => { mqtts?: number; mqtt?: number; deviceHttps?: number };
  limits?: Partial<PairingLimits>;
  /** Randomness (tests pass their own). */
  random?: (bytes: number) => Buffer;
}

interface Presence {
  connections: number;
  lastSeen?: number;
  version?: string;
}

export class HubPairing implements PairingService {
  readonly limits: PairingLimits;
  private readonly entries = new Map<string, Entry>();
  private readonly byCode = new Map<string, Entry>();
  private readonly requests = new Map<string, { start: number; count: number }>();
  private readonly wrongCodes: LoginThrottle;
  private readonly presence = new Map<string, Presence>();
  private readonly random: (bytes: number) => Buffer;

  constructor(private readonly o: HubPairingOptions) {
    this.limits = { ...DEFAULT_PAIRING_LIMITS, ...o.limits };
    this.random = o.random ?? randomBytes;
    const now = () => o.clock.now();
    const wrong = { maxFailures: this.limits.wrongCodes, windowMs: 15 * 60_000, lockMs: 60_000, maxLockMs: 60 * 60_000 };
    this.wrongCodes = new LoginThrottle({ perAddress: wrong, perUser: wrong, maxEntries: 10_000, now });
  }

  caFingerprint(): string {
    return x509().fingerprint(this.o.directory.caCert);
  }

  // ---- the Pi's side ---------------------------------------------------------------------------------------------

  /** A Pi asks to be paired: a code, a poll token (shown once) and the CA to compare. */
  async request(body: unknown, address: string): Promise<PairingTicket> {
    const now = this.o.clock.now();
    this.prune(now);
    const window = this.requests.get(address);
    if (window && now - window.start < this.limits.requestWindowMs && window.count >= this.limits.requestsPerAddress) {
      const retryAfterMs = window.start + this.limits.requestWindowMs - now;
      this.o.audit.record({ event: "pairing.throttled", via: "http", who: address, reason: `more than ${this.limits.requestsPerAddress} pairing requests from ${address} within ${Math.round(this.limits.requestWindowMs / 60_000)} minutes` });
      throw new PairingRateLimited(`too many pairing requests from ${address}: try again in ${Math.ceil(retryAfterMs / 1000)} s`, retryAfterMs);
    }
    if (!window || now - window.start >= this.limits.requestWindowMs) {
      if (this.requests.size >= 10_000) this.requests.delete(this.requests.keys().next().value!);
      this.requests.set(address, { start: now, count: 1 });
    } else window.count++;
    let request: PairingRequestBody;
    try {
      request = await validRequest(body);
    } catch (err) {
      this.o.audit.record({ event: "pairing.request.refused", via: "http", who: address, reason: (err as Error).message });
      throw err;
    }
    if ([...this.entries.values()].filter((e) => e.state === "pending").length >= this.limits.maxPending) {
      this.o.audit.record({ event: "pairing.request.refused", via: "http", who: address, reason: "too many pairings waiting" });
      throw new PairingError(`${this.limits.maxPending} Pis are waiting to be paired already: approve or let them expire first`, "busy", 503);
    }
    let code: string;
    do code = this.newCode();
    while (this.byCode.has(code));
    const pollToken = this.random(32).toString("base64url");
    const entry: Entry = {
      id: this.random(16).toString("hex"),
      code,
      tokenHash: hash(pollToken),
      request,
      address,
      requestedAt: now,
      expiresAt: now + this.limits.codeTtlMs,
      state: "pending",
    };
    this.entries.set(entry.id, entry);
    this.byCode.set(code, entry);
    this.o.audit.record({
      event: "pairing.requested",
      via: "http",
      who: address,
      reason: `a ${request.role} Pi ("${request.suggestedId}", PiFog ${request.version}) asks to be paired (${request.login})`,
      pairing: entry.id,
      code: maskedCode(code),
    });
    const caCert = this.o.directory.caCert;
    return { id: entry.id, code, pollToken, expiresAt: entry.expiresAt, caCert, caFingerprint: x509().fingerprint(caCert) };
  }

  /** A Pi's poll: pending until approved; the identity once (then the request is forgotten). */
  poll(id: string, pollToken: string, address: string): PollAnswer {
    const now = this.o.clock.now();
    const entry = this.entries.get(id);
    const refuse = (err: PairingError): never => {
      this.o.audit.record({ event: "pairing.poll.refused", via: "http", who: address, reason: err.message, pairing: id.slice(0, 64) });
      throw err;
    };
    if (!entry) return refuse(new PairingError("no such pairing request (it expired, was fetched already, or the hub restarted): ask for a new code", "unknown-request", 404));
    const given = hash(pollToken);
    if (!timingSafeEqual(given, entry.tokenHash)) return refuse(new PairingError("wrong poll token for this pairing request", "bad-token", 401));
    this.expire(entry, now);
    switch (entry.state) {
      case "expired":
        return refuse(new PairingError(`the code ${entry.code} expired (no admin entered it within ${Math.round(this.limits.codeTtlMs / 60_000)} minutes): ask for a new one`, "expired", 410));
      case "fetched":
        return refuse(new PairingError("this identity was fetched already", "used", 410));
      case "pending":
      case "approving":
        return { state: "pending", expiresAt: entry.expiresAt, message: "waiting for an admin to enter the code on the Devices tab" };
      case "approved": {
        const d = entry.device!;
        const ports = this.o.ports();
        entry.state = "fetched";
        const answer: PollAnswer = {
          state: "approved",
          device: { id: d.id, role: entry.request.role, owner: d.owner },
          login: entry.request.login,
          ca: d.ca,
          ...(entry.request.login === "certificate" ? { cert: d.cert } : { username: d.id, password: d.password }),
          ...(ports.mqtts ? { mqttsPort: ports.mqtts } : {}),
          ...(ports.mqtt ? { mqttPort: ports.mqtt } : {}),
          ...(ports.deviceHttps ? { deviceHttpsPort: ports.deviceHttps } : {}),
          message: `paired as "${d.id}" (owner ${d.owner})`,
        };
        // the password was only ever for this one answer
        delete d.password;
        this.o.audit.record({ event: "pairing.fetched", via: "http", who: address, reason: `device "${d.id}" fetched its identity`, pairing: entry.id, device: d.id });
        return answer;
      }
    }
  }

  // ---- the admin's side ------------------------------------------------------------------------------------------

  pending(): PendingPairing[] {
    const now = this.o.clock.now();
    this.prune(now);
    return [...this.entries.values()]
      .filter((e) => e.state === "pending")
      .map((e) => ({
        // masked: the whole code is read off the Pi by the person standing at it, never off the hub
        code: maskedCode(e.code),
        role: e.request.role,
        suggestedId: e.request.suggestedId,
        version: e.request.version,
        address: e.address,
        requestedAt: e.requestedAt,
        expiresAt: e.expiresAt,
      }));
  }

  async approve(typed: string, o: { id: string; owner: string; by: string; address: string }): Promise<DeviceOverview> {
    const now = this.o.clock.now();
    const code = normaliseCode(String(typed ?? "").slice(0, 32));
    const refuse = (err: PairingError, extra: Record<string, unknown> = {}): never => {
      this.o.audit.record({ event: "pairing.refused", via: "http", who: `user:${o.by} from ${o.address}`, reason: err.message, outcome: err.code, code: maskedCode(code), ...extra });
      throw err;
    };
    const admission = this.wrongCodes.admit(o.address, o.by);
    if (!admission.allowed) {
      const err = new PairingRateLimited(`too many wrong codes from ${o.address}: try again in ${Math.ceil(admission.retryAfterMs / 1000)} s`, admission.retryAfterMs);
      this.o.audit.record({ event: "pairing.throttled", via: "http", who: `user:${o.by} from ${o.address}`, reason: err.message });
      throw err;
    }
    const attempt = admission.attempt;
    this.prune(now);
    const entry = CODE_PATTERN.test(code) ? this.byCode.get(code) : undefined;
    if (!entry) {
      attempt.wrong();
      return refuse(new PairingError("no Pi is waiting with that code: check it on the Pi's console (8 letters and digits, XXXX-XXXX)", "unknown-code", 404));
    }
    this.expire(entry, now);
    if (entry.state === "expired") {
      attempt.wrong();
      return refuse(new PairingError(`that code expired at ${new Date(entry.expiresAt).toISOString()}: the Pi asks for a new one, enter the code it shows now`, "expired", 410), { pairing: entry.id });
    }
    if (entry.state !== "pending") {
      attempt.wrong();
      return refuse(new PairingError("that code was used already: each code pairs one Pi once", "used", 409), { pairing: entry.id });
    }
    // the code is right: what follows is about the name and the owner, and the admin may try again with the same code
    attempt.right();
    const id = String(o.id ?? "").trim() || entry.request.suggestedId;
    const owner = String(o.owner ?? "").trim();
    if (!isTopicLevel(id)) return refuse(new PairingError(`"${id.slice(0, 80)}" is not a device name (1..64 letters, digits, _ . -)`, "bad-request", 400), { pairing: entry.id });
    if (!owner || !this.o.directory.users().some((u) => u.name === owner)) return refuse(new PairingError(`"${owner.slice(0, 80)}" is not a user: pick the owner among the users`, "unknown-owner", 400), { pairing: entry.id });
    const taken = this.o.directory.device(id) ?? (this.o.directory.users().some((u) => u.name === id) ? true : undefined);
    if (taken) return refuse(new PairingError(`the name "${id}" is taken (a device or a user has it): choose another`, "name-taken", 409), { pairing: entry.id });
    entry.state = "approving";
    const password = entry.request.login === "password" ? this.random(24).toString("base64url") : undefined;
    let issued: { device: DeviceRecord; cert: string; ca: string };
    try {
      issued = await addPairedDevice(this.o.dataDir, id, entry.request.role, {
        publicKey: entry.request.publicKey,
        password,
        owner,
        now: new Date(now),
      });
    } catch (err) {
      entry.state = "pending";
      if (err instanceof IdentityError) {
        const taken = /exists|user's name/.test(err.message);
        return refuse(new PairingError(err.message, taken ? "name-taken" : "unknown-owner", taken ? 409 : 400), { pairing: entry.id });
      }
      throw err;
    }
    entry.state = "approved";
    entry.device = { id, owner, cert: issued.cert, ca: issued.ca, ...(password ? { password } : {}) };
    // the broker's store reloads now, not after its file watcher's debounce: the Pi may connect the moment it fetches
    this.o.directory.reload?.();
    this.o.audit.record({
      event: "pairing.approved",
      via: "http",
      who: `user:${o.by} from ${o.address}`,
      reason: `paired a ${entry.request.role} Pi from ${entry.address} as "${id}", owner ${owner} (${entry.request.login})`,
      pairing: entry.id,
      device: id,
      serial: issued.device.serial,
    });
    return this.overview(issued.device);
  }

  devices(): DeviceOverview[] {
    return this.o.directory.devices().map((d) => this.overview(d));
  }

  async revoke(id: string, o: { by: string; address: string }): Promise<DeviceOverview> {
    const who = `user:${o.by} from ${o.address}`;
    let record: DeviceRecord;
    try {
      record = await revokeDevice(this.o.dataDir, String(id), new Date(this.o.clock.now()));
    } catch (err) {
      if (!(err instanceof IdentityError)) throw err;
      const missing = /^no device/.test(err.message);
      const refusal = new PairingError(err.message, missing ? "unknown-device" : "revoked", missing ? 404 : 409);
      this.o.audit.record({ event: "device.revoke.refused", via: "http", who, reason: err.message, device: String(id).slice(0, 64) });
      throw refusal;
    }
    // the broker drops its connections now (the store emits `revoked`)
    this.o.directory.reload?.();
    this.o.audit.record({ event: "device.revoked", via: "http", who, reason: `device "${record.id}" revoked (serial ${record.serial})`, device: record.id });
    return this.overview(record);
  }

  close(): void {
    this.entries.clear();
    this.byCode.clear();
  }

  // ---- what the broker tells ---------------------------------------------------------------------------------

  sawConnect(device: string): void {
    const p = this.presenceOf(device);
    p.connections++;
    p.lastSeen = this.o.clock.now();
  }

  sawDisconnect(device: string): void {
    const p = this.presenceOf(device);
    p.connections = Math.max(0, p.connections - 1);
    p.lastSeen = this.o.clock.now();
  }

  sawMessage(device: string): void {
    this.presenceOf(device).lastSeen = this.o.clock.now();
  }

  sawVersion(device: string, version: string): void {
    this.presenceOf(device).version = version.slice(0, 64);
  }

  private presenceOf(device: string): Presence {
    let p = this.presence.get(device);
    if (!p) {
      // bounded: only enrolled devices are followed (the broker admits no other device identity)
      if (this.presence.size >= 10_000) this.presence.delete(this.presence.keys().next().value!);
      p = { connections: 0 };
      this.presence.set(device, p);
    }
    return p;
  }

  private overview(d: DeviceRecord): DeviceOverview {
    const p = this.presence.get(d.id);
    return {
      id: d.id,
      role: d.role,
      ...(d.owner ? { owner: d.owner } : {}),
      online: !d.revokedAt && (p?.connections ?? 0) > 0,
      ...(p?.lastSeen !== undefined ? { lastSeen: p.lastSeen } : {}),
      notAfter: d.notAfter,
      ...(p?.version ? { version: p.version } : {}),
      ...(d.revokedAt ? { revokedAt: d.revokedAt } : {}),
      login: d.password ? "password" : "certificate",
    };
  }

  // ---- codes -------------------------------------------------------------------------------------------------

  private newCode(): string {
    const bytes = this.random(CODE_LENGTH);
    let code = "";
    for (let i = 0; i < CODE_LENGTH; i++) code += CODE_ALPHABET[bytes[i]! % CODE_ALPHABET.length];
    return `${code.slice(0, 4)}-${code.slice(4)}`;
  }

  private expire(entry: Entry, now: number): void {
    if (entry.state === "pending" && now >= entry.expiresAt) {
      entry.state = "expired";
      this.o.audit.record({ event: "pairing.expired", via: "http", who: entry.address, reason: `the code for "${entry.request.suggestedId}" expired unused`, pairing: entry.id, code: maskedCode(entry.code) });
    }
  }

  /** Codes are remembered one more lifetime after they end, so a late entry is told "expired" or "used", not "unknown". */
  private prune(now: number): void {
    for (const entry of this.entries.values()) {
      this.expire(entry, now);
      if (now >= entry.expiresAt + this.limits.codeTtlMs) {
        this.entries.delete(entry.id);
        if (this.byCode.get(entry.code) === entry) this.byCode.delete(entry.code);
      }
    }
  }
}

async function validRequest(body: unknown): Promise<PairingRequestBody> {
  const bad = (what: string): never => {
    throw new PairingError(what, "bad-request", 400);
  };
  if (typeof body !== "object" || body === null || Array.isArray(body)) bad("send a JSON object: {role, suggestedId, version, publicKey, login}");
  const b = body as Record<string, unknown>;
  if (typeof b.role !== "string" || !isDeviceRole(b.role)) bad(`"role" must be a Pi's role (not all or a missing one)`);
  if (typeof b.suggestedId !== "string" || !isTopicLevel(b.suggestedId)) bad(`"suggestedId" must be a device id (1..64 letters, digits, _ . -)`);
  if (typeof b.version !== "string" || !/^[\x20-\x7e]{1,64}$/.test(b.version)) bad(`"version" must be 1..64 printable characters`);
  const login = b.login === undefined ? "certificate" : b.login;
  if (login !== "certificate" && login !== "password") bad(`"login" must be "certificate" or "password"`);
  let publicKey: string | undefined;
  if (b.publicKey !== undefined && b.publicKey !== null) {
    if (typeof b.publicKey !== "string" || b.publicKey.length > 2048) bad(`"publicKey" must be an SPKI PEM public key`);
    try {
      await x509().importPublicKey(b.publicKey as string);
    } catch (err) {
      bad(`"publicKey": ${(err as Error).message}`);
    }
    publicKey = b.publicKey as string;
  }
  if (login === "certificate" && !publicKey) bad(`a Pi pairing with a certificate sends "publicKey" (the ECDSA P-256 key it made)`);
  return { role: b.role as DeviceRole, suggestedId: b.suggestedId as string, version: b.version as string, login: login as PairLogin, ...(publicKey ? { publicKey } : {}) };
}

/**
 * Follows the embedded broker for the Devices tab: who is connected (by the identity the broker gave the connection,
 * so a device's extra connections count as it), when each was last heard, and the version its retained status
 * names. Returns the function that stops following.
 */
export function followBroker(pairing: HubPairing, broker: Pick<EmbeddedBroker, "aedes" | "guard" | "localSubscribe">): () => void {
  const devices = new WeakMap<object, string>();
  const onClient = (client: object) => {
    const identity = broker.guard.identityOf(client as never);
    if (identity?.kind !== "device") return;
    devices.set(client, identity.id);
    pairing.sawConnect(identity.id);
  };
  const onDisconnect = (client: object) => {
    const id = devices.get(client);
    if (id === undefined) return;
    devices.delete(client);
    pairing.sawDisconnect(id);
  };
  const onPublish = (_packet: unknown, client: object | null) => {
    const id = client ? devices.get(client) : undefined;
    if (id !== undefined) pairing.sawMessage(id);
  };
  const aedes = broker.aedes as unknown as { on(e: string, f: (...a: never[]) => void): void; off(e: string, f: (...a: never[]) => void): void };
  aedes.on("client", onClient);
  aedes.on("clientDisconnect", onDisconnect);
  aedes.on("publish", onPublish);
  const stopStatus = broker.localSubscribe(topics.anyStatus(), (topic, payload) => {
    try {
      const status = parseDeviceStatus(payload);
      // a device may only publish its own status (the ACL), and the topic names it
      if (status.state === "online" && topic === topics.status(status.device) && typeof status.version === "string") pairing.sawVersion(status.device, status.version);
    } catch {
      // not a status: nothing to show
    }
  });
  return () => {
    aedes.off("client", onClient);
    aedes.off("clientDisconnect", onDisconnect);
    aedes.off("publish", onPublish);
    stopStatus();
  };
}
