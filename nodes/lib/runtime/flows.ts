// Each Pi role is a flow file in flows/. A runtime keeps its own stored flow in the data dir, seeded from
// the role's file on first start; `all` puts every role on its own tab, each with its own device id.
import fs from "node:fs";
import path from "node:path";
import type { Role } from "./config";

/** The roles that `all` runs together on one machine, in tab order. */
export const ALL_IN_ONE: readonly Exclude<Role, "all">[] = ["hub", "sensorhub", "doorpi", "statuspi", "sensors", "powerpi", "powerhub", "buttonpi", "camerapi", "facewriter"];

export interface FlowNode {
  id: string;
  type: string;
  z?: string;
  env?: Array<{ name: string; value: string; type: string }>;
  [key: string]: unknown;
}

export function flowsDir(): string {
  // dist/nodes/lib/runtime → the package root
  return path.resolve(__dirname, "..", "..", "..", "..", "flows");
}

export function readRoleFlow(role: Exclude<Role, "all">, dir = flowsDir()): FlowNode[] {
  const file = path.join(dir, `${role}.json`);
  const nodes = JSON.parse(fs.readFileSync(file, "utf8")) as FlowNode[];
  if (!Array.isArray(nodes)) throw new Error(`${file} is not a Node-RED flow (an array of nodes)`);
  return nodes;
}

function setTabEnv(tab: FlowNode, name: string, value: string, type: "str" | "env" = "str"): void {
  const env = (tab.env ?? []).filter((e) => e.name !== name);
  env.push({ name, value, type });
  tab.env = env;
}

/** The variables naming a device's identity files (its certificate, key and CA) and its MQTT client id, that the
 * flows' core MQTT nodes take as `${PIFOG_TLS_CERT}`... One runtime exports them plainly; `all` exports them once per
 * device with the device id after the name, and each tab maps its own (flow-env.ts). */
export const IDENTITY_VARIABLES = ["PIFOG_TLS_CERT", "PIFOG_TLS_KEY", "PIFOG_TLS_CA", "PIFOG_MQTT_CLIENT_ID"] as const;

/** The process variable that holds `name` for device `device` in `all`. */
export function deviceVariable(name: (typeof IDENTITY_VARIABLES)[number], device: string): string {
  return `${name}__${device}`;
}

/** The flow a runtime of `role` starts with. */
export function composeFlow(role: Role, dir = flowsDir()): FlowNode[] {
  if (role !== "all") return readRoleFlow(role, dir);
  const out: FlowNode[] = [];
  const ids = new Set<string>();
  for (const part of ALL_IN_ONE) {
    for (const node of readRoleFlow(part, dir)) {
      if (ids.has(node.id)) throw new Error(`flows/${part}.json: node id ${node.id} is also used by another role`);
      ids.add(node.id);
      if (node.type === "tab") {
        setTabEnv(node, "PIFOG_DEVICE_ID", part);
        setTabEnv(node, "PIFOG_ROLE", part);
        for (const name of IDENTITY_VARIABLES) setTabEnv(node, name, deviceVariable(name, part), "env");
      }
      out.push(node);
    }
  }
  return out;
}

/** Writes the role's flow into the data dir unless one is stored there already; returns its file name. */
export function seedFlowFile(dataDir: string, role: Role, dir = flowsDir()): string {
  const name = `flows-${role}.json`;
  const file = path.join(dataDir, name);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(file, JSON.stringify(composeFlow(role, dir), null, 2));
  }
  return name;
}
