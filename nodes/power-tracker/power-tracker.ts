// The hub's power tracker (detectordag without a cloud): follows each power Pi's status and power messages,
// debounces its connection (ask it, wait the confirmation delay), records power and connection in the
// account store, publishes the debounced connection retained, and sends every real transition on as a
// TransitionEvent for the e-mail node. The rules live in nodes/lib/power/tracker.ts.
import type { NodeAPI, NodeDef } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { AccountStore } from "../lib/accounts/store";
import type { Clock } from "../lib/clock";
import {
  isCleared,
  isTopicLevel,
  parseDeviceStatus,
  parsePowerState,
  powerTopics,
  topics,
  type ConnectionState,
  type TransitionEvent,
  type Topic,
} from "../lib/contract";
import type { MessageMeta } from "../lib/mqtt/device-link";
import { useDevice, type DeviceUser, type PifogDevice } from "../lib/node-red/device";
import { failMessage } from "../lib/node-red/fail";
import { servicesOf } from "../lib/services";
import { showStatus, type StatusKind } from "../lib/node-red/status";
import { DEFAULT_CONFIRM_MS, PowerTracker } from "../lib/power/tracker";

export interface PowerTrackerDef extends NodeDef {
  device: string;
  devices: string;
  confirm: string | number;
}

export interface PowerTrackerSettings {
  /** The devices to follow; empty: every device. */
  devices: string[];
  confirmMs: number;
}

/** Normalises the editor's config once; throws with a message a user can act on. */
export function normalisePowerTracker(config: Partial<PowerTrackerDef>): PowerTrackerSettings {
  const devices = String(config.devices ?? "")
    .split(/[\s,]+/)
    .map((d) => d.trim())
    .filter((d) => d !== "");
  for (const d of devices) if (!isTopicLevel(d)) throw new Error(`"${d}" is not a device id (letters, digits, _ . -)`);
  const text = String(config.confirm ?? "").trim();
  const seconds = text === "" ? DEFAULT_CONFIRM_MS / 1000 : Number(text);
  if (!Number.isFinite(seconds) || seconds < 0.1 || seconds > 3600) throw new Error(`confirmation delay ${config.confirm} s is not 0.1..3600`);
  return { devices: [...new Set(devices)], confirmMs: Math.round(seconds * 1000) };
}

/** The device a `pifog/<device>/…` topic is about, when the topic is exactly `build(device)`. */
function deviceOf(topic: string, build: (device: string) => string): string | null {
  const device = topic.split("/")[1];
  return device !== undefined && isTopicLevel(device) && build(device) === topic ? device : null;
}

function definePowerTracker(RED: NodeAPI) {
  return class PowerTrackerNode extends Node {
    private user: DeviceUser | null = null;

    private readonly clock: Clock;
    private store: AccountStore | null = null;
    private tracker: PowerTracker | null = null;
    private readonly unsubscribe: Array<() => void> = [];

    constructor(config: PowerTrackerDef) {
      super(RED);
      this.createNode(config);
      this.clock = servicesOf(RED).clock;
      const user = useDevice(RED, this, config.device, "power-tracker");
      if (!user) return;
      this.user = user;
      const device = user.device;
      if (!device) return;
      const s = user.settings(() => normalisePowerTracker(config));
      if (!s) return;
      let store: AccountStore;
      try {
        store = new AccountStore(servicesOf(RED).dataDir, servicesOf(RED).stores);
      } catch (err) {
        this.show("error", RED._("power-tracker.status.no-store"));
        this.error(RED._("power-tracker.errors.store", { error: (err as Error).message }));
        return;
      }
      this.store = store;
      const only = new Set(s.devices);
      const tracker = new PowerTracker({
        clock: this.clock,
        confirmMs: s.confirmMs,
        follows: (id) => only.size === 0 || only.has(id),
        sink: {
          requestStatus: (id) => this.publish(device, powerTopics.request(id), {}, false),
          connectionChanged: (state) => this.connectionChanged(device, state),
          powerChanged: (id, power, at) => this.record(() => store.setPower(id, power, at)),
          transition: (event) => this.transition(event),
          nameOf: (id) => this.nameOf(id),
        },
      });
      this.tracker = tracker;
      try {
        tracker.start(store.allDevices());
      } catch (err) {
        this.warn(RED._("power-tracker.errors.store", { error: (err as Error).message }));
      }

      this.unsubscribe.push(
        device.link.subscribe(topics.anyStatus(), (topic, payload) => {
          const id = deviceOf(topic, topics.status);
          if (id === null || isCleared(payload)) return; // a cleared retained status says nothing
          this.take(topic, payload, () => tracker.status(id, parseDeviceStatus(payload)));
        }),
        device.link.subscribe(powerTopics.anyState(), (topic, payload, meta?: MessageMeta) => {
          const id = deviceOf(topic, powerTopics.state);
          if (id === null || isCleared(payload)) return;
          this.take(topic, payload, () => tracker.power(id, parsePowerState(payload), meta?.retain === true));
        }),
        device.link.subscribe(powerTopics.anyEvents(), (topic, payload) => {
          const id = deviceOf(topic, powerTopics.events);
          if (id === null) return;
          // events are never retained: each one is news, possibly late, with its original time
          this.take(topic, payload, () => tracker.power(id, parsePowerState(payload), false));
        }),
      );

      this.on("close", (done: () => void) => {
        for (const u of this.unsubscribe) u();
        this.tracker?.close();
        this.tracker = null;
        this.store?.close();
        this.store = null;
        done();
      });
      this.showSummary();
    }

    private take(topic: string, payload: Buffer, apply: () => void): void {
      try {
        apply();
      } catch (err) {
        failMessage(RED, this, err as Error, { topic, payload: payload.toString("utf8") });
      }
    }

    private publish<P>(device: PifogDevice, topic: Topic<P>, payload: P, retain: boolean): void {
      device.link
        .publish(topic, payload, { qos: 1, retain })
        .catch((err: Error) => this.warn(RED._("power-tracker.errors.publish", { topic, error: err.message })));
    }

    private connectionChanged(device: PifogDevice, state: ConnectionState): void {
      this.record(() => this.store?.setConnection(state.device, state.status, Date.parse(state.updated)));
      this.publish(device, powerTopics.connection(state.device), state, true);
      this.showSummary();
    }

    private record(write: () => void): void {
      try {
        write();
      } catch (err) {
        this.warn(RED._("power-tracker.errors.store", { error: (err as Error).message }));
      }
    }

    private nameOf(id: string): string {
      try {
        return this.store?.device(id)?.name || id;
      } catch {
        return id;
      }
    }

    private transition(event: TransitionEvent): void {
      this.send({ topic: event.device, payload: event });
      const time = new Date(event.at).toISOString().slice(11, 19);
      this.show(event.transition === "On" || event.transition === "Connected" ? "ok" : "warn",
        RED._("power-tracker.status.transition", { device: event.name, transition: event.transition, time }));
    }

    private showSummary(): void {
      const tracker = this.tracker;
      if (!tracker) return;
      const ids = tracker.deviceIds;
      const connected = ids.filter((id) => tracker.state(id).connection === "connected").length;
      this.show(ids.length === 0 ? "busy" : "ok", RED._("power-tracker.status.summary", { connected, total: ids.length }));
    }

    /** The node's own status, combined with its device's link once it has one. */
    private show(kind: StatusKind, text: string): void {
      if (this.user) this.user.show(kind, text);
      else showStatus(this, kind, text);
    }
  };
}

export default function register(RED: NodeAPI): void {
  definePowerTracker(RED).registerType(RED, "power-tracker");
}
