// The smallest user of a pifog-device, for tests of the device itself: it registers, and keeps every link state it is told.
import type { Node, NodeAPI, NodeDef } from "node-red";
import { useDevice } from "../../nodes/lib/node-red/device";
import type { LinkView } from "../../nodes/lib/node-red/status";

export type DeviceUserNode = Node & { links: LinkView[] };

export default function register(RED: NodeAPI): void {
  function TestDeviceUser(this: DeviceUserNode, config: NodeDef & { device: string }) {
    RED.nodes.createNode(this, config);
    this.links = [];
    const user = useDevice(RED, this, config.device, "test-device-user");
    if (!user) return;
    const told = user.linkChanged.bind(user);
    user.linkChanged = (link) => {
      this.links.push(link);
      told(link);
    };
    this.links.push(user.device.linkView);
  }
  RED.nodes.registerType("test-device-user", TestDeviceUser as unknown as Parameters<NodeAPI["nodes"]["registerType"]>[1]);
}

/** A user of device config node `device` (e.g. `cfg-d1`). */
export function userOf(device: string, id = "user") {
  return { id, type: "test-device-user", device };
}
