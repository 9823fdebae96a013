// An MQTT round trip measured the way a user would notice it: a client publishes (QoS 1) to a topic it is
// subscribed to and times how long until the message comes back, over and over while something else runs.
// The hostile-input tests run one of these during each flood and compare with a quiet baseline.
import mqtt, { type MqttClient } from "mqtt";
import { MQTT_ADMIN } from "./runtime";

export interface RoundTrips {
  count: number;
  p50: number;
  p99: number;
  max: number;
  /** Round trips that never came back within the probe's timeout. */
  lost: number;
}

export function summarise(times: number[], lost = 0): RoundTrips {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN);
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? NaN, lost };
}

export class RoundTripProbe {
  private readonly times: number[] = [];
  private lost = 0;
  private running = false;
  private loop: Promise<void> | null = null;

  private constructor(private readonly client: MqttClient, private readonly topic: string) {}

  static async connect(url: string, name = "probe"): Promise<RoundTripProbe> {
    const id = `pifog-test-${name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    // the test runtimes' MQTT admin: a probe publishes on a topic of its own
    const client = await mqtt.connectAsync(url, { ...MQTT_ADMIN, clientId: id, reconnectPeriod: 0, connectTimeout: 5000 });
    const topic = `test/rtt/${id}`;
    await client.subscribeAsync(topic, { qos: 1 });
    return new RoundTripProbe(client, topic);
  }

  /** One round trip in ms, or null when it did not come back within `timeoutMs`. */
  async once(timeoutMs = 30_000): Promise<number | null> {
    const marker = `${Date.now()}-${Math.random()}`;
    const start = performance.now();
    return new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        this.client.off("message", onMessage);
        resolve(null);
      }, timeoutMs);
      const onMessage = (topic: string, payload: Buffer) => {
        if (topic !== this.topic || payload.toString() !== marker) return;
        clearTimeout(timer);
        this.client.off("message", onMessage);
        resolve(performance.now() - start);
      };
      this.client.on("message", onMessage);
      this.client.publish(this.topic, marker, { qos: 1 });
    });
  }

  /** Measures `count` round trips one after another (a quiet baseline). */
  async measure(count: number): Promise<RoundTrips> {
    const times: number[] = [];
    let lost = 0;
    for (let i = 0; i < count; i++) {
      const t = await this.once();
      if (t === null) lost++;
      else times.push(t);
    }
    return summarise(times, lost);
  }

  /** Starts measuring round trips back to back, every `everyMs` at most, until stop(). */
  start(everyMs = 20): void {
    this.running = true;
    this.times.length = 0;
    this.lost = 0;
    this.loop = (async () => {
      while (this.running) {
        const t0 = performance.now();
        const t = await this.once();
        if (t === null) this.lost++;
        else this.times.push(t);
        const rest = everyMs - (performance.now() - t0);
        if (rest > 0) await new Promise((r) => setTimeout(r, rest));
      }
    })();
  }

  async stop(): Promise<RoundTrips> {
    this.running = false;
    await this.loop;
    return summarise(this.times, this.lost);
  }

  async close(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.client.endAsync(true);
  }
}
