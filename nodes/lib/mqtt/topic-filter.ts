// MQTT topic filter matching (+ one level, # the rest), for dispatching one client's messages to many users.
export function topicMatches(filter: string, topic: string): boolean {
  if (filter === topic) return true;
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return i < t.length || (i === t.length && i > 0);
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Why `filter` is not an MQTT topic filter (MQTT 3.1.1 §4.7.1), or null when it is one. */
export function filterProblem(filter: string): string | null {
  if (filter === "") return "a topic filter must not be empty";
  if (filter.includes("\u0000")) return "a topic filter must not contain U+0000";
  const levels = filter.split("/");
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.includes("#") && (level !== "#" || i !== levels.length - 1)) return `"#" must be alone in the last level`;
    if (level.includes("+") && level !== "+") return `"+" must be alone in its level`;
  }
  return null;
}
