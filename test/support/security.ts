// The security suite's fixtures: a data dir with a real identity store (CA, server certificate, devices, users), a
// client certificate from another CA and an expired one, and an MQTT client that reports a refusal instead of throwing.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { addDevice, addUser, ensureServerTls, initCa } from "../../nodes/lib/identity/admin";
import { createCa, issueDevice } from "../../nodes/lib/identity/ca";
import type { PemPair } from "../../nodes/lib/identity/types";

export interface Enrolled {
  dataDir: string;
  ca: string;
  /** Enrolled devices' bundles, by id. */
  devices: Record<string, PemPair>;
  /** A certificate with CN `doorpi` from a CA the hub does not know. */
  otherCa: PemPair;
  /** An enrolled device (`oldpi`) whose certificate expired yesterday. */
  expired: PemPair;
  users: Record<"admin" | "operator" | "viewer", { username: string; password: string }>;
}

export const DAY_MS = 86_400_000;

/** `devices`: id → role. */
export async function enrol(devices: Record<string, Parameters<typeof addDevice>[2]>): Promise<Enrolled> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-security-"));
  const now = new Date();
  const ca = await initCa(dataDir, { now });
  await ensureServerTls(dataDir, ["localhost", "127.0.0.1"], now);
  const hubUrl = "mqtts://127.0.0.1:8883";
  const bundles: Record<string, PemPair> = {};
  for (const [id, role] of Object.entries(devices)) {
    const b = await addDevice(dataDir, id, role, { hubUrl, now });
    bundles[id] = { cert: b.cert, key: b.key };
  }
  const old = await addDevice(dataDir, "oldpi", "doorpi", { hubUrl, now: new Date(now.getTime() - 3 * DAY_MS), days: 2 });
  const foreign = await createCa({ now, commonName: "Somebody else's CA" });
  const otherCa = await issueDevice(foreign, { id: "doorpi", now });
  const users = {
    admin: { username: "ada", password: "ada-admin-password" },
    operator: { username: "olga", password: "olga-operator-password" },
    viewer: { username: "vera", password: "vera-viewer-password" },
  };
  for (const [role, u] of Object.entries(users)) await addUser(dataDir, u.username, role as "admin", u.password);
  return { dataDir, ca: ca.cert, devices: bundles, otherCa: { cert: otherCa.cert, key: otherCa.key }, expired: { cert: old.cert, key: old.key }, users };
}

export type Attempt = { ok: true; client: MqttClient } | { ok: false; error: Error & { code?: number | string } };

/** Connects once (no reconnect): the client, or what refused it (a CONNACK code, a TLS alert, a closed socket). */
export function attempt(url: string, options: IClientOptions = {}, timeoutMs = 5000): Promise<Attempt> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: timeoutMs, ...options });
    let done = false;
    const finish = (a: Attempt) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!a.ok) client.end(true);
      resolve(a);
    };
    const timer = setTimeout(() => finish({ ok: false, error: new Error("no answer in time") }), timeoutMs + 1000);
    client.once("connect", () => finish({ ok: true, client }));
    client.once("error", (error) => finish({ ok: false, error }));
    client.once("close", () => finish({ ok: false, error: new Error("closed before CONNACK") }));
  });
}

/** A device's TLS options (the hub's CA trusted, the server's name checked). */
export function tlsAs(clientId: string, pair: PemPair, ca: string): IClientOptions {
  return { clientId, cert: pair.cert, key: pair.key, ca, rejectUnauthorized: true };
}

export function closed(client: MqttClient, timeoutMs = 5000): Promise<boolean> {
  if (!client.connected) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    client.once("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** The QoS the broker granted each filter, in order (128: refused), as the SUBACK says. mqtt.js rejects a SUBACK
 * with a refusal; its packet still has the codes. */
export async function subscribeGranted(client: MqttClient, filters: Record<string, { qos: 0 | 1 | 2 }>): Promise<number[]> {
  try {
    const granted = await client.subscribeAsync(filters);
    return granted.map((g) => g.qos);
  } catch (err) {
    const packet = (err as { packet?: { granted?: Array<number | { qos: number }> } }).packet;
    if (!packet?.granted) throw err;
    return packet.granted.map((g) => (typeof g === "number" ? g : g.qos));
  }
}
