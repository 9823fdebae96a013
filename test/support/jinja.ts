// Home Assistant's templates rendered by Jinja2 itself (Python's, as Home Assistant does), so a test sees what Home
// Assistant would make of a PiFog payload. One python3 process per batch. Where python3 or its jinja2 is missing
// (Debian: python3-jinja2), `jinjaMissing()` says why and the tests that need it print that and skip.
import { spawnSync } from "node:child_process";

export interface Rendering {
  template: string;
  /** The payload as it arrives (`value`); when it is JSON, also `value_json`, as Home Assistant gives it. */
  payload: string;
}

const SCRIPT = String.raw`
import json, sys
from jinja2.sandbox import ImmutableSandboxedEnvironment
env = ImmutableSandboxedEnvironment()
out = []
for item in json.load(sys.stdin):
    vars = {"value": item["payload"]}
    try:
        vars["value_json"] = json.loads(item["payload"])
    except ValueError:
        pass
    try:
        out.append({"ok": env.from_string(item["template"]).render(**vars)})
    except Exception as e:
        out.append({"error": type(e).__name__ + ": " + str(e)})
json.dump(out, sys.stdout)
`;

/** Why templates cannot be rendered here, or null. */
export function jinjaMissing(): string | null {
  const probe = spawnSync("python3", ["-c", "import jinja2"], { encoding: "utf8" });
  if (probe.error) return `python3 is not installed (${probe.error.message})`;
  if (probe.status !== 0) return "python3's jinja2 is not installed (Debian: apt-get install python3-jinja2)";
  return null;
}

/** Each template rendered with its payload: the text, or an Error with Jinja's complaint. */
export function renderAll(items: readonly Rendering[]): Array<string | Error> {
  const run = spawnSync("python3", ["-c", SCRIPT], { input: JSON.stringify(items), encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`python3 failed: ${run.stderr}`);
  const results = JSON.parse(run.stdout) as Array<{ ok?: string; error?: string }>;
  return results.map((r) => (r.error !== undefined ? new Error(r.error) : (r.ok ?? "")));
}

export function render(template: string, payload: string): string {
  const [result] = renderAll([{ template, payload }]);
  if (result instanceof Error) throw result;
  return result ?? "";
}
