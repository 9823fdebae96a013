// Who a client of the embedded broker is, and what it may do (issue 11):
// - at CONNECT the connection gets an identity (../identity/types.ts): a device by its client certificate on the TLS
//   listener (the client id must be the certificate's CN, or `<CN>:<label>` for its extra connections), a user or a
//   password device by name and password (throttled per address), the runtime's own links by its internal user, or
//   anonymous from an address PIFOG_BROKER_ANONYMOUS allows; anything else is refused the way MQTT 3.1.1 says
//   (CONNACK 2 identifier rejected, 4 bad user name or password, 5 not authorised);
// - a client id that names an enrolled device is only taken from that device; a connected client id is not taken
//   over by another identity (a device's reconnect, as itself, does take over);
// - every PUBLISH, SUBSCRIBE and delivery is checked against acl.ts: a refused PUBLISH closes the connection (3.1.1 has
//   no negative PUBACK), a refused filter is SUBACK 0x80 (the others granted), a delivery the identity may not read
//   (`$SYS` for all but admins) is not made;
// - every command is stamped with its sender (`from`: `mqtt:<client id>`, `sender`: the identity), overwriting what
//   the sender wrote, so whoever acts on it knows who sent it without believing the payload;
// - a revoked device's connections are dropped at once, and its certificate refused from then on.
// Each refusal goes to the audit record through a RefusalRecorder, so a flood of them stays a few lines.
import { CertificateRefused, deviceOfCertificate, normalSerial } from "../identity/device-certificate";
import type { AedesPublishPacket, AuthenticateError, Client, ConnectPacket, PublishPacket, Subscription } from "aedes";
import { timingSafeEqual } from "node:crypto";
import type { Audit, AuditEvent } from "../audit/audit";
import { haTopics, isCommandTopic, mqttSender, stampCommand, type CommandSender } from "../contract";
import { haConfigTopics } from "../homeassistant/config-topics";
import { topicMatches } from "../mqtt/topic-filter";
import type { DeviceRecord, Identity, IdentityDirectory } from "../identity/types";
import { clientAddress, type LoginThrottle } from "../security/throttle";
import { canPublish, canRead, canSubscribe, DEFAULT_ACL_POLICY, describeIdentity, type AclPolicy } from "./acl";
import { anonymousAllowed, describeAnonymous, type AnonymousSetting } from "./anonymous";

type AuthenticateCallback = (error: AuthenticateError | null, success: boolean | null) => void;

/** CONNACK return codes of MQTT 3.1.1 (aedes' AuthErrorCode is a const enum: its values here). */
export const CONNACK = { IDENTIFIER_REJECTED: 2, BAD_USERNAME_OR_PASSWORD: 4, NOT_AUTHORIZED: 5 } as const;
type RefusalCode = (typeof CONNACK)[keyof typeof CONNACK];

/** The runtime's own connections (its device links, its flows' MQTT nodes) log in as this user, with a password made
 * fresh by each broker start and never written anywhere: it is the runtime itself, so it may do everything. */
export const RUNTIME_USER = "pifog-runtime";
export const RUNTIME_IDENTITY: Identity = { kind: "user", name: RUNTIME_USER, role: "admin" };

export interface Credentials {
  username: string;
  password: string;
}

/** What the listener knows of a connection before its CONNECT. */
export interface ConnectionInfo {
  via: "mqtt" | "mqtts" | "mqtt-ws";
  /** The peer's IP address. */
  address: string;
  /** A TLS client's verified certificate: its subject CN and serial (lower-case hex). */
  certificate?: { cn: string; serial: string };
}

/** A certificate serial as hex to compare: lower case, no separators, no leading zeros. */
export { normalSerial };

/** The address a client connected from (TCP, or the HTTP request of a WebSocket). */
export function addressOf(client: Client): string {
  const c = client as unknown as { conn?: { remoteAddress?: string }; req?: { socket?: { remoteAddress?: string } } };
  return c.conn?.remoteAddress ?? c.req?.socket?.remoteAddress ?? "unknown";
}

/** At most one audit record and one log line per key in a window, with a count of what was held back, so a
 * flood of refusals cannot wash the audit record out. */
export class RefusalRecorder {
  private readonly recent = new Map<string, { until: number; held: number }>();

  constructor(
    private readonly audit: Pick<Audit, "record"> | null,
    private readonly now: () => number = Date.now,
    private readonly windowMs = 10_000,
    private readonly log: (line: string) => void = (line) => console.warn(line),
  ) {}

  refuse(key: string, event: AuditEvent): void {
    const now = this.now();
    const seen = this.recent.get(key);
    if (seen && seen.until > now) {
      seen.held++;
      return;
    }
    if (this.recent.size >= 1000) {
      for (const [k, v] of this.recent) if (v.until <= now) this.recent.delete(k);
      if (this.recent.size >= 1000) this.recent.clear();
    }
    const held = seen?.held ?? 0;
    this.recent.set(key, { until: now + this.windowMs, held: 0 });
    const record = held > 0 ? { ...event, alsoRefusedBefore: held } : event;
    this.log(`PiFog: ${event.event}: ${event.reason}${held > 0 ? ` (and ${held} more like it)` : ""}`);
    this.audit?.record(record);
  }
}

export interface ClientGuardOptions {
  /** The broker's connected clients by id (aedes' `clients`). */
  clients: () => Record<string, Client | undefined>;
  refusals: RefusalRecorder;
  /** The enrolled devices and users; without it only the runtime's user and anonymous clients connect. */
  identities?: IdentityDirectory | null;
  /** Who may connect without credentials (default loopback). */
  anonymous?: AnonymousSetting;
  /** Wrong passwords per address (and per user name from it); none: not limited. */
  throttle?: LoginThrottle | null;
  /** The runtime's own user (RUNTIME_USER and its password of this start). */
  runtime?: Credentials | null;
  /** What the ACL leaves to the configuration (the Home Assistant discovery prefix); default DEFAULT_ACL_POLICY. */
  policy?: AclPolicy;
}

function principal(identity: Identity): string {
  switch (identity.kind) {
    case "device":
      return `device:${identity.id}`;
    case "user":
      return `user:${identity.name}`;
    case "anonymous":
      return `anonymous:${identity.address}`;
  }
}

function senderOf(identity: Identity): CommandSender {
  switch (identity.kind) {
    case "device":
      return { kind: "device", name: identity.id, role: identity.role };
    case "user":
      return { kind: "user", name: identity.name, role: identity.role };
    case "anonymous":
      return { kind: "anonymous", name: identity.address };
  }
}

function sameSecret(given: Buffer, expected: string): boolean {
  const e = Buffer.from(expected);
  return given.length === e.length && timingSafeEqual(given, e);
}

class Refused extends Error {
  constructor(
    readonly code: RefusalCode,
    readonly event: string,
    readonly reason: string,
    readonly key: string,
  ) {
    super(reason);
  }
}

export class ClientGuard {
  private readonly identities = new WeakMap<Client, Identity>();
  private readonly connections = new WeakMap<object, ConnectionInfo>();
  private readonly connects = new WeakMap<Client, { clientId: string; clean: boolean }>();
  private readonly anonymousOk: (address: string | undefined) => boolean;
  private readonly loopback = anonymousAllowed("loopback");

  constructor(private readonly o: ClientGuardOptions) {
    this.anonymousOk = anonymousAllowed(o.anonymous ?? "loopback");
  }

  /** The listener registers each connection it hands to aedes (the stream aedes gets as `client.conn`). */
  registerConnection(conn: object, info: ConnectionInfo): void {
    this.connections.set(conn, info);
  }

  /** The identity a connected client was given, or undefined before its CONNECT was accepted. */
  identityOf(client: Client): Identity | undefined {
    return this.identities.get(client);
  }

  private connectionOf(client: Client): ConnectionInfo {
    const known = this.connections.get(client.conn);
    if (known) return known;
    return { via: client.req ? "mqtt-ws" : "mqtt", address: addressOf(client) };
  }

  /** Who, for the record: the identity once known, else the client id and the address. */
  private who(client: Client, identity?: Identity): string {
    const { address } = this.connectionOf(client);
    return identity ? `${mqttSender(client.id)} (${describeIdentity(identity)}) from ${address}` : `${mqttSender(client.id)} from ${address}`;
  }

  /** aedes' preConnect: notes what aedes does not keep of the CONNECT (an empty client id becomes a generated one). */
  preConnect(client: Client, packet: ConnectPacket, callback: (error: Error | null, success: boolean) => void): void {
    this.connects.set(client, { clientId: packet.clientId ?? "", clean: packet.clean !== false });
    callback(null, true);
  }

  /** aedes' authenticate. */
  authenticate(client: Client, username: string | undefined, password: Buffer | undefined, callback: AuthenticateCallback): void {
    this.admit(client, username, password).then(
      (identity) => {
        this.identities.set(client, identity);
        callback(null, true);
      },
      (err: unknown) => {
        const info = this.connectionOf(client);
        const refused = err instanceof Refused ? err : new Refused(CONNACK.NOT_AUTHORIZED, "mqtt.connect.refused", `could not check the credentials: ${(err as Error).message}`, "error");
        this.o.refusals.refuse(`${refused.key}:${info.address}:${client.id}`, {
          event: refused.event,
          via: info.via,
          who: this.who(client),
          clientId: client.id,
          address: info.address,
          returnCode: refused.code,
          answer: refused.code === 2 ? "identifier rejected" : refused.code === 4 ? "bad user name or password" : "not authorised",
          reason: refused.reason,
        });
        const error = Object.assign(new Error(refused.reason), { returnCode: refused.code }) as unknown as AuthenticateError;
        callback(error, false);
      },
    );
  }

  private async admit(client: Client, username: string | undefined, password: Buffer | undefined): Promise<Identity> {
    const info = this.connectionOf(client);
    const connect = this.connects.get(client);
    if (connect && connect.clientId === "" && !connect.clean) {
      // [MQTT-3.1.3-8]: an empty client id has no session to keep
      throw new Refused(CONNACK.IDENTIFIER_REJECTED, "mqtt.client-id.refused", "an empty client id with a persistent session (clean session off)", "empty-id");
    }
    const identity = await this.identify(client, info, username, password);
    this.checkClientId(client, identity);
    this.checkTakeover(client, identity, info);
    return identity;
  }

  private async identify(client: Client, info: ConnectionInfo, username: string | undefined, password: Buffer | undefined): Promise<Identity> {
    const directory = this.o.identities ?? null;
    if (info.certificate) {
      try {
        return deviceOfCertificate(directory, info.certificate.cn, info.certificate.serial);
      } catch (err) {
        if (err instanceof CertificateRefused) throw new Refused(CONNACK.NOT_AUTHORIZED, "mqtt.connect.refused", err.message, err.key);
        throw err;
      }
    }
    if (username !== undefined) {
      const secret = password ?? Buffer.alloc(0);
      const runtime = this.o.runtime;
      if (runtime && username === runtime.username) {
        // the runtime's own connections come from this machine: its password is good nowhere else
        if (!this.loopback(info.address)) throw new Refused(CONNACK.NOT_AUTHORIZED, "mqtt.connect.refused", `"${username}" connects only from this machine`, "runtime-remote");
        if (sameSecret(secret, runtime.password)) return RUNTIME_IDENTITY;
        throw new Refused(CONNACK.BAD_USERNAME_OR_PASSWORD, "mqtt.auth.refused", `wrong password for "${username}"`, "auth");
      }
      const throttle = this.o.throttle;
      const admission = throttle?.admit(clientAddress(info.address), username);
      if (admission && !admission.allowed) {
        const seconds = Math.max(1, Math.ceil(admission.retryAfterMs / 1000));
        throw new Refused(CONNACK.NOT_AUTHORIZED, "mqtt.auth.throttled", `too many wrong passwords ${admission.limit === "address" ? "from this address" : `for "${username}" from this address`}: refused for ${seconds} s`, "throttled");
      }
      const attempt = admission?.allowed ? admission.attempt : null;
      let identity: Identity | null;
      try {
        identity = directory ? await directory.checkPassword(username, secret) : null;
      } catch (err) {
        attempt?.abandon();
        throw err;
      }
      if (!identity) {
        attempt?.wrong();
        throw new Refused(CONNACK.BAD_USERNAME_OR_PASSWORD, "mqtt.auth.refused", `wrong user name or password (user "${username.slice(0, 64)}")`, "auth");
      }
      attempt?.right();
      if (identity.kind === "device") {
        const record = directory?.device(identity.id);
        if (!record || record.revokedAt) throw new Refused(CONNACK.NOT_AUTHORIZED, "mqtt.connect.refused", `device "${identity.id}" is revoked`, "revoked");
      }
      return identity;
    }
    if (this.anonymousOk(info.address)) return { kind: "anonymous", address: info.address };
    throw new Refused(
      CONNACK.NOT_AUTHORIZED,
      "mqtt.connect.refused",
      `no credentials, and anonymous clients are only taken from ${describeAnonymous(this.o.anonymous ?? "loopback")}`,
      "anonymous",
    );
  }

  /** A device's connections are `<id>` or `<id>:<label>`; nobody else may use a client id naming an enrolled device. */
  private checkClientId(client: Client, identity: Identity): void {
    const id = client.id;
    if (identity.kind === "device") {
      if (id === identity.id || id.startsWith(`${identity.id}:`)) return;
      const what = identity.via === "certificate" ? "the certificate's CN" : "the device's id";
      throw new Refused(CONNACK.IDENTIFIER_REJECTED, "mqtt.client-id.refused", `client id "${id}" is neither ${what} "${identity.id}" nor "${identity.id}:<label>"`, "cn");
    }
    const named = id.split(":")[0]!;
    if (this.o.identities?.device(named)) {
      throw new Refused(CONNACK.IDENTIFIER_REJECTED, "mqtt.client-id.refused", `client id "${id}" names enrolled device "${named}", and ${describeIdentity(identity)} is not it`, "names-device");
    }
  }

  /** A connected client id is not taken over by another identity (MQTT would disconnect the holder, and a device's
   * link reconnecting every 2 s would then kick the newcomer, in a loop); the same identity reconnecting does. */
  private checkTakeover(client: Client, identity: Identity, info: ConnectionInfo): void {
    const holder = this.o.clients()[client.id];
    if (!holder || holder === client || holder.closed) return;
    const held = this.identities.get(holder);
    const holderAt = this.connectionOf(holder).address;
    if (!held || principal(held) !== principal(identity)) {
      throw new Refused(
        CONNACK.IDENTIFIER_REJECTED,
        "mqtt.client-id.refused",
        `client id "${client.id}" is connected as ${held ? describeIdentity(held) : "another client"} from ${holderAt}; ${describeIdentity(identity)} may not take it over`,
        "takeover",
      );
    }
    this.o.refusals.refuse(`takeover:${client.id}:${info.address}`, {
      event: "mqtt.client-id.takeover",
      via: info.via,
      who: this.who(client, identity),
      clientId: client.id,
      address: info.address,
      holderAddress: holderAt,
      reason: `client id "${client.id}" reconnected as the same ${identity.kind} from ${info.address}; the old connection (from ${holderAt}) was closed`,
    });
  }

  /** Checks one PUBLISH before it is stored or routed: an Error refuses it (the client is disconnected). */
  checkPublish(client: Client | null, packet: PublishPacket): Error | null {
    if (!client) return null; // the runtime's own publishes, in process
    const identity = this.identities.get(client);
    const decision: { allowed: true } | { allowed: false; reason: string } = identity
      ? canPublish(identity, packet.topic, packet.retain, this.o.policy)
      : { allowed: false, reason: "the client has no identity" };
    if (!decision.allowed) return this.refusePublish(client, identity, packet, `publish:${client.id}:${packet.topic}`, decision.reason);
    const foreign = identity?.kind === "device" ? this.foreignConfigTopic(identity, packet) : null;
    if (foreign) return this.refusePublish(client, identity, packet, `ha-config:${client.id}:${packet.topic}`, foreign);
    if (isCommandTopic(packet.topic) && identity) {
      const payload = typeof packet.payload === "string" ? Buffer.from(packet.payload) : packet.payload;
      const stamped = stampCommand(payload, client.id, senderOf(identity));
      if (stamped) packet.payload = stamped;
    }
    return null;
  }

  /** Records a refused PUBLISH (once per `key` in the refusals' window) and returns the error that refuses it. */
  private refusePublish(client: Client, identity: Identity | undefined, packet: PublishPacket, key: string, reason: string): Error {
    const info = this.connectionOf(client);
    const empty = packet.payload === undefined || packet.payload.length === 0;
    this.o.refusals.refuse(key, {
      event: "mqtt.publish.refused",
      via: info.via,
      who: this.who(client, identity),
      clientId: client.id,
      address: info.address,
      topic: packet.topic,
      retain: packet.retain,
      ...(packet.retain && empty ? { clearsRetained: true } : {}),
      reason: `${reason}; the connection is closed (MQTT 3.1.1 has no negative PUBACK)`,
    });
    return new Error(reason);
  }

  /**
   * Why a device's Home Assistant discovery config may not go out (null: it may): it must be JSON, and every topic it
   * names must be one the device itself may publish or read (its own states, its own commands). Otherwise Home
   * Assistant would show another device's data as this one's, or press another device's button with its own login.
   */
  private foreignConfigTopic(identity: Identity & { kind: "device" }, packet: PublishPacket): string | null {
    const policy = this.o.policy ?? DEFAULT_ACL_POLICY;
    // every publish of a device passes here: most are not under the prefix at all
    if (!packet.topic.startsWith(`${policy.discoveryPrefix}/`)) return null;
    if (!topicMatches(haTopics.nodeConfigs(policy.discoveryPrefix, identity.id), packet.topic)) return null;
    let named: string[];
    try {
      named = haConfigTopics(packet.payload ?? "");
    } catch (err) {
      return (err as Error).message;
    }
    for (const topic of named) {
      if (canPublish(identity, topic, false, policy).allowed || canRead(identity, topic, policy)) continue;
      return `a Home Assistant discovery config of device "${identity.id}" names "${topic}", a topic the device may neither publish nor read`;
    }
    return null;
  }

  /** aedes' authorizeSubscribe: a refused filter is granted 0x80, the others of the same SUBSCRIBE as asked. */
  authorizeSubscribe(client: Client, sub: Subscription, callback: (error: Error | null, subscription?: Subscription | null) => void): void {
    const identity = this.identities.get(client);
    const decision = identity ? canSubscribe(identity, sub.topic, sub.qos, this.o.policy) : { granted: null, reason: "the client has no identity" };
    if (decision.granted === null) {
      const info = this.connectionOf(client);
      this.o.refusals.refuse(`subscribe:${client.id}:${sub.topic}`, {
        event: "mqtt.subscribe.refused",
        via: info.via,
        who: this.who(client, identity),
        clientId: client.id,
        address: info.address,
        filter: sub.topic,
        reason: `${decision.reason} (SUBACK 0x80)`,
      });
      return callback(null, null);
    }
    callback(null, sub);
  }

  /** aedes' authorizeForward: a delivery the identity may not read (`$SYS` for all but admins) is not made. */
  authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    const identity = this.identities.get(client);
    return identity && canRead(identity, packet.topic, this.o.policy) ? packet : null;
  }

  /**
   * Drops the connections of a device that may no longer connect; returns how many. With `serial`, only those made
   * with that certificate (a renewal revokes the previous one: the device's new connections stay); without, all.
   */
  dropDevice(device: Pick<DeviceRecord, "id">, why: string, serial?: string): number {
    let dropped = 0;
    for (const client of Object.values(this.o.clients())) {
      if (!client || client.closed) continue;
      const identity = this.identities.get(client);
      if (identity?.kind !== "device" || identity.id !== device.id) continue;
      if (serial !== undefined && (identity.via !== "certificate" || normalSerial(identity.serial ?? "") !== normalSerial(serial))) continue;
      const info = this.connectionOf(client);
      this.o.refusals.refuse(`dropped:${client.id}:${info.address}`, {
        event: "mqtt.client.revoked",
        via: info.via,
        who: this.who(client, identity),
        clientId: client.id,
        address: info.address,
        serial: identity.serial,
        reason: `${why}: its connection was dropped`,
      });
      client.close();
      dropped++;
    }
    return dropped;
  }

  /** After the directory changed (another process wrote it): drops the devices that may no longer connect. */
  recheck(): void {
    const directory = this.o.identities;
    if (!directory) return;
    for (const client of Object.values(this.o.clients())) {
      if (!client || client.closed) continue;
      const identity = this.identities.get(client);
      if (identity?.kind !== "device") continue;
      const record = directory.device(identity.id);
      if (!record) this.dropDevice(identity, `device "${identity.id}" is no longer enrolled`);
      else if (record.revokedAt || (identity.serial && directory.isRevoked(identity.serial))) this.dropDevice(identity, `device "${identity.id}" was revoked`);
    }
  }
}
