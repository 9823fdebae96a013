// The dashboard socket guard as the runtime's settings build it: the deployed flow's widgets, the data dir's
// dead-letter and audit records, and Node-RED's log (read when used: the settings are loaded before the runtime).
import { Audit } from "../audit/audit";
import { DeadLetterFile } from "../dead-letter";
import { FlowWidgets, nodeRedNodes } from "./flow-widgets";
import { DashboardSocketGuard } from "./socket-guard";

export function runtimeDashboardGuard(dataDir: string): DashboardSocketGuard {
  return new DashboardSocketGuard({
    widgets: new FlowWidgets(nodeRedNodes).lookup,
    deadLetters: new DeadLetterFile(dataDir),
    audit: new Audit(dataDir),
    warn: (text) => (nodeRedLog() ?? console).warn(text),
    now: () => Date.now(),
  });
}

function nodeRedLog(): { warn(text: string): void } | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require("node-red") as { log?: { warn(text: string): void } }).log;
  } catch {
    return undefined;
  }
}
