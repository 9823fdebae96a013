// The dashboard socket guard as the runtime's settings build it: the deployed flow's widgets, the runtime's
// dead-letter and audit records, and Node-RED's log (read when used: the settings are loaded before the runtime).
import type { Audit } from "../audit/audit";
import type { DeadLetterFile } from "../dead-letter";
import type { SocketAddresses } from "../security/dashboard-sockets";
import { FlowWidgets, nodeRedNodes } from "./flow-widgets";
import { DashboardSocketGuard } from "./socket-guard";

export function runtimeDashboardGuard(records: { deadLetters: DeadLetterFile; audit: Audit; dashboardSockets: SocketAddresses }): DashboardSocketGuard {
  return new DashboardSocketGuard({
    widgets: new FlowWidgets(nodeRedNodes).lookup,
    people: (socketId) => records.dashboardSockets.personOf(socketId),
    deadLetters: records.deadLetters,
    audit: records.audit,
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
