// Which web pages may open MQTT over WebSocket (/mqtt) from a visitor's browser. A browser sends the page's Origin
// with every WebSocket upgrade and lets any site connect anywhere, so without this check a page on another site
// could drive the broker (and the devices behind it) through a browser on the fog's network. Programs (mqtt.js in
// Node, the devices) send no Origin and are not concerned.

import type { Duplex } from "node:stream";

/** `scheme://host[:port]` in lower case, the default port left out; null for what is not an http(s) origin. */
export function normaliseOrigin(value: string): string | null {
  try {
    const url = new URL(value.trim());
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    return url.origin.toLowerCase();
  } catch {
    return null;
  }
}

/** Parses a comma-separated list of origins (`*` allows any); throws naming the first entry that is not one. */
export function parseOrigins(raw: string | undefined): string[] {
  const entries = (raw ?? "").split(",").map((e) => e.trim()).filter(Boolean);
  return entries.map((entry) => {
    if (entry === "*") return entry;
    const origin = normaliseOrigin(entry);
    if (!origin) throw new Error(`"${entry}" is not an origin (http://host[:port] or https://host[:port])`);
    return origin;
  });
}

export type OriginDecision = { allowed: true } | { allowed: false; reason: string };

/**
 * No Origin: not a browser, allowed. Otherwise the page must come from the host the request was sent to
 * (Origin's host:port equals the Host header: the fog's own dashboard) or from a listed origin.
 */
export function checkOrigin(origin: string | undefined, host: string | undefined, allowed: readonly string[]): OriginDecision {
  if (origin === undefined) return { allowed: true };
  if (allowed.includes("*")) return { allowed: true };
  const normal = normaliseOrigin(origin);
  if (normal === null) return { allowed: false, reason: `origin "${origin}" is not a web page's origin` };
  if (host && new URL(normal).host === hostOf(host)) return { allowed: true };
  if (allowed.includes(normal)) return { allowed: true };
  return { allowed: false, reason: `origin ${normal} is neither this host (${host ?? "no Host header"}) nor in PIFOG_MQTT_WS_ORIGINS` };
}

/** The Host header as URL.host writes it (lower case, default ports dropped the same way on both sides). */
function hostOf(host: string): string | null {
  try {
    return new URL(`http://${host.trim()}`).host;
  } catch {
    return null;
  }
}

/** Answers a refused upgrade as an HTTP refusal (403 with `{"error": …}`), before any WebSocket exists. */
export function refuseUpgrade(socket: Duplex, reason: string): void {
  const body = JSON.stringify({ error: `${reason}: MQTT over WebSocket is refused to this web page` });
  socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
