// Config node: one PiFog device. Owns the device's MQTT link (announcement, last will, ping) and its
// hardware drivers (Pi or simulated); the door, matrix and sensor nodes of a flow share it. As Node-RED's
// mqtt-broker does, it keeps its users: the link opens with the first, closes after the last, and each is told
// every change of the link's state. A device no node uses still stands for its Pi (the hub's says it is online and
// answers ping): once the flows have started, it opens its link for its own presence.
import type { NodeAPI, NodeDef } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { DeviceHardware } from "../lib/drivers/shared";
import type { LinkUser } from "../lib/node-red/device";
import type { LinkView } from "../lib/node-red/status";
import { PI_NAMES, isTopicLevel, type PiName } from "../lib/contract";
import { bootTime, ipv4Addresses, pifogVersion } from "../lib/device-info";
import { parseHardwareSetting, piDrivers, resolveHardware, simDrivers } from "../lib/drivers/factory";
import type { Drivers } from "../lib/drivers/types";
import type { EmbeddedBroker } from "../lib/broker/embedded-broker";
import { DeviceLink } from "../lib/mqtt/device-link";
import { payloadText } from "../lib/dead-letter";
import type { PifogDevice } from "../lib/node-red/device";
import { given } from "../lib/node-red/config-value";
import type { DeviceBundle } from "../lib/identity/paths";
import { identityOf, isRuntimeBroker, missingServices, runtimeAuthFor, servicesOf } from "../lib/services";
import { isHaNodeId, onlineEntity, type HaEntity } from "../lib/homeassistant/discovery";
import { DiscoveryPublisher } from "../lib/homeassistant/publisher";

export interface PifogDeviceDef extends NodeDef {
  deviceId: string;
  role: string;
  compat: string;
  broker: string;
  hardware: string;
  /** Home Assistant discovery (when PIFOG_HA_DISCOVERY names the prefix); default on. */
  haDiscovery?: boolean;
}

export interface PifogDeviceCredentials {
  username?: string;
  password?: string;
}


function definePifogDevice(RED: NodeAPI) {
  return class PifogDeviceConfig extends Node implements PifogDevice {
    readonly deviceId: string;
    readonly role: string;
    readonly compat: PiName | undefined;
    readonly link: DeviceLink;
    readonly drivers: Drivers;
    readonly brokerUrl: string;
    readonly brokerAuth: { username?: string; password?: string; tls?: { cert: string; key: string; ca: string } };
    readonly embedded: EmbeddedBroker | null;
    private readonly users = new Map<string, LinkUser>();
    private readonly hardware: DeviceHardware;
    private readonly discovery: DiscoveryPublisher | null = null;
    private closing = false;

    constructor(config: PifogDeviceDef) {
      super(RED);
      this.createNode(config);
      const creds = (this as unknown as { credentials?: PifogDeviceCredentials }).credentials ?? {};
      const services = servicesOf(RED);
      const clock = services.clock;

      const deviceId = given(config.deviceId) ?? services.config.deviceId;
      if (!isTopicLevel(deviceId)) {
        this.error(RED._("pifog-device.errors.bad-id", { id: deviceId }));
      }
      this.deviceId = isTopicLevel(deviceId) ? deviceId : deviceId.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 64);
      this.role = given(config.role) ?? services.config.role;
      this.compat = PI_NAMES.find((p) => p === config.compat);

      let hardware: "pi" | "sim" = "sim";
      try {
        hardware = resolveHardware(given(config.hardware) === undefined ? services.config.hardware : parseHardwareSetting(given(config.hardware)));
      } catch (err) {
        this.error((err as Error).message);
      }

      const onRuntimeBroker = isRuntimeBroker(services, given(config.broker) ?? services.broker.url);
      // the runtime's external broker named by one of its nodes (the flows name a cluster's first): all of them, to
      // carry on on another node when that one dies
      const givenUrl = onRuntimeBroker && !services.broker.embedded ? services.broker.url : (given(config.broker) ?? services.broker.url);
      this.embedded = onRuntimeBroker ? services.broker.embedded : null;
      // a device with an identity of its own (its certificate from the local CA) connects as itself over TLS: on the
      // runtime's own broker to its TLS listener, elsewhere when the broker's URL is a TLS one
      let identity: DeviceBundle | null = null;
      try {
        identity = creds.username ? null : identityOf(services, this.deviceId);
      } catch (err) {
        // a damaged bundle: say so, and never quietly connect as something else on a TLS broker
        this.error(RED._("pifog-device.errors.identity", { id: this.deviceId, error: (err as Error).message }));
      }
      const tlsUrl = identity ? (onRuntimeBroker && services.broker.tlsUrl ? services.broker.tlsUrl : /^(mqtts|wss):/.test(givenUrl) ? givenUrl : undefined) : undefined;
      const url = tlsUrl ?? givenUrl;
      this.brokerUrl = url;
      // else, on the runtime's own broker, a device with no credentials of its own logs in as the runtime
      this.brokerAuth =
        tlsUrl && identity
          ? { tls: { cert: identity.cert, key: identity.key, ca: identity.ca } }
          : runtimeAuthFor(services, url, { username: creds.username, password: creds.password });
      this.link = new DeviceLink({
        url,
        tls: this.brokerAuth.tls,
        device: this.deviceId,
        role: this.role,
        compat: this.compat,
        username: this.brokerAuth.username,
        password: this.brokerAuth.password,
        hardware,
        version: pifogVersion(),
        addresses: ipv4Addresses,
        bootTime: bootTime(clock.now()),
        clock,
        local: this.embedded,
      });
      const deadLetters = services.deadLetters;
      this.link.on("error", (err, context) => {
        if (context.payload !== undefined) {
          deadLetters.append({ node: this.id, type: this.type, error: err.message, topic: context.topic, payload: payloadText(context.payload) });
          this.error(err, { topic: context.topic, payload: context.payload.toString("utf8") });
        } else {
          this.log(RED._("pifog-device.log.broker", { url, error: err.message }));
        }
      });

      const link = this.link;
      this.drivers =
        hardware === "pi"
          ? piDrivers(clock, (m) => this.warn(m))
          : simDrivers(
              {
                device: this.deviceId,
                subscribe: (topic, handler) => link.subscribe(topic, (_t, payload) => handler(payload)),
                publish: (topic, payload, retain) => link.publishEncoded(topic, payload, { qos: 1, retain }).catch(() => undefined),
                warn: (m) => this.warn(m),
              },
              clock,
              undefined,
              // a whole fog in one runtime records real clips: a person crosses its camera every two minutes
              { motionScript: this.role === "all" ? "demo" : "static" },
            );
      this.hardware = new DeviceHardware(this.drivers);
      this.link.on("state", () => {
        const view = this.linkView;
        for (const user of this.users.values()) user.linkChanged(view);
      });

      // Home Assistant discovery: on when the runtime names the prefix; the device's switch may turn it off (its
      // entities are then taken away), and a device id Home Assistant cannot take as a node id (a `.`) says so
      const prefix = services.config.haDiscovery;
      if (prefix && !isHaNodeId(this.deviceId)) {
        this.warn(RED._("pifog-device.errors.ha-node-id", { id: this.deviceId }));
      } else if (prefix) {
        this.discovery = new DiscoveryPublisher(this.link, {
          prefix,
          device: { id: this.deviceId, role: this.role, version: pifogVersion(), hardware, ...(this.compat ? { compat: this.compat } : {}) },
          enabled: config.haDiscovery !== false,
          warn: (m) => this.warn(RED._("pifog-device.errors.ha-publish", { error: m })),
        });
        // the device's own entity: whether it is online
        this.discovery.announce(this.id, [onlineEntity(this.deviceId)]);
      }

      const presence = () => {
        this.discovery?.started();
        if (this.users.size === 0 && !this.closing) this.link.start();
      };
      RED.events.on("flows:started", presence);

      this.on("close", (removed: boolean, done: () => void) => {
        this.closing = true;
        RED.events.off("flows:started", presence);
        // after the users' own deregistrations (they run on the next turn): a removed device takes its entities away
        // from Home Assistant before its link says goodbye
        setImmediate(() => {
          const discovery = this.discovery?.close(removed === true) ?? Promise.resolve();
          this.users.clear();
          discovery.then(() => this.link.dispose()).then(done, done);
        });
      });
    }

    get linkView(): LinkView {
      const state = this.link.state;
      return { state, text: RED._(`pifog-device.link.${state}`) };
    }

    register(user: LinkUser): void {
      this.users.set(user.id, user);
      if (this.users.size === 1 && !this.closing) this.link.start();
      user.linkChanged(this.linkView);
    }

    get homeAssistant(): boolean {
      return this.discovery?.enabled === true;
    }

    announce(owner: string, entities: readonly HaEntity[]): void {
      this.discovery?.announce(owner, entities);
    }

    async deregister(user: LinkUser, removed: boolean): Promise<void> {
      this.users.delete(user.id);
      this.discovery?.release(user.id, removed);
      // a node restarted by a deploy comes back at once: the link stays up for it (and says no offline meanwhile);
      // the node's close need not wait for the broker's goodbye (the device's own close does)
      if (removed && this.users.size === 0 && !this.closing) void this.link.close();
    }

    driversFor(owner: string): Drivers {
      return this.hardware.for(owner);
    }
  };
}

export default function register(RED: NodeAPI): void {
  for (const line of missingServices(servicesOf(RED))) RED.log.warn(line);
  definePifogDevice(RED).registerType(RED, "pifog-device", {
    credentials: { username: { type: "text" }, password: { type: "password" } },
  });
}
