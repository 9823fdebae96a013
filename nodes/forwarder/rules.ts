// The forwarder's settings and topic remapping, as pure functions (the node and the tests share them).
//
// Remapping rule: each forwarded filter has an optional prefix pair `from` → `to`. A topic that starts with
// `from` has that prefix replaced by `to` (`local/faces/1` with `local/` → `remote/` becomes `remote/faces/1`);
// an empty `from` prepends `to`; a topic that does not start with `from` keeps its name. When a topic matches
// several filters, the first one in the list decides (the message is forwarded once).
import type { NodeDef } from "node-red";
import { topicMatches } from "../lib/mqtt/topic-filter";

export interface ForwardRule {
  filter: string;
  from: string;
  to: string;
}

export type QuotaPolicy = "refuse" | "drop-oldest";

export interface ForwarderDef extends NodeDef {
  device: string;
  remoteUrl: string;
  clientId: string;
  qos: string | number;
  rules: ForwardRule[] | string;
  retained: boolean | string;
  maxItems: string | number;
  /** MiB */
  maxMegabytes: string | number;
  policy: string;
  batchSize: string | number;
  rejectUnauthorized: boolean | string;
  caFile: string;
}

export interface ForwarderCredentials {
  username?: string;
  password?: string;
}

export interface ForwarderSettings {
  remoteUrl: string;
  clientId: string;
  qos: 0 | 1;
  rules: ForwardRule[];
  /** Forward the retained messages the local broker replays on subscribing (off: only live messages). */
  retained: boolean;
  maxItems: number;
  maxBytes: number;
  policy: QuotaPolicy;
  batchSize: number;
  rejectUnauthorized: boolean;
  caFile: string | undefined;
  username: string | undefined;
  password: string | undefined;
}

export const DEFAULT_MAX_ITEMS = 100_000;
export const DEFAULT_MAX_MEGABYTES = 100;
export const DEFAULT_BATCH_SIZE = 50;

/** One queued message: the local topic (remapped when sent, with the rules then in force) and the bytes, base64. */
export interface Queued {
  t: string;
  p: string;
  r?: boolean;
}

export function isTopicFilter(filter: string): boolean {
  if (filter === "" || filter.length > 1024 || filter.includes("\u0000")) return false;
  const levels = filter.split("/");
  return levels.every((level, i) =>
    level === "#" ? i === levels.length - 1 : level === "+" || (!level.includes("+") && !level.includes("#")),
  );
}

function isTopicName(topic: string): boolean {
  return !topic.includes("+") && !topic.includes("#") && !topic.includes("\u0000");
}

function flag(value: boolean | string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === "") return fallback;
  return value === true || value === "true";
}

function count(value: string | number | undefined, fallback: number, what: string, min: number, max: number): number {
  const n = value === undefined || value === "" ? fallback : Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${what} ${String(value)} is not ${min}..${max}`);
  return n;
}

export function normaliseForwarder(config: ForwarderDef, credentials: ForwarderCredentials, nodeId: string): ForwarderSettings {
  const remote = String(config.remoteUrl ?? "").trim();
  let url: URL;
  try {
    url = new URL(remote);
  } catch {
    throw new Error(`remote broker "${remote}" is not a URL (mqtt://host:1883, mqtts://host:8883)`);
  }
  if (!["mqtt:", "mqtts:", "tcp:", "ssl:", "tls:", "ws:", "wss:"].includes(url.protocol)) {
    throw new Error(`remote broker "${remote}" must be mqtt://, mqtts://, ws:// or wss://`);
  }
  const qos = Number(config.qos ?? 1);
  if (qos !== 0 && qos !== 1) throw new Error(`QoS ${String(config.qos)} is not 0 or 1`);

  let raw: unknown = config.rules;
  if (typeof raw === "string") {
    try {
      raw = raw.trim() === "" ? [] : JSON.parse(raw);
    } catch {
      throw new Error("the topic list is not valid JSON");
    }
  }
  if (!Array.isArray(raw)) throw new Error("the topic list must be a list");
  const rules: ForwardRule[] = [];
  for (const r of raw as Array<Partial<ForwardRule>>) {
    const filter = String(r?.filter ?? "").trim();
    if (!isTopicFilter(filter)) throw new Error(`"${filter}" is not an MQTT topic filter`);
    const from = String(r?.from ?? "");
    const to = String(r?.to ?? "");
    if (!isTopicName(from) || !isTopicName(to)) throw new Error(`${filter}: a prefix may not contain + or #`);
    rules.push({ filter, from, to });
  }
  if (rules.length === 0) throw new Error("choose at least one topic filter to forward");

  const maxItems = Math.floor(count(config.maxItems, DEFAULT_MAX_ITEMS, "max queued messages", 1, 100_000_000));
  const maxBytes = Math.floor(count(config.maxMegabytes, DEFAULT_MAX_MEGABYTES, "max queued MiB", 0.001, 1_000_000) * 1024 * 1024);
  const policy: QuotaPolicy = config.policy === "drop-oldest" ? "drop-oldest" : "refuse";
  const batchSize = Math.floor(count(config.batchSize, DEFAULT_BATCH_SIZE, "batch size", 1, 1000));
  const clientId = String(config.clientId ?? "").trim() || `pifog-forwarder-${nodeId.replace(/[^A-Za-z0-9_-]/g, "")}`;
  return {
    remoteUrl: remote,
    clientId,
    qos,
    rules,
    retained: flag(config.retained, false),
    maxItems,
    maxBytes,
    policy,
    batchSize,
    rejectUnauthorized: flag(config.rejectUnauthorized, true),
    caFile: String(config.caFile ?? "").trim() || undefined,
    username: String(credentials.username ?? "").trim() || undefined,
    password: credentials.password ? String(credentials.password) : undefined,
  };
}

/** The rule that decides for `topic`: the first whose filter matches, or undefined. */
export function ruleFor(rules: ForwardRule[], topic: string): ForwardRule | undefined {
  return rules.find((r) => topicMatches(r.filter, topic));
}

/** The remote topic of a local one (see the rule at the top of this file). */
export function remapTopic(rules: ForwardRule[], topic: string): string {
  const rule = ruleFor(rules, topic);
  if (!rule) return topic;
  if (rule.from === "") return `${rule.to}${topic}`;
  if (!topic.startsWith(rule.from)) return topic;
  const mapped = `${rule.to}${topic.slice(rule.from.length)}`;
  return mapped === "" ? topic : mapped; // an empty topic is not a topic
}

/** The bytes an item takes in the outbox (its JSON text). */
export function queuedBytes(item: Queued): number {
  return Buffer.byteLength(JSON.stringify(item));
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
