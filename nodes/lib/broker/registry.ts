// The embedded broker of this process, if there is one, so a node in the same process (the history logger)
// can store messages before the broker acknowledges them instead of subscribing over the network.
import type { EmbeddedBroker } from "./embedded-broker";

let current: { broker: EmbeddedBroker; url: string } | null = null;

export function registerEmbeddedBroker(broker: EmbeddedBroker, url: string): void {
  current = { broker, url };
}

export function unregisterEmbeddedBroker(broker: EmbeddedBroker): void {
  if (current?.broker === broker) current = null;
}

/** The embedded broker that `url` points at, when it runs in this process. */
export function embeddedBrokerFor(url: string): EmbeddedBroker | null {
  if (!current) return null;
  const norm = (u: string) => {
    try {
      const p = new URL(u);
      const host = p.hostname === "localhost" || p.hostname === "0.0.0.0" ? "127.0.0.1" : p.hostname;
      return `${p.protocol}//${host}:${p.port || "1883"}`;
    } catch {
      return u;
    }
  };
  return norm(current.url) === norm(url) ? current.broker : null;
}
