// What a node gets from its pifog-device config node, and the two checks every PiFog node's constructor makes.
import type { Node, NodeAPI } from "node-red";
import type { EmbeddedBroker } from "../broker/embedded-broker";
import type { PiName } from "../contract";
import type { Drivers } from "../drivers/types";
import type { DeviceLink } from "../mqtt/device-link";
import { showStatus } from "./status";

/** The pifog-device config node, as the nodes that use it see it. */
export interface PifogDevice {
  readonly deviceId: string;
  readonly role: string;
  readonly compat: PiName | undefined;
  readonly link: DeviceLink;
  readonly drivers: Drivers;
  /** The broker this device is on, and its login, for nodes that need a connection of their own. */
  readonly brokerUrl: string;
  readonly brokerAuth: { username?: string; password?: string };
  /** The runtime's embedded broker when this device is on it (the services decide), else null. */
  readonly embedded: EmbeddedBroker | null;
}

/** The device a node is configured with, or null after a grey status and an error saying so. */
export function deviceFor(RED: NodeAPI, node: Node, configId: string, type: string): PifogDevice | null {
  const device = RED.nodes.getNode(configId) as unknown as PifogDevice | null;
  if (!device) {
    showStatus(node, "off", RED._(`${type}.status.no-device`));
    node.error(RED._(`${type}.errors.no-device`));
  }
  return device;
}

/** The node's settings normalised once, or null after a red status and an error with the reason. */
export function settingsFor<S>(node: Node, normalise: () => S): S | null {
  try {
    return normalise();
  } catch (err) {
    showStatus(node, "error", (err as Error).message);
    node.error((err as Error).message);
    return null;
  }
}
