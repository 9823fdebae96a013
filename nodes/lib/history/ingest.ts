// The two ways the history logger takes messages, both acknowledging a QoS 1 message only after it is committed:
// - from the embedded broker in this process: before the broker sends PUBACK to the publisher;
// - from any other broker: a persistent session (clean: false, QoS 1), PUBACK sent after the commit; on a broker
//   cluster (several URLs) the session carries on on the next node when one dies.
import type { MqttClient, IConnackPacket } from "mqtt";
import type { IPublishPacket } from "mqtt-packet";
import type { EmbeddedBroker } from "../broker/embedded-broker";
import type { Clock } from "../clock";
import { connectBrokers } from "../mqtt/broker-urls";
import { topicMatches } from "../mqtt/topic-filter";
import type { CommitBatcher } from "./commit-batcher";
import { Redeliveries, redeliveryKey } from "./redeliveries";
import type { HistoryRecord } from "./types";

export interface IngestDeps {
  filters: string[];
  /**
   * The largest payload stored: the broker's packet limit (PIFOG_MQTT_MAX_PACKET), so that whatever the embedded
   * broker accepted is stored, never acknowledged and then dropped; on another broker, what is bigger is dead-lettered.
   */
  maxPayloadBytes: number;
  batcher: CommitBatcher;
  clock: Clock;
  numeric: (payload: Buffer) => number | null;
  /** What cannot be stored (too large): recorded in the dead-letter file, then acknowledged. */
  reject: (reason: string, topic: string, payload: Buffer) => void;
}

export function wanted(filters: string[], topic: string): boolean {
  // $SYS and other $ topics only when a filter names them (MQTT: # does not match them)
  return filters.some((f) => topicMatches(f, topic) && (!topic.startsWith("$") || f.startsWith("$")));
}

function record(deps: IngestDeps, topic: string, payload: Buffer, qos: number, retain: boolean, clientId: string | null, messageId: number | undefined, dup: boolean): HistoryRecord {
  return {
    topic,
    payload,
    value: deps.numeric(payload),
    at: deps.clock.now(),
    qos: (qos === 2 ? 2 : qos === 1 ? 1 : 0),
    retain,
    clientId,
    messageId: messageId ?? null,
    dup,
  };
}

function asBuffer(payload: string | Buffer): Buffer {
  return typeof payload === "string" ? Buffer.from(payload) : payload;
}

/** Store-before-PUBACK on the embedded broker; returns the function that stops it. */
export function ingestFromEmbeddedBroker(broker: EmbeddedBroker, deps: IngestDeps): () => void {
  return broker.intercept((packet, clientId) => {
    if (!wanted(deps.filters, packet.topic)) return;
    const payload = asBuffer(packet.payload);
    if (payload.length > deps.maxPayloadBytes) {
      deps.reject(`payload of ${payload.length} bytes is over the ${deps.maxPayloadBytes}-byte limit`, packet.topic, payload);
      return;
    }
    // publishers resend unacknowledged QoS 1 messages after a reconnect, not always with DUP set: check them all
    const committed = deps.batcher.add(record(deps, packet.topic, payload, packet.qos, packet.retain, clientId, packet.messageId, packet.qos > 0));
    if (packet.qos > 0) return committed;
    committed.catch(() => undefined); // QoS 0 carries no promise to the publisher
    return undefined;
  });
}

export interface ExternalIngest {
  client: MqttClient;
  close(): Promise<void>;
}

/**
 * A persistent session on an external broker (`url`: one, or a cluster's nodes as a comma list). mqtt.js sends
 * PUBACK as soon as its message handler returns and handles one packet at a time; we let it move on at once but
 * hold each PUBACK back until the record is committed (in order, as MQTT asks), so the broker keeps redelivering
 * anything not yet on disk. A PUBACK is only ever sent on the connection its message came in on: on the next one
 * (another node of a cluster) the same packet id names another message. What comes again after a lost connection
 * is stored once (Redeliveries).
 */
export function ingestFromBroker(url: string, clientId: string, auth: { username?: string; password?: string; tls?: { cert: string; key: string; ca: string } }, deps: IngestDeps, onState: (connected: boolean, error?: Error) => void): ExternalIngest {
  const client = connectBrokers(url, {
    clientId,
    clean: false,
    reconnectPeriod: 2000,
    keepalive: 30,
    username: auth.username || undefined,
    password: auth.password || undefined,
    ...(auth.tls ? { ...auth.tls, rejectUnauthorized: true } : {}),
    resubscribe: true,
  });
  const held = new Map<number, { committed: Promise<void>; connection: number }>();
  const redeliveries = new Redeliveries(() => deps.clock.now());
  /** Counts connections: a PUBACK belongs to the one its message came in on. */
  let connection = 0;
  /** Settles once every record handed to the store so far is committed (or failed). */
  let tail: Promise<void> = Promise.resolve();
  type SendPacket = (packet: { cmd: string; messageId?: number }, cb?: (err?: Error) => void, ...rest: unknown[]) => void;
  const internal = client as unknown as { _sendPacket: SendPacket };
  const send = internal._sendPacket.bind(client);
  internal._sendPacket = (packet, cb, ...rest) => {
    const entry = packet.cmd === "puback" && packet.messageId !== undefined ? held.get(packet.messageId) : undefined;
    if (!entry) return send(packet, cb, ...rest);
    const messageId = packet.messageId!;
    held.delete(messageId);
    cb?.(); // the next packet may be read now; its record joins the same group commit
    entry.committed.then(
      () => {
        // mqtt.js would keep it for the next connection; the broker redelivers the message there instead
        if (entry.connection !== connection || !client.connected) return;
        send(packet, undefined, ...rest);
        redeliveries.acknowledged(messageId);
      },
      (err: Error) => {
        // not stored: no PUBACK; drop the connection so the broker sends it again
        onState(false, err);
        client.stream?.destroy();
      },
    );
  };
  client.handleMessage = (packet: IPublishPacket, callback: (err?: Error) => void) => {
    const payload = asBuffer(packet.payload);
    if (!wanted(deps.filters, packet.topic)) return callback();
    if (payload.length > deps.maxPayloadBytes) {
      deps.reject(`payload of ${payload.length} bytes is over the ${deps.maxPayloadBytes}-byte limit`, packet.topic, payload);
      return callback();
    }
    const acked = packet.qos === 1 && packet.messageId !== undefined;
    const key = acked ? redeliveryKey(packet.topic, payload) : "";
    const repeat = acked ? redeliveries.isRepeat(key) : false;
    if (repeat === true) {
      // stored already: acknowledged after everything that came before it
      held.set(packet.messageId!, { committed: tail, connection });
      redeliveries.received(packet.messageId!, key, tail);
      return callback();
    }
    if (repeat !== false) {
      // its first copy is still being committed: this one is stored only if that fails
      const entry = record(deps, packet.topic, payload, packet.qos, packet.retain, clientId, packet.messageId, packet.dup);
      const before = tail;
      const committed = repeat.then((stored) => (stored ? before : deps.batcher.add(entry)));
      tail = committed.catch(() => undefined);
      held.set(packet.messageId!, { committed, connection });
      redeliveries.received(packet.messageId!, key, committed);
      return callback();
    }
    const committed = deps.batcher.add(record(deps, packet.topic, payload, packet.qos, packet.retain, clientId, packet.messageId, packet.dup));
    tail = committed.catch(() => undefined);
    if (acked) {
      held.set(packet.messageId!, { committed, connection });
      redeliveries.received(packet.messageId!, key, committed);
    } else committed.catch(() => undefined);
    callback();
  };
  client.on("connect", (connack: IConnackPacket) => {
    connection++;
    redeliveries.connected(connack.sessionPresent);
    client.subscribe(deps.filters.map((f) => f), { qos: 1 });
    onState(true);
  });
  client.on("close", () => {
    redeliveries.connectionLost();
    onState(false);
  });
  client.on("error", (err) => onState(false, err));
  return {
    client,
    close: async () => {
      await Promise.allSettled([...held.values()].map((h) => h.committed));
      await tail;
      await new Promise((r) => setImmediate(r));
      await client.endAsync();
    },
  };
}
