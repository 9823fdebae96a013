// Alert rules as the alert node's editor lists them, normalised once: numbers parsed, durations in ms,
// every field range-checked with a message that names the rule.
import { isAlertOutput, isTopicFilter, type AlertCondition } from "../contract";
import { parseValuePath, type ValuePath } from "../telemetry-value";

export interface AlertRule {
  /** One topic level: it names the rule in events and in the checkpoint. */
  id: string;
  label: string;
  /** MQTT topic filter; a rule with wildcards keeps one alert per matching topic. */
  topic: string;
  path: string;
  valuePath: ValuePath;
  condition: AlertCondition;
  threshold: number;
  /** Clears only once the value is back past the threshold by this much (≥ 0). */
  hysteresis: number;
  /** The condition must hold this long before the alert is raised. */
  forMs: number;
  /** Until acknowledged, repeat the alert this often; 0: never. */
  repeatMs: number;
  /** After a clear, no new raise for this long. */
  cooldownMs: number;
}

/** A rule as the editor saves it: durations in seconds, numbers possibly as text. */
export interface AlertRuleConfig {
  id?: unknown;
  label?: unknown;
  topic?: unknown;
  path?: unknown;
  condition?: unknown;
  threshold?: unknown;
  hysteresis?: unknown;
  for?: unknown;
  repeat?: unknown;
  cooldown?: unknown;
}

/** IoTitan's only rule: a value above 50 → `<topic>/alert`. */
export const DEFAULT_RULES: AlertRuleConfig[] = [
  { id: "over50", label: "over 50 (IoTitan)", topic: "iotitan/#", path: "", condition: "above", threshold: 50, hysteresis: 0, for: 0, repeat: 0, cooldown: 0 },
];

const RULE_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_SECONDS = 30 * 24 * 3600;

function num(v: unknown, fallback: number | undefined, what: string): number {
  if (v === undefined || v === null || (typeof v === "string" && v.trim() === "")) {
    if (fallback === undefined) throw new Error(`${what} is missing`);
    return fallback;
  }
  const n = typeof v === "number" ? v : Number(String(v).trim());
  if (!Number.isFinite(n)) throw new Error(`${what} "${String(v)}" is not a number`);
  return n;
}

function seconds(v: unknown, what: string): number {
  const s = num(v, 0, what);
  if (s < 0 || s > MAX_SECONDS) throw new Error(`${what} ${s} s is not 0..${MAX_SECONDS}`);
  return Math.round(s * 1000);
}

export function normaliseRule(raw: AlertRuleConfig, index: number): AlertRule {
  const id = String(raw.id ?? "").trim();
  const name = id || `rule ${index + 1}`;
  if (!RULE_ID.test(id)) throw new Error(`${name}: the id must be 1-64 letters, digits, _ . -`);
  const topic = String(raw.topic ?? "").trim();
  if (!isTopicFilter(topic)) throw new Error(`${name}: "${topic}" is not an MQTT topic filter`);
  if (isAlertOutput(topic)) throw new Error(`${name}: "${topic}" is an alert output; alerts never take their own outputs`);
  const path = String(raw.path ?? "").trim();
  let valuePath: ValuePath;
  try {
    valuePath = parseValuePath(path);
  } catch (err) {
    throw new Error(`${name}: ${(err as Error).message}`);
  }
  const condition = raw.condition === "below" ? "below" : raw.condition === "above" || raw.condition === undefined ? "above" : null;
  if (condition === null) throw new Error(`${name}: the condition must be above or below`);
  const threshold = num(raw.threshold, undefined, `${name}: the threshold`);
  const hysteresis = num(raw.hysteresis, 0, `${name}: the hysteresis`);
  if (hysteresis < 0) throw new Error(`${name}: the hysteresis must not be negative`);
  return {
    id,
    label: String(raw.label ?? "").trim() || id,
    topic,
    path,
    valuePath,
    condition,
    threshold,
    hysteresis,
    forMs: seconds(raw.for, `${name}: "for"`),
    repeatMs: seconds(raw.repeat, `${name}: the repeat interval`),
    cooldownMs: seconds(raw.cooldown, `${name}: the cooldown`),
  };
}

/** Every rule, or an Error naming the first bad one. Ids must be unique. */
export function normaliseRules(raw: unknown): AlertRule[] {
  const list = typeof raw === "string" && raw.trim() ? (JSON.parse(raw) as unknown) : raw;
  if (list === undefined || list === null || list === "") return DEFAULT_RULES.map(normaliseRule);
  if (!Array.isArray(list)) throw new Error("the rules must be a list");
  const rules = list.map((r, i) => normaliseRule((r ?? {}) as AlertRuleConfig, i));
  const seen = new Set<string>();
  for (const r of rules) {
    if (seen.has(r.id)) throw new Error(`rule id "${r.id}" is used twice`);
    seen.add(r.id);
  }
  return rules;
}

/** The value is past the threshold: the alert's condition holds. */
export function raises(rule: AlertRule, value: number): boolean {
  return rule.condition === "above" ? value > rule.threshold : value < rule.threshold;
}

/** The value is back past the threshold by the hysteresis: an active alert clears. */
export function clears(rule: AlertRule, value: number): boolean {
  return rule.condition === "above" ? value <= rule.threshold - rule.hysteresis : value >= rule.threshold + rule.hysteresis;
}
