// What a node gets from its pifog-device config node, and the two checks every PiFog node's constructor makes.
import type { Node, NodeAPI } from "node-red";
import type { EmbeddedBroker } from "../broker/embedded-broker";
import type { PiName } from "../contract";
import type { Drivers } from "../drivers/types";
import { PinInUseError } from "../drivers/shared";
import type { DeviceLink } from "../mqtt/device-link";
import type { HaEntity } from "../homeassistant/discovery";
import { LinkedStatus, showStatus, type LinkView, type StatusKind } from "./status";

/** The pifog-device config node, as the nodes that use it see it. */
export interface PifogDevice {
  readonly deviceId: string;
  readonly role: string;
  readonly compat: PiName | undefined;
  readonly link: DeviceLink;
  /** The device's hardware, unshared: nodes use their `DeviceUser`'s drivers, which claim pins in their name. */
  readonly drivers: Drivers;
  /** The broker this device is on, and its login, for nodes that need a connection of their own. */
  readonly brokerUrl: string;
  /** `tls`: the device's certificate, when it connects as itself (then a connection's client id is `<id>:<label>`). */
  readonly brokerAuth: { username?: string; password?: string; tls?: { cert: string; key: string; ca: string } };
  /** The runtime's embedded broker when this device is on it (the services decide), else null. */
  readonly embedded: EmbeddedBroker | null;
  /** Where the link stands now. */
  readonly linkView: LinkView;
  /** A node starts using the device: the link opens for the first one, and each is told every change of the link. */
  register(user: LinkUser): void;
  /** A node stops using it; after the last one is removed (not restarted by a deploy) the link closes. */
  deregister(user: LinkUser, removed: boolean): Promise<void>;
  /** The drivers one node gets: its GPIO claims in its name, the Sense HAT shared. */
  driversFor(owner: string): Drivers;
  /** Whether the device publishes Home Assistant discovery (PIFOG_HA_DISCOVERY set and its switch on): a node may then
   * publish what only Home Assistant reads (the camera's raw still). Absent: off. */
  readonly homeAssistant?: boolean;
  /** A node's Home Assistant entities, all of them (nodes/lib/homeassistant/discovery.ts): published while discovery is
   * on, taken away when the node is removed. Absent on a device without discovery (a test's stand-in). */
  announce?(owner: string, entities: readonly HaEntity[]): void;
}

/** What the device needs of a node that uses it. */
export interface LinkUser {
  readonly id: string;
  linkChanged(link: LinkView): void;
}

/** A node's use of its device: the device, the node's drivers, and its status combined with the link's. */
export class DeviceUser implements LinkUser {
  private readonly status: LinkedStatus;
  readonly drivers: Drivers;

  constructor(private readonly node: Node, readonly device: PifogDevice, type: string) {
    this.status = new LinkedStatus(node);
    const name = (node as Node & { name?: string }).name;
    this.drivers = device.driversFor(name ? `${type} "${name}" (${node.id})` : `${type} ${node.id}`);
  }

  get id(): string {
    return this.node.id;
  }

  /** The node's Home Assistant entities (all of them), for its device to announce while discovery is on. */
  announce(entities: readonly HaEntity[]): void {
    this.device.announce?.(this.id, entities);
  }

  /** Whether the device's Home Assistant discovery is on. */
  get homeAssistant(): boolean {
    return this.device.homeAssistant === true;
  }

  /** The node's own status; shown while the link is up, or whenever it is a problem of the node's own. */
  show(kind: StatusKind, text: string): void {
    this.status.show(kind, text);
  }

  linkChanged(link: LinkView): void {
    this.status.linkChanged(link);
  }

  /** The node's settings normalised once, or null after a red status (kept whatever the link does) and an error. */
  settings<S>(normalise: () => S): S | null {
    try {
      return normalise();
    } catch (err) {
      this.show("error", (err as Error).message);
      this.node.error((err as Error).message);
      return null;
    }
  }

  /** A GPIO line another node holds: a red status and an error naming it, at deploy. True when that was the reason. */
  refusedPin(err: unknown): boolean {
    if (!(err instanceof PinInUseError)) return false;
    this.show("error", `GPIO ${err.pin} in use`);
    this.node.error(err.message);
    return true;
  }
}

/**
 * The device a node is configured with, registered as its user (deregistered when it closes), or null after a grey
 * status and an error saying so.
 */
export function useDevice(RED: NodeAPI, node: Node, configId: string, type: string): DeviceUser | null {
  const device = RED.nodes.getNode(configId) as unknown as PifogDevice | null;
  if (!device) {
    showStatus(node, "off", RED._(`${type}.status.no-device`));
    node.error(RED._(`${type}.errors.no-device`));
    return null;
  }
  const user = new DeviceUser(node, device, type);
  device.register(user);
  node.on("close", (removed: boolean, done: () => void) => {
    // after the node's other close handlers have started: their last words (a door held open says so) go out
    // before the link may close
    setImmediate(() => device.deregister(user, removed).then(done, done));
  });
  return user;
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
