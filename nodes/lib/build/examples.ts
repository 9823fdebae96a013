// `npm pack` (prepack) runs this after the build: each role's flow from flows/ becomes examples/<its tab's name>.json,
// which Node-RED lists under Import → Examples → pifog. examples/ is generated (git-ignored): flows/ stays the source.
// Each example's tab names its own device (env PIFOG_DEVICE_ID and PIFOG_ROLE, as the all-in-one runtime does) and
// MQTT client id, so two imported examples are two devices; the other placeholders come from the environment as in
// the shipped flows (nodes/lib/runtime/standalone.ts sets them in a stock Node-RED).
import fs from "node:fs";
import path from "node:path";
import { ALL_IN_ONE, readRoleFlow, type FlowNode } from "../runtime/flows";

export interface Example {
  /** The file name under examples/: the tab's label, which the editor's menu shows. */
  file: string;
  role: (typeof ALL_IN_ONE)[number];
  nodes: FlowNode[];
}

/** A file name the editor shows as is and every file system takes. */
export function exampleFileName(label: string): string {
  const name = label.replace(/[\\/:*?"<>|]+/g, "-").replace(/\s+/g, " ").trim();
  return `${name || "flow"}.json`;
}

function withTabEnv(tab: FlowNode, values: Record<string, string>): FlowNode {
  const env = (tab.env ?? []).filter((e) => !(e.name in values));
  for (const [name, value] of Object.entries(values)) env.push({ name, value, type: "str" });
  return { ...tab, env };
}

/** Every role's flow as an example, in the fog's order. */
export function examples(flowsDir?: string): Example[] {
  return ALL_IN_ONE.map((role) => {
    const flow = readRoleFlow(role, flowsDir);
    const tabs = flow.filter((n) => n.type === "tab");
    if (tabs.length !== 1) throw new Error(`flows/${role}.json must have one tab to be an example, not ${tabs.length}`);
    // its own MQTT client id too: two imported examples' core MQTT nodes must not take each other's connection
    const nodes = flow.map((n) => (n.type === "tab" ? withTabEnv(n, { PIFOG_DEVICE_ID: role, PIFOG_ROLE: role, PIFOG_MQTT_CLIENT_ID: `pifog-${role}-flows` }) : n));
    return { file: exampleFileName(String(tabs[0]!.label ?? role)), role, nodes };
  });
}

/** Replaces `dir` with the examples; returns the files written. */
export function writeExamples(dir: string, flowsDir?: string): string[] {
  const all = examples(flowsDir);
  const names = new Set(all.map((e) => e.file));
  if (names.size !== all.length) throw new Error("two flows have the same tab name: their examples would overwrite each other");
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const e of all) fs.writeFileSync(path.join(dir, e.file), JSON.stringify(e.nodes, null, 2) + "\n");
  return all.map((e) => e.file);
}

if (require.main === module) {
  // dist/nodes/lib/build → the package root
  const dir = path.resolve(__dirname, "..", "..", "..", "..", "examples");
  const files = writeExamples(dir);
  console.log(`examples/: ${files.join(", ")}`);
}
