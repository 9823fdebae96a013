// The fog's heart: an embedded aedes broker on TCP, on TLS with client certificates (the devices), and on
// MQTT-over-WebSocket at /mqtt of the HTTP server; who may connect and do what is client-guard.ts and acl.ts.
import { Aedes, type AedesPublishPacket, type Client, type PublishPacket } from "aedes";
import { randomBytes } from "node:crypto";
import type { Server as HttpServer, IncomingMessage } from "node:http";
import net from "node:net";
import type { Duplex } from "node:stream";
import tls from "node:tls";
import { WebSocketServer, createWebSocketStream } from "ws";
import type { AuditEvent } from "../audit/audit";
import { systemClock, type Clock } from "../clock";
import { pifogVersion } from "../device-info";
import type { DeviceRecord, IdentityDirectory } from "../identity/types";
import type { LoginThrottle } from "../security/throttle";
import type { AnonymousSetting } from "./anonymous";
import { tlsRefusalReason } from "../identity/device-certificate";
import { ClientGuard, normalSerial, RefusalRecorder, RUNTIME_USER, type ConnectionInfo, type Credentials } from "./client-guard";
import { GuardedConnection } from "./connection-guard";
import { DEFAULT_STALL_MS, maxBufferedBytesFor } from "./limits";
import { DEFAULT_MAX_PACKET_BYTES } from "./packet-guard";
import type { SqlitePersistence } from "./sqlite-persistence";
import { SysStats } from "./sys-stats";
import { checkOrigin, refuseUpgrade } from "./ws-origin";

export interface EmbeddedBrokerOptions {
  port: number;
  host: string;
  /** The largest MQTT packet a listener takes, fixed header included (default DEFAULT_MAX_PACKET_BYTES). */
  maxPacketBytes?: number;
  /** Web origins besides the request's own host that may open MQTT over WebSocket from a browser. */
  webSocketOrigins?: readonly string[];
  /** Where refusals go (the runtime's Audit); they are logged either way. */
  audit?: { record(event: AuditEvent): void };
  /** Where sessions, queued messages and retained messages outlive the process (default: memory only). The
   * broker owns it from start() on: close() closes it. */
  persistence?: SqlitePersistence;
  /** The enrolled devices and users (the data dir's identity store). Without it, only the runtime's own user and
   * anonymous clients connect, and there is no TLS listener. */
  identities?: IdentityDirectory | null;
  /** The TLS listener's port (PIFOG_MQTTS_PORT; 0: a free one); none: no TLS listener. Needs `identities`. */
  tlsPort?: number;
  /** Who may connect without credentials (PIFOG_BROKER_ANONYMOUS); default loopback. */
  anonymous?: AnonymousSetting;
  /** Wrong passwords per address (the runtime's `signIn` throttles); none: not limited. */
  throttle?: LoginThrottle | null;
  /** The runtime user's password, when it must outlive this broker (a test restarting "the same" hub); default one
   * made at random for this start. */
  runtimePassword?: string;
  /** Home Assistant's discovery prefix under which each device may publish its own entities' configs
   * (PIFOG_HA_DISCOVERY; default `homeassistant`). */
  discoveryPrefix?: string;
  /** How often `$SYS/broker/…` is published, ms (default 10 s; 0: never). */
  sysIntervalMs?: number;
  clock?: Clock;
  /** Who counts the messages (the runtime's metrics). */
  observer?: BrokerObserver;
}

/** Why the broker refused a PUBLISH: the ACL (or no identity) forbade it, or it could not be stored before the PUBACK. */
export type PublishRefusal = "not-allowed" | "not-stored";

/** Told of every client's message the broker took, each one it delivered and each one it refused. */
export interface BrokerObserver {
  /** A client's PUBLISH was accepted (after its authorisation and storing). */
  received(qos: 0 | 1 | 2): void;
  /** A message went to a subscribing client (`qos`: as it was published). */
  sent(qos: 0 | 1 | 2): void;
  refused(why: PublishRefusal): void;
}

/** Whether the broker can do its work now: its listeners, its store. */
export interface BrokerState {
  listening: boolean;
  clients: number;
  /** The broker's store (sessions, queued and retained messages): null when it keeps them in memory only. */
  store: { ok: boolean; error: string | null } | null;
}

export const DEFAULT_SYS_INTERVAL_MS = 10_000;

// where a server listens, and what a port in use says: ../runtime/listen.ts (kept here for those who import it here)
import { listen } from "../runtime/listen";
export { listen, PortInUseError } from "../runtime/listen";

/**
 * Sees every PUBLISH a client sends (wills included) before the broker acknowledges or routes it.
 * A returned promise holds the PUBACK until it settles: resolve once the message is safely stored;
 * reject and the broker refuses the message (the client disconnects and sends it again later).
 */
export type LocalHandler = (topic: string, payload: Buffer, meta: { retain: boolean; qos: 0 | 1 | 2 }) => void;

function asBuffer(payload: string | Buffer): Buffer {
  return typeof payload === "string" ? Buffer.from(payload) : payload;
}

export type PublishInterceptor = (packet: PublishPacket, clientId: string | null) => Promise<void> | void;

export class EmbeddedBroker {
  private tcp: net.Server | null = null;
  private tlsServer: tls.Server | null = null;
  private wss: WebSocketServer | null = null;
  private readonly interceptors = new Set<PublishInterceptor>();
  private held: Array<() => void> | null = null;
  private readonly refusals: RefusalRecorder;
  private readonly unwatch: Array<() => void> = [];
  port = 0;
  /** The TLS listener's port, when there is one. */
  tlsPort: number | null = null;
  /** The largest MQTT packet the listeners take; the history stores anything up to this. */
  readonly maxPacketBytes: number;
  /** Who connects, and what each may do. */
  readonly guard: ClientGuard;
  /** `$SYS/broker/…`, for admins. */
  readonly stats: SysStats;
  /** The runtime's own user for its in-process links and its flows' MQTT nodes: made for this start, never stored. */
  readonly runtimeCredentials: Credentials;

  private constructor(readonly aedes: Aedes, private readonly options: EmbeddedBrokerOptions) {
    this.runtimeCredentials = { username: RUNTIME_USER, password: options.runtimePassword ?? randomBytes(24).toString("base64url") };
    this.maxPacketBytes = options.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES;
    const clock = options.clock ?? systemClock;
    this.refusals = new RefusalRecorder(options.audit ?? null, () => clock.now());
    const guard = new ClientGuard({
      clients: () => (aedes as unknown as { clients: Record<string, Client | undefined> }).clients,
      refusals: this.refusals,
      identities: options.identities ?? null,
      anonymous: options.anonymous ?? "loopback",
      throttle: options.throttle ?? null,
      runtime: this.runtimeCredentials,
      ...(options.discoveryPrefix ? { policy: { discoveryPrefix: options.discoveryPrefix } } : {}),
    });
    this.guard = guard;
    this.stats = new SysStats(aedes, clock, options.sysIntervalMs ?? DEFAULT_SYS_INTERVAL_MS, pifogVersion());
    aedes.preConnect = (client, packet, callback) => guard.preConnect(client, packet, callback);
    aedes.authenticate = (client, username, password, callback) => guard.authenticate(client, username, password, callback);
    aedes.authorizeSubscribe = (client, sub, callback) => guard.authorizeSubscribe(client, sub, callback);
    const observer = options.observer;
    aedes.authorizeForward = (client, packet) => {
      const forwarded = guard.authorizeForward(client, packet);
      if (forwarded) {
        this.stats.counters.sent++;
        observer?.sent(forwarded.qos);
      }
      return forwarded;
    };
    if (observer) {
      aedes.on("publish", (packet, client) => {
        if (client) observer.received(packet.qos);
      });
    }
    const identities = options.identities;
    if (identities) {
      // the certificate's connections go at once; a password device's too once its record says revoked (recheck)
      const onRevoked = (device: DeviceRecord) => {
        this.refreshTls();
        guard.dropDevice(device, `device "${device.id}"'s certificate (serial ${device.serial}) was revoked`, device.serial);
        guard.recheck();
      };
      const onChanged = () => {
        this.refreshTls();
        guard.recheck();
      };
      identities.on("revoked", onRevoked);
      identities.on("changed", onChanged);
      this.unwatch.push(() => identities.off("revoked", onRevoked), () => identities.off("changed", onChanged));
    }
    aedes.authorizePublish = (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void) => {
      if (this.held) {
        this.held.push(() => aedes.authorizePublish(client, packet, callback));
        return;
      }
      const refused = guard.checkPublish(client, packet);
      if (refused) {
        observer?.refused("not-allowed");
        return callback(refused);
      }
      if (this.interceptors.size === 0) return callback(null);
      const notStored = (err: Error) => {
        if (client) observer?.refused("not-stored");
        callback(err);
      };
      const pending: Promise<void>[] = [];
      try {
        for (const intercept of this.interceptors) {
          const result = intercept(packet, client?.id ?? null);
          if (result) pending.push(result);
        }
      } catch (err) {
        return notStored(err as Error);
      }
      if (pending.length === 0) return callback(null);
      (pending.length === 1 ? pending[0]! : Promise.all(pending)).then(
        () => callback(null),
        (err: Error) => notStored(err),
      );
    };
  }

  /**
   * Holds every PUBLISH (no PUBACK, no routing) until release(): while the flows start, so nothing is
   * acknowledged before the nodes that must store it are listening.
   */
  hold(): void {
    this.held ??= [];
  }

  release(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const resume of held) resume();
  }

  /**
   * Delivers the messages on `filter` to a handler in this process, without an MQTT connection: no encoding,
   * no socket, no PUBACK. Retained messages that match come first, flagged as retained, as MQTT delivers them to
   * a new subscription. Returns the function that unsubscribes.
   */
  localSubscribe(filter: string, handler: LocalHandler): () => void {
    const wantSys = filter.startsWith("$");
    const deliver = (packet: AedesPublishPacket, callback: () => void) => {
      try {
        if (!packet.topic.startsWith("$") || wantSys) handler(packet.topic, asBuffer(packet.payload), { retain: false, qos: packet.qos });
      } finally {
        callback();
      }
    };
    let active = true;
    this.aedes.subscribe(filter, deliver, () => {
      const persistence = (this.aedes as unknown as { persistence: { createRetainedStreamCombi(p: string[]): AsyncIterable<AedesPublishPacket> } }).persistence;
      (async () => {
        for await (const packet of persistence.createRetainedStreamCombi([filter])) {
          if (!active) break;
          if (!packet.topic.startsWith("$") || wantSys) handler(packet.topic, asBuffer(packet.payload), { retain: true, qos: packet.qos });
        }
      })().catch(() => undefined);
    });
    return () => {
      active = false;
      this.aedes.unsubscribe(filter, deliver, () => undefined);
    };
  }

  /** What /health asks: are the listeners up, how many clients, can the store write. */
  state(): BrokerState {
    return {
      listening: !this.aedes.closed && (this.tcp?.listening ?? false),
      clients: this.aedes.connectedClients,
      store: this.options.persistence ? this.options.persistence.state() : null,
    };
  }

  /** Adds an interceptor; returns the function that removes it. */
  intercept(interceptor: PublishInterceptor): () => void {
    this.interceptors.add(interceptor);
    return () => this.interceptors.delete(interceptor);
  }

  static async start(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
    // the connection guard never makes aedes wait for a slow reader; this short drain timeout is only the backstop
    const { persistence } = options;
    const aedes = await Aedes.createBroker({ id: "pifog", drainTimeout: DEFAULT_STALL_MS, persistence });
    const broker = new EmbeddedBroker(aedes, options);
    // aedes acknowledges a QoS 1 PUBLISH before it queues it: the persistence journals it first
    if (persistence) broker.intercept((packet) => persistence.journal(packet));
    // no Nagle: small MQTT packets go out at once instead of waiting on the peer's delayed ACK
    const tcp = net.createServer({ noDelay: true }, (socket) => {
      aedes.handle(broker.connection(socket, { via: "mqtt", address: socket.remoteAddress ?? "unknown" }, socket.remotePort));
    });
    try {
      broker.port = await listen(tcp, options.port, options.host, "PIFOG_MQTT_PORT");
      broker.tcp = tcp;
      if (options.identities && options.tlsPort !== undefined) await broker.startTls(options.identities, options.tlsPort);
    } catch (err) {
      await broker.close();
      throw err;
    }
    broker.stats.start();
    return broker;
  }

  private tlsOptions(identities: IdentityDirectory): tls.SecureContextOptions {
    const server = identities.serverTls();
    const crl = identities.crl();
    return { cert: server.cert, key: server.key, ca: identities.caCert, ...(crl ? { crl } : {}), minVersion: "TLSv1.2" };
  }

  /** The TLS listener: a client certificate from the local CA is required (and not revoked: the CRL). The
   * handshake's verdict is taken here rather than by node's own refusal, which closes the socket without saying why:
   * an unverified peer is audited with OpenSSL's reason and cut before a byte of MQTT is read. */
  private async startTls(identities: IdentityDirectory, port: number): Promise<void> {
    const server = tls.createServer({ ...this.tlsOptions(identities), requestCert: true, rejectUnauthorized: false, noDelay: true }, (socket) => {
      const address = socket.remoteAddress ?? "unknown";
      if (!socket.authorized) {
        const peer = socket.getPeerCertificate();
        const none = !peer || Object.keys(peer).length === 0;
        const why = none ? "NO_CLIENT_CERTIFICATE" : String(socket.authorizationError ?? "UNVERIFIED");
        const cn = typeof peer?.subject?.CN === "string" ? peer.subject.CN : undefined;
        this.refusals.refuse(`tls:${address}:${why}`, {
          event: "mqtt.tls.refused",
          via: "mqtts",
          who: cn ? `certificate CN "${cn}" from ${address}` : address,
          address,
          code: why,
          ...(cn ? { cn, serial: normalSerial(peer.serialNumber ?? "") } : {}),
          reason: `TLS client refused: ${tlsRefusalReason(why)} (${why})`,
        });
        socket.destroy();
        return;
      }
      const peer = socket.getPeerCertificate();
      const cn = typeof peer.subject?.CN === "string" ? peer.subject.CN : "";
      const info: ConnectionInfo = { via: "mqtts", address, certificate: { cn, serial: normalSerial(peer.serialNumber ?? "") } };
      this.aedes.handle(this.connection(socket, info, socket.remotePort));
    });
    // a handshake that fails before a verdict (not TLS, no common cipher, a hang-up) is audited too
    server.on("tlsClientError", (err: Error & { code?: string }, socket: tls.TLSSocket) => {
      const address = socket.remoteAddress ?? "unknown";
      // one record per address and kind of failure per window (OpenSSL's text starts with a thread-specific number)
      const kind = err.message.replace(/^[0-9A-F]+:error:[0-9A-F]+:/, "").split(":").slice(0, 2).join(":");
      this.refusals.refuse(`tls:${address}:${err.code ?? ""}:${kind}`, {
        event: "mqtt.tls.refused",
        via: "mqtts",
        who: address,
        address,
        code: err.code,
        reason: `TLS handshake failed: ${err.message}`,
      });
    });
    this.tlsServer = server;
    this.tlsPort = await listen(server, port, this.options.host, "PIFOG_MQTTS_PORT");
  }

  /** The CA, the server certificate and the revocation list as the directory has them now. */
  private refreshTls(): void {
    const identities = this.options.identities;
    if (!this.tlsServer || !identities) return;
    try {
      this.tlsServer.setSecureContext(this.tlsOptions(identities));
    } catch (err) {
      console.error(`PiFog broker: the TLS listener keeps its old certificates (${(err as Error).message})`);
    }
  }

  /** MQTT over WebSocket on `path` of an HTTP server, beside the editor's and the dashboard's sockets. */
  attachWebSocket(server: HttpServer, path = "/mqtt"): void {
    // a WebSocket message over the packet limit is refused by ws from its frame header, before it is buffered
    // MQTT's own subprotocol when offered, else PiFog's page's `mqttv3.1`; never whatever else a client offers
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.maxPacketBytes,
      handleProtocols: (offered: Set<string>) => (offered.has("mqtt") ? "mqtt" : offered.has("mqttv3.1") ? "mqttv3.1" : false),
    });
    this.wss = wss;
    server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const pathname = new URL(request.url ?? "/", "http://localhost").pathname;
      if (pathname !== path) return; // the editor's comms and the dashboard's socket.io take theirs
      const address = `${request.socket.remoteAddress ?? "?"}:${request.socket.remotePort ?? "?"}`;
      const origin = checkOrigin(request.headers.origin, request.headers.host, this.options.webSocketOrigins ?? []);
      if (!origin.allowed) {
        this.refused({ event: "mqtt.ws.origin-refused", via: "mqtt-ws", who: address, reason: origin.reason, origin: request.headers.origin });
        return refuseUpgrade(socket, origin.reason);
      }
      if ("setNoDelay" in socket && typeof socket.setNoDelay === "function") socket.setNoDelay(true);
      wss.handleUpgrade(request, socket, head, (ws) => {
        const stream = createWebSocketStream(ws);
        stream.on("error", () => stream.destroy());
        const guarded = this.connection(stream, { via: "mqtt-ws", address: request.socket.remoteAddress ?? "unknown" }, request.socket.remotePort);
        ws.on("error", (err: Error & { code?: string }) => {
          if (err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") guarded.refuse({ kind: "too-large", size: null, packetType: null });
          // ws would read (and drop) the rest while its close handshake waits for the peer: stop reading at once
          ws.terminate();
        });
        this.aedes.handle(guarded, request);
      });
    });
  }

  /** A listener's connection as aedes gets it: packet size and slow-reader limits applied (connection-guard.ts),
   * and known to the client guard (its listener, its address, its certificate). */
  private connection(stream: Duplex, info: ConnectionInfo, port: number | undefined): GuardedConnection {
    const guarded = new GuardedConnection(stream, {
      maxPacketBytes: this.maxPacketBytes,
      maxBufferedBytes: maxBufferedBytesFor(this.maxPacketBytes),
      stallMs: DEFAULT_STALL_MS,
      via: info.via,
      address: `${info.address}:${port ?? "?"}`,
      onRefusal: (event) => this.refused(event),
    });
    this.guard.registerConnection(guarded, info);
    return guarded;
  }

  private refused(event: AuditEvent): void {
    console.warn(`PiFog broker: ${event.event} ${event.who ?? ""}: ${event.reason}`);
    this.options.audit?.record(event);
  }

  async close(): Promise<void> {
    this.stats.stop();
    for (const unwatch of this.unwatch.splice(0)) unwatch();
    for (const client of this.wss?.clients ?? []) client.terminate();
    this.wss?.close();
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    await this.options.persistence?.destroy();
    await new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (this.tlsServer ? this.tlsServer.close(() => resolve()) : resolve()));
  }
}
