// Zero loss rides aedes' publish authorisation: the history logger holds a PUBLISH there until its record is
// committed, and a failed commit refuses it. aedes 1.2 refuses it by closing the connection; a newer aedes answers
// an MQTT 5 client with a PUBACK carrying a reason code instead. Whatever protocol versions the broker accepts,
// a publisher must never get a success (PUBACK, or PUBREC for QoS 2, with no reason code or one below 0x80) for a
// message the logger could not store: it would drop it, and the message would be lost.
import assert from "node:assert/strict";
import mqtt, { type MqttClient } from "mqtt";
import type { Packet } from "mqtt-packet";
import { EmbeddedBroker } from "../../nodes/lib/broker/embedded-broker";
import { systemClock } from "../../nodes/lib/clock";
import { CommitBatcher } from "../../nodes/lib/history/commit-batcher";
import { ingestFromEmbeddedBroker } from "../../nodes/lib/history/ingest";
import type { HistoryRecord, HistoryStore } from "../../nodes/lib/history/types";

/** A history store whose every commit fails (a full disk, a lost database), or succeeds, as the test says. */
class ScriptedStore {
  inserts = 0;
  stored: HistoryRecord[] = [];
  constructor(private readonly fails: boolean) {}
  readonly kind = "sqlite" as const;
  insert(records: HistoryRecord[]): Promise<number> {
    this.inserts++;
    if (this.fails) return Promise.reject(new Error("disk full"));
    this.stored.push(...records);
    return Promise.resolve(records.length);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const VERSIONS = [
  { name: "MQTT 3.1", protocolVersion: 3, protocolId: "MQIsdp" },
  { name: "MQTT 3.1.1", protocolVersion: 4, protocolId: "MQTT" },
  { name: "MQTT 5", protocolVersion: 5, protocolId: "MQTT" },
] as const;

type Outcome =
  | { kind: "refused-at-connect"; code: number | undefined }
  | { kind: "answered"; cmd: "puback" | "pubrec"; reasonCode: number | undefined }
  | { kind: "closed" };

/** What the broker said to one QoS 1 or 2 PUBLISH, read off the wire: the connection refused, an answer, or a close. */
async function publishOnce(url: string, version: (typeof VERSIONS)[number], qos: 1 | 2, clientId: string): Promise<Outcome> {
  const client: MqttClient = mqtt.connect(url, {
    clientId,
    protocolVersion: version.protocolVersion,
    protocolId: version.protocolId,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  client.on("error", () => undefined); // a refusal is an outcome here, read from the packets
  try {
    return await new Promise<Outcome>((resolve) => {
      let messageId: number | undefined;
      client.on("packetreceive", (packet: Packet) => {
        if (packet.cmd === "connack") {
          const code = packet.reasonCode ?? packet.returnCode;
          if (code !== undefined && code !== 0) resolve({ kind: "refused-at-connect", code });
          return;
        }
        if ((packet.cmd === "puback" || packet.cmd === "pubrec") && packet.messageId === messageId) {
          resolve({ kind: "answered", cmd: packet.cmd, reasonCode: packet.reasonCode });
        }
      });
      client.on("packetsend", (packet: Packet) => {
        if (packet.cmd === "publish") messageId = packet.messageId;
      });
      client.on("close", () => resolve({ kind: "closed" }));
      client.on("connect", () => {
        client.publish("sensors/precious", "42", { qos }, () => undefined);
      });
    });
  } finally {
    client.end(true);
  }
}

/** A success is an answer with no reason code, or one below 0x80 (MQTT 5 §2.4: 0x80 and above are failures). */
const isSuccess = (o: Outcome) => o.kind === "answered" && (o.reasonCode === undefined || o.reasonCode < 0x80);

describe("a publish the history logger could not store is never acknowledged", function () {
  this.timeout(30_000);
  let broker: EmbeddedBroker;
  let stop: () => void;

  async function start(store: ScriptedStore): Promise<string> {
    broker = await EmbeddedBroker.start({ port: 0, host: "127.0.0.1" });
    const batcher = new CommitBatcher(store as unknown as HistoryStore, { maxBatch: 100, maxDelayMs: 0, clock: systemClock });
    stop = ingestFromEmbeddedBroker(broker, {
      filters: ["#"],
      maxPayloadBytes: broker.maxPacketBytes,
      batcher,
      clock: systemClock,
      numeric: () => null,
      reject: () => undefined,
    });
    // the publisher logs in as the runtime (anonymous clients may not publish here)
    const { username, password } = broker.runtimeCredentials;
    return `mqtt://${username}:${password}@127.0.0.1:${broker.port}`;
  }

  afterEach(async () => {
    stop?.();
    await broker?.close();
  });

  it("with a store that commits, every version the broker accepts gets its success (the check below can see one)", async () => {
    const store = new ScriptedStore(false);
    const url = await start(store);
    const accepted: string[] = [];
    for (const version of VERSIONS) {
      for (const qos of [1, 2] as const) {
        const o = await publishOnce(url, version, qos, `ok-${version.protocolVersion}-${qos}`);
        if (o.kind === "refused-at-connect") continue; // a version this broker does not speak
        assert.ok(isSuccess(o), `${version.name} QoS ${qos}: ${JSON.stringify(o)}`);
        accepted.push(`${version.name} QoS ${qos}`);
      }
    }
    assert.ok(accepted.includes("MQTT 3.1.1 QoS 1"), `accepted: ${accepted.join(", ")}`);
    assert.equal(store.stored.length, accepted.length, "each acknowledged message is stored");
  });

  it("with a store whose commit fails, no version gets a success: the connection is refused, closed, or answered with a failure code", async () => {
    const store = new ScriptedStore(true);
    const url = await start(store);
    // aedes 1.2 closes 3.1 and 3.1.1 connections and refuses MQTT 5 at CONNECT (return code 1)
    for (const version of VERSIONS) {
      for (const qos of [1, 2] as const) {
        const before = store.inserts;
        const o = await publishOnce(url, version, qos, `fail-${version.protocolVersion}-${qos}`);
        assert.ok(!isSuccess(o), `${version.name} QoS ${qos} was acknowledged though nothing was stored: ${JSON.stringify(o)}`);
        if (o.kind !== "refused-at-connect") assert.ok(store.inserts > before, `${version.name} QoS ${qos}: the refusal came from the failed commit`);
      }
    }
  });
});
