// The retained "active alerts" list is one topic per device, but a device may carry several alert nodes:
// each node puts its own active alerts here (one AlertRegistry per runtime, in its services) and publishes the
// device's whole list, so no node's list hides another's.
import type { ActiveAlert } from "../contract";

export class AlertRegistry {
  private readonly byDevice = new Map<string, Map<string, ActiveAlert[]>>();

  /** Sets one node's active alerts and answers the device's whole list, oldest first. */
  set(device: string, node: string, alerts: ActiveAlert[]): ActiveAlert[] {
    let nodes = this.byDevice.get(device);
    if (!nodes) {
      nodes = new Map();
      this.byDevice.set(device, nodes);
    }
    nodes.set(node, alerts);
    return this.of(device);
  }

  of(device: string): ActiveAlert[] {
    const all: ActiveAlert[] = [];
    for (const list of this.byDevice.get(device)?.values() ?? []) all.push(...list);
    return all.sort((a, b) => a.raisedAt.localeCompare(b.raisedAt) || a.id.localeCompare(b.id));
  }

  /** A node that stops takes its alerts out (they are in its checkpoint, and come back when it starts). */
  drop(device: string, node: string): void {
    const nodes = this.byDevice.get(device);
    nodes?.delete(node);
    if (nodes && nodes.size === 0) this.byDevice.delete(device);
  }
}
