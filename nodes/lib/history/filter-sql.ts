// MQTT topic filters as SQL conditions, exact in the database: a filter's rows are matched before LIMIT, so a
// filter whose LIKE pattern also catches other topics can never crowd the real matches out of the answer.
import type { HistoryQuery } from "./types";

export function isWildcard(filter: string): boolean {
  return filter.includes("+") || filter.includes("#");
}

export function queryFilters(query: Pick<HistoryQuery, "topic">): string[] {
  return typeof query.topic === "string" ? [query.topic] : [...query.topic];
}

/**
 * A SQLite GLOB that every match of `filter` satisfies. GLOB is case-sensitive, so its literal prefix narrows
 * the (topic, at) index; the exact check is the `mqtt_match` function the reader registers.
 */
export function filterToGlob(filter: string): string {
  return filter.replace(/[*?[\]]/g, (c) => `[${c}]`).replace(/\+/g, "*").replace(/\/?#$/, "*");
}

/** A PostgreSQL regular expression (ARE) matching exactly the topics `filter` matches (as topicMatches does). */
export function filterToRegex(filter: string): string {
  const levels = filter.split("/");
  const rest = levels[levels.length - 1] === "#";
  const body = (rest ? levels.slice(0, -1) : levels).map((l) => (l === "+" ? "[^/]*" : l.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  if (!rest) return `^${body.join("/")}$`;
  return body.length === 0 ? "^.*$" : `^${body.join("/")}(/.*)?$`;
}
