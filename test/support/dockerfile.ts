// docker/Dockerfile read with dockerfile-ast (no Docker engine runs on these machines): its stages in order, each
// instruction's keyword, flags and arguments, for the checks in test/unit/docker.test.ts and the build steps that
// test/integration/docker-build.test.ts replays.
import fs from "node:fs";
import path from "node:path";
import { DockerfileParser, type Instruction, type ModifiableInstruction } from "dockerfile-ast";

export interface Step {
  keyword: string;
  /** The arguments after the flags, as the parser splits them (shell words; JSON forms are parsed by `json`). */
  args: string[];
  /** `--from=build` → { from: "build" }. */
  flags: Record<string, string>;
  /** The text after the keyword and the flags, with line continuations joined. */
  text: string;
  /** The JSON (exec) form's strings, when the arguments are one. */
  json: string[] | null;
  line: number;
}

export interface Stage {
  image: string;
  name: string | null;
  steps: Step[];
}

function isModifiable(ins: Instruction): ins is ModifiableInstruction {
  return typeof (ins as Partial<ModifiableInstruction>).getFlags === "function";
}

export function dockerfilePath(root: string): string {
  return path.join(root, "docker", "Dockerfile");
}

export function readStages(file: string): Stage[] {
  const dockerfile = DockerfileParser.parse(fs.readFileSync(file, "utf8"));
  const stages: Stage[] = [];
  for (const ins of dockerfile.getInstructions()) {
    const keyword = ins.getKeyword().toUpperCase();
    const flags: Record<string, string> = {};
    if (isModifiable(ins)) for (const f of ins.getFlags()) flags[f.getName()] = f.getValue() ?? "";
    const raw = (ins.getRawArgumentsContent() ?? "").replace(/\\\r?\n/g, " ");
    const text = raw.replace(/^(\s*--[a-z-]+(=\S*)?\s+)+/, "").trim();
    let json: string[] | null = null;
    const bracket = text.indexOf("[");
    if (bracket >= 0 && text.trimEnd().endsWith("]")) {
      try {
        const parsed: unknown = JSON.parse(text.slice(bracket));
        if (Array.isArray(parsed) && parsed.every((s) => typeof s === "string")) json = parsed;
      } catch {
        json = null;
      }
    }
    const step: Step = { keyword, args: ins.getArguments().map((a) => a.getValue()), flags, text, json, line: ins.getRange().start.line + 1 };
    if (keyword === "FROM") {
      const args = step.args;
      const as = args.findIndex((a) => a.toUpperCase() === "AS");
      stages.push({ image: args[0]!, name: as >= 0 ? args[as + 1]! : null, steps: [] });
      continue;
    }
    if (stages.length === 0) throw new Error(`${file}:${step.line}: ${keyword} before any FROM`);
    stages.at(-1)!.steps.push(step);
  }
  return stages;
}

/** The ENV of a stage, as a map (both `ENV A=1 B=2` and the old `ENV A 1`). */
export function envOf(stage: Stage, file: string): Record<string, string> {
  const dockerfile = DockerfileParser.parse(fs.readFileSync(file, "utf8"));
  const out: Record<string, string> = {};
  const lines = new Set(stage.steps.filter((s) => s.keyword === "ENV").map((s) => s.line));
  for (const env of dockerfile.getENVs()) {
    if (!lines.has(env.getRange().start.line + 1)) continue;
    for (const p of env.getProperties()) out[p.getName()] = p.getUnescapedValue() ?? "";
  }
  return out;
}

/** The patterns of docker/Dockerfile.dockerignore (the context is the repository root), comments and blanks dropped. */
export function dockerignore(root: string): string[] {
  return fs
    .readFileSync(path.join(root, "docker", "Dockerfile.dockerignore"), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
}

/** Whether a context path (posix, relative) is left out by the patterns (the simple forms the file uses: a name,
 * `**\/name`, `*.ext`), as Docker matches them: a pattern that matches a folder leaves out all beneath it. */
export function ignored(rel: string, patterns: string[]): boolean {
  const parts = rel.split("/");
  return patterns.some((p) => {
    if (p.startsWith("**/")) return parts.includes(p.slice(3));
    if (p.startsWith("*.")) return parts.length === 1 && rel.endsWith(p.slice(1));
    return parts[0] === p || rel === p;
  });
}
