// The fog's heart: an embedded aedes broker on TCP and on MQTT-over-WebSocket at /mqtt of the HTTP server.
import { Aedes, type AedesPublishPacket, type Client, type PublishPacket } from "aedes";
import type { Server as HttpServer, IncomingMessage } from "node:http";
import net from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer, createWebSocketStream } from "ws";
import type { AuditEvent } from "../audit/audit";
import { ClientGuard, RefusalRecorder } from "./client-guard";
import { GuardedConnection } from "./connection-guard";
import { DEFAULT_STALL_MS, maxBufferedBytesFor } from "./limits";
import { DEFAULT_MAX_PACKET_BYTES } from "./packet-guard";
import type { SqlitePersistence } from "./sqlite-persistence";
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
}

export class PortInUseError extends Error {
  constructor(readonly port: number, readonly variable: string) {
    super(`port ${port} is already in use`);
  }
}

export function listen(server: net.Server | HttpServer, port: number, host: string, variable: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off("listening", onListening);
      reject(err.code === "EADDRINUSE" || err.code === "EACCES" ? new PortInUseError(port, variable) : err);
    };
    const onListening = () => {
      server.off("error", onError);
      resolve((server.address() as net.AddressInfo).port);
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
}

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
  private wss: WebSocketServer | null = null;
  private readonly interceptors = new Set<PublishInterceptor>();
  private held: Array<() => void> | null = null;
  port = 0;
  /** The largest MQTT packet the listeners take; the history stores anything up to this. */
  readonly maxPacketBytes: number;

  private constructor(readonly aedes: Aedes, private readonly options: EmbeddedBrokerOptions) {
    this.maxPacketBytes = options.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES;
    const guard = new ClientGuard(() => (aedes as unknown as { clients: Record<string, Client | undefined> }).clients, new RefusalRecorder(options.audit ?? null));
    aedes.authenticate = (client, _username, _password, callback) => guard.authenticate(client, callback);
    aedes.authorizePublish = (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void) => {
      if (this.held) {
        this.held.push(() => aedes.authorizePublish(client, packet, callback));
        return;
      }
      const refused = guard.checkPublish(client, packet);
      if (refused) return callback(refused);
      if (this.interceptors.size === 0) return callback(null);
      const pending: Promise<void>[] = [];
      try {
        for (const intercept of this.interceptors) {
          const result = intercept(packet, client?.id ?? null);
          if (result) pending.push(result);
        }
      } catch (err) {
        return callback(err as Error);
      }
      if (pending.length === 0) return callback(null);
      Promise.all(pending).then(
        () => callback(null),
        (err: Error) => callback(err),
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
      const address = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
      aedes.handle(broker.guard(socket, "mqtt", address));
    });
    try {
      broker.port = await listen(tcp, options.port, options.host, "PIFOG_MQTT_PORT");
    } catch (err) {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await persistence?.destroy();
      throw err;
    }
    broker.tcp = tcp;
    return broker;
  }

  /** MQTT over WebSocket on `path` of an HTTP server, beside the editor's and the dashboard's sockets. */
  attachWebSocket(server: HttpServer, path = "/mqtt"): void {
    // a WebSocket message over the packet limit is refused by ws from its frame header, before it is buffered
    const wss = new WebSocketServer({ noServer: true, maxPayload: this.maxPacketBytes });
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
        const guarded = this.guard(stream, "mqtt-ws", address);
        ws.on("error", (err: Error & { code?: string }) => {
          if (err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") guarded.refuse({ kind: "too-large", size: null, packetType: null });
          // ws would read (and drop) the rest while its close handshake waits for the peer: stop reading at once
          ws.terminate();
        });
        this.aedes.handle(guarded, request);
      });
    });
  }

  /** A listener's connection as aedes gets it: packet size and slow-reader limits applied (connection-guard.ts). */
  private guard(stream: Duplex, via: string, address: string): GuardedConnection {
    return new GuardedConnection(stream, {
      maxPacketBytes: this.maxPacketBytes,
      maxBufferedBytes: maxBufferedBytesFor(this.maxPacketBytes),
      stallMs: DEFAULT_STALL_MS,
      via,
      address,
      onRefusal: (event) => this.refused(event),
    });
  }

  private refused(event: AuditEvent): void {
    console.warn(`PiFog broker: ${event.event} ${event.who ?? ""}: ${event.reason}`);
    this.options.audit?.record(event);
  }

  async close(): Promise<void> {
    for (const client of this.wss?.clients ?? []) client.terminate();
    this.wss?.close();
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    await this.options.persistence?.destroy();
    await new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve()));
  }
}
