// Who may do what on the embedded broker, before device identities exist (they come with the trust issue):
// - a client id that is connected cannot be taken over from another address: MQTT would disconnect the holder
//   (and a device's link reconnecting every 2 s would then kick the newcomer, in a loop); the newcomer is refused
//   with "identifier rejected" instead. A reconnect from the holder's own address still takes over (a device whose
//   old connection the broker has not noticed dying), logged and audited like every refusal;
// - a topic that speaks for a device (its status, its power state and events) is taken only from that device's
//   own clients (`pifog-<device>`, `pifog-<device>-…`), so nobody else can make the hub believe a power cut;
// - every command is stamped with its sender (`from`: `mqtt:<client id>`), overwriting what the sender wrote, so
//   whoever acts on it knows who sent it without believing the payload.
import type { AuthenticateError, Client, PublishPacket } from "aedes";
import type { Audit, AuditEvent } from "../audit/audit";
import { isCommandTopic, isDeviceClientId, mqttSender, stampCommand, topicOwner } from "../contract";

type AuthenticateCallback = (error: AuthenticateError | null, success: boolean | null) => void;

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

export class ClientGuard {
  constructor(
    private readonly clients: () => Record<string, Client | undefined>,
    private readonly refusals: RefusalRecorder,
  ) {}

  /** aedes' authenticate: refuses taking over a connected client id from another address. */
  authenticate(client: Client, callback: AuthenticateCallback): void {
    const holder = this.clients()[client.id];
    if (holder && holder !== client && !holder.closed) {
      const from = addressOf(client);
      const holderAt = addressOf(holder);
      const event = { via: "mqtt", who: `${mqttSender(client.id)} from ${from}`, clientId: client.id, address: from, holderAddress: holderAt };
      if (from !== holderAt) {
        this.refusals.refuse(`takeover:${client.id}:${from}`, {
          ...event,
          event: "mqtt.client-id.refused",
          reason: `client id "${client.id}" is connected from ${holderAt}; a connection from ${from} may not take it over`,
        });
        // CONNACK "identifier rejected" (AuthErrorCode.IDENTIFIER_REJECTED; a const enum, so its value here)
        const err = Object.assign(new Error(`client id ${client.id} is in use`), { returnCode: 2 }) as AuthenticateError;
        return callback(err, false);
      }
      this.refusals.refuse(`takeover:${client.id}:${from}`, {
        ...event,
        event: "mqtt.client-id.takeover",
        reason: `client id "${client.id}" reconnected from its own address ${from}; the old connection was closed`,
      });
    }
    callback(null, true);
  }

  /** Checks one PUBLISH before it is stored or routed: an Error refuses it (the client is disconnected). */
  checkPublish(client: Client | null, packet: PublishPacket): Error | null {
    if (!client) return null; // the broker's own publishes
    const owner = topicOwner(packet.topic);
    if (owner !== null && !isDeviceClientId(client.id, owner)) {
      const reason = `only device "${owner}" may publish on ${packet.topic}; client "${client.id}" may not`;
      this.refusals.refuse(`owner:${client.id}:${packet.topic}`, {
        event: "mqtt.publish.refused",
        via: "mqtt",
        who: `${mqttSender(client.id)} from ${addressOf(client)}`,
        topic: packet.topic,
        reason,
      });
      return new Error(reason);
    }
    if (isCommandTopic(packet.topic)) {
      const payload = typeof packet.payload === "string" ? Buffer.from(packet.payload) : packet.payload;
      const stamped = stampCommand(payload, client.id);
      if (stamped) packet.payload = stamped;
    }
    return null;
  }
}
