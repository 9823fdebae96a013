// The MQTT topics a Home Assistant discovery config names: what Home Assistant will read (state, availability,
// attributes, image) and write (commands) for the entity. The broker checks them against the device that publishes
// the config (client-guard.ts): an ACL on the config's topic alone would let a device announce an entity whose button
// writes another device's command topic, which Home Assistant would then publish with its own, operator's, login.
//
// Home Assistant reads a topic from any key named `topic` or ending in `_topic`, and from their abbreviations (`t`,
// `…_t`: `stat_t`, `cmd_t`, `avty_t`, …), in the config and in its `availability` (`avty`) list; a value that starts
// or ends with `~` has the config's `~` put in its place
// (https://www.home-assistant.io/integrations/mqtt/#using-abbreviations-and-base-topic).

const TOPIC_KEY = /^(?:t|topic|.+_t|.+_topic)$/;

export class HaConfigError extends Error {}

/** The topics a config payload names; an empty payload (the entity removed) names none. Throws HaConfigError for a
 * payload that is not a JSON object (Home Assistant would refuse it too). */
export function haConfigTopics(payload: Buffer | string): string[] {
  const text = typeof payload === "string" ? payload : payload.toString("utf8");
  if (text.length === 0) return [];
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch {
    throw new HaConfigError("a Home Assistant discovery config must be JSON");
  }
  if (!config || typeof config !== "object" || Array.isArray(config)) throw new HaConfigError("a Home Assistant discovery config must be a JSON object");
  const record = config as Record<string, unknown>;
  const base = typeof record["~"] === "string" ? record["~"] : null;
  const expand = (value: string) => (base === null ? value : value.startsWith("~") ? base + value.slice(1) : value.endsWith("~") ? value.slice(0, -1) + base : value);
  const found: string[] = [];
  const collect = (object: Record<string, unknown>) => {
    for (const [key, value] of Object.entries(object)) {
      if (!TOPIC_KEY.test(key)) continue;
      if (typeof value !== "string") throw new HaConfigError(`"${key}" of a Home Assistant discovery config must be a topic (a string)`);
      found.push(expand(value));
    }
  };
  collect(record);
  for (const listKey of ["availability", "avty"]) {
    const list = record[listKey];
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw new HaConfigError(`"${listKey}" of a Home Assistant discovery config must be a list`);
    for (const entry of list) if (entry && typeof entry === "object") collect(entry as Record<string, unknown>);
  }
  return found;
}
