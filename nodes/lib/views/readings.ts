// The Environment tab, from this runtime's history API: every sensor's last numeric value (only readings: not the
// simulators' own topics, nor what the stats and alert nodes publish), and 24 hours of temperature and humidity
// in 15-minute buckets for the charts.
import { isTelemetryOutput, NATIVE_ROOT, topics } from "../contract";
import { levels } from "./payload";

/** A reading older than this shows as stale. */
export const STALE_AFTER_MS = 15 * 60_000;
export const CHART_SPAN_MS = 24 * 3_600_000;

export interface Reading {
  topic: string;
  value: number;
  text: string;
  at: string;
  stale: boolean;
  count: number;
}

const round2 = (v: number) => Math.round(v * 100) / 100;

/** Not a sensor's reading: what the simulators, stats and alert nodes publish. */
export function isReading(topic: string): boolean {
  const l = levels(topic);
  return !isTelemetryOutput(topic) && !(l[0] === NATIVE_ROOT && l.length > 3 && l[2] === "sim");
}

/** GET /api/history/topics's answer (msg.statusCode, msg.payload) → the readings table, or the problem to show. */
export function latestReadings(msg: { statusCode?: unknown; payload?: unknown }, now: number): { rows: Reading[] } | { problem: string } {
  const body = msg.payload as { topics?: unknown } | null | undefined;
  if (msg.statusCode !== 200 || !body || !Array.isArray(body.topics)) return { problem: `history API: ${String(msg.statusCode || "no answer")}` };
  const rows = (body.topics as Array<{ topic: string; lastValue: unknown; lastAt: string; count: number }>)
    .filter((t) => typeof t.lastValue === "number" && Number.isFinite(t.lastValue) && typeof t.topic === "string" && isReading(t.topic))
    .map((t) => ({
      topic: t.topic,
      value: t.lastValue as number,
      text: String(round2(t.lastValue as number)),
      at: t.lastAt,
      stale: now - Date.parse(t.lastAt) > STALE_AFTER_MS,
      count: t.count,
    }));
  return { rows };
}

/** The chart queries: every StatusPi's and every IoTitan sensor's temperature, and the same for humidity. */
export function chartRequests(
  httpUrl: string,
  now: number,
  headers: Record<string, string>,
): Array<{ url: string; method: "GET"; headers: Record<string, string>; topic: "temperature" | "humidity" }> {
  const base = `${httpUrl}/api/history?bucket=15m&from=${now - CHART_SPAN_MS}`;
  const q = (filters: string[]) => filters.map((t) => `&topic=${encodeURIComponent(t)}`).join("");
  return (["temperature", "humidity"] as const).map((quantity) => ({
    url: base + q([topics.environmentValue("+", quantity), `+/+/+/+/${quantity}`]),
    method: "GET",
    headers,
    topic: quantity,
  }));
}

export interface ChartData {
  series: string[];
  data: Array<Array<{ x: number; y: number }>>;
  labels: string[];
}

/** A /api/history answer → node-red-dashboard chart data, or null when there is nothing to draw. */
export function chartData(msg: { statusCode?: unknown; payload?: unknown }): ChartData[] | null {
  const body = msg.payload as { series?: unknown } | null | undefined;
  if (msg.statusCode !== 200 || !body || !Array.isArray(body.series)) return null;
  const series = (body.series as Array<{ topic: string; points: Array<{ t: string; mean: number | null }> }>).filter((s) => s.points.some((p) => p.mean !== null));
  return [
    {
      series: series.map((s) => s.topic),
      data: series.map((s) => s.points.filter((p) => p.mean !== null).map((p) => ({ x: Date.parse(p.t), y: round2(p.mean as number) }))),
      labels: [""],
    },
  ];
}
