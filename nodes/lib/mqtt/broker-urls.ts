// A broker setting may name one broker or the nodes of a broker cluster: `mqtt://a:1883,mqtt://b:1883,...`
// (PIFOG_MQTT_URL). A client connects to the first and, each time the connection is lost, tries the next one
// (mqtt.js `servers`), so a persistent session carries on on another node when one dies.
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";

const SCHEME = /^(mqtts?|wss?):\/\//;

const DEFAULT_PORTS = { mqtt: 1883, mqtts: 8883, ws: 80, wss: 443 } as const;

export class BrokerUrlError extends Error {}

/** The URLs of a broker setting, in order; throws when one is not an mqtt://, mqtts://, ws:// or wss:// URL. */
export function brokerUrls(setting: string): string[] {
  const urls = setting
    .split(",")
    .map((u) => u.trim())
    .filter(Boolean);
  if (urls.length === 0) throw new BrokerUrlError("no broker URL");
  for (const u of urls) {
    let parsed: URL | null = null;
    try {
      parsed = new URL(u);
    } catch {
      // said below
    }
    if (!SCHEME.test(u) || !parsed?.hostname) throw new BrokerUrlError(`"${u}" is not an mqtt://, mqtts://, ws:// or wss:// URL`);
  }
  return urls;
}

/** The first broker of a setting: for a client that takes one URL only (Node-RED's core MQTT nodes). */
export function firstBrokerUrl(setting: string): string {
  return setting.split(",")[0].trim();
}

/**
 * mqtt.connect for a broker setting. Several URLs: the first one's credentials for all, and mqtt.js's `servers`
 * rotation (the first URL first, then one node per reconnect attempt, round the list).
 */
export function connectBrokers(setting: string, options: IClientOptions): MqttClient {
  const urls = brokerUrls(setting);
  if (urls.length === 1) return mqtt.connect(urls[0], options);
  const servers = urls.map((u) => {
    const p = new URL(u);
    const protocol = p.protocol.replace(/:$/, "") as "mqtt" | "mqtts" | "ws" | "wss";
    const port = p.port ? Number(p.port) : DEFAULT_PORTS[protocol];
    return { host: p.hostname, port, protocol };
  });
  return mqtt.connect(urls[0], { ...options, servers });
}
