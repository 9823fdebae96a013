// A node's config field as the editor leaves it.

/** A config value left as `${VAR}` (the variable was not set) or blank counts as not given. */
export function given(value: string | undefined): string | undefined {
  const v = (value ?? "").trim();
  return v === "" || /^\$\{[^}]*\}$/.test(v) ? undefined : v;
}
