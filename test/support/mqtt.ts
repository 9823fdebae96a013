// A test's own MQTT client: collect messages, wait for the one that matters.
import mqtt, { type MqttClient } from "mqtt";
import { topicMatches } from "../../nodes/lib/mqtt/topic-filter";

export interface Received {
  topic: string;
  payload: Buffer;
  retain: boolean;
}

export class TestClient {
  readonly received: Received[] = [];
  private waiters: Array<{ filter: string; test: (m: Received) => boolean; resolve: (m: Received) => void }> = [];

  private constructor(readonly client: MqttClient) {
    client.on("message", (topic, payload, packet) => {
      const m = { topic, payload, retain: packet.retain };
      this.received.push(m);
      this.waiters = this.waiters.filter((w) => {
        if (topicMatches(w.filter, topic) && w.test(m)) {
          w.resolve(m);
          return false;
        }
        return true;
      });
    });
  }

  static async connect(url: string, options: mqtt.IClientOptions = {}): Promise<TestClient> {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
    return new TestClient(client);
  }

  async subscribe(...filters: string[]): Promise<void> {
    await this.client.subscribeAsync(filters, { qos: 1 });
  }

  publish(topic: string, payload: string, options: mqtt.IClientPublishOptions = {}): Promise<unknown> {
    return this.client.publishAsync(topic, payload, { qos: 1, ...options });
  }

  /** The first message on `filter` passing `test`, including one already received if `past`. */
  waitFor(filter: string, test: (m: Received) => boolean = () => true, timeoutMs = 10_000, past = true): Promise<Received> {
    if (past) {
      const seen = [...this.received].reverse().find((m) => topicMatches(filter, m.topic) && test(m));
      if (seen) return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no message on ${filter} within ${timeoutMs} ms; saw ${this.received.map((m) => m.topic).slice(-20).join(", ")}`));
      }, timeoutMs);
      const done = (m: Received) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.waiters.push({ filter, test, resolve: done });
    });
  }

  json<T = unknown>(m: Received): T {
    return JSON.parse(m.payload.toString("utf8")) as T;
  }

  async end(): Promise<void> {
    await this.client.endAsync(true);
  }
}
