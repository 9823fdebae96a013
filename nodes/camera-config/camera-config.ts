// The camera Pi's `camera-config` node (issue 13): follows its own settings, retained on `pifog/<device>/camera/config`
// (the hub's camera-settings node publishes them), checks them with the same module as the hub, and applies a good
// one at once: a settings message (`topic: "camera/settings"`) on its output for the camera nodes (wired by the flow;
// they apply it without a restart), the settings kept on disk, and `{version, at}` retained on
// `pifog/<device>/camera/applied` so the hub shows "applied". A bad one is refused: the old settings stay, a red
// status, an error for Catch nodes, a dead letter, and `{version: <old>, at, error, refusedVersion}` on the applied
// topic so the hub can say why. At start it sends the settings it applied last (or the defaults), broker or not.
import type { NodeAPI, NodeDef, NodeMessage } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import type { Clock } from "../lib/clock";
import { skycamTopics } from "../lib/contract";
import { defaultCameraSettings, sameSettings, validateCameraSettings } from "../lib/camera/settings";
import { appliedSettingsFile, readAppliedSettings, writeAppliedSettings } from "../lib/camera/settings-store";
import type { CameraSettings, SettingsApplied, SettingsMessage } from "../lib/camera/types";
import { failMessage } from "../lib/node-red/fail";
import { useDevice, type DeviceUser, type PifogDevice } from "../lib/node-red/device";
import { servicesOf } from "../lib/services";

export interface CameraConfigDef extends NodeDef {
  device: string;
}

/** A config message larger than this is not settings. */
const MAX_CONFIG_BYTES = 64 * 1024;

export function settingsMessage(settings: CameraSettings): SettingsMessage {
  return { topic: "camera/settings", settings };
}

function defineCameraConfig(RED: NodeAPI) {
  return class CameraConfig extends Node {
    private user: DeviceUser | null = null;
    private current: CameraSettings = defaultCameraSettings();
    private closed = false;
    private readonly clock: Clock;

    constructor(config: CameraConfigDef) {
      super(RED);
      this.createNode(config);
      const services = servicesOf(RED);
      this.clock = services.clock;
      const user = useDevice(RED, this, config.device, "camera-config");
      if (!user) return;
      this.user = user;
      const device = user.device;
      const file = appliedSettingsFile(services.dataDir, device.deviceId);
      const kept = readAppliedSettings(file);
      if (kept.problem) this.warn(kept.problem);
      if (kept.settings) this.current = kept.settings;
      user.show("ok", RED._("camera-config.status.applied", { version: this.current.version }));

      // the camera nodes take the settings once every node of the flow runs
      const started = () => {
        if (!this.closed) this.send(settingsMessage(this.current) as unknown as NodeMessage);
      };
      RED.events.once("flows:started", started);
      this.publishApplied(device, { version: this.current.version, at: this.clock.now() });

      const unsubscribe = device.link.subscribe(skycamTopics.config(device.deviceId), (topic, payload) => {
        if (payload.length === 0) return; // the hub cleared it: keep what runs
        this.takeConfig(device, file, topic, payload);
      });
      this.on("close", (done: () => void) => {
        this.closed = true;
        RED.events.removeListener("flows:started", started);
        unsubscribe();
        done();
      });
    }

    private takeConfig(device: PifogDevice, file: string, topic: string, payload: Buffer): void {
      const msg: NodeMessage = { topic, payload: payload.toString("utf8") };
      let offered: unknown = null;
      try {
        if (payload.length > MAX_CONFIG_BYTES) throw new Error(RED._("camera-config.errors.too-large", { bytes: payload.length }));
        try {
          offered = JSON.parse(payload.toString("utf8"));
        } catch {
          throw new Error(RED._("camera-config.errors.not-json"));
        }
        const next = validateCameraSettings(offered);
        if (sameSettings(next, this.current)) {
          this.publishApplied(device, { version: next.version, at: this.clock.now() });
          return;
        }
        writeAppliedSettings(file, next);
        this.current = next;
        this.user?.show("ok", RED._("camera-config.status.applied", { version: next.version }));
        this.send(settingsMessage(next) as unknown as NodeMessage);
        this.publishApplied(device, { version: next.version, at: this.clock.now() });
      } catch (err) {
        const refusedVersion = offered && typeof offered === "object" ? (offered as { version?: unknown }).version : undefined;
        const reason = (err as Error).message;
        failMessage(RED, this, new Error(RED._("camera-config.errors.refused", { reason, version: this.current.version })), msg);
        this.publishApplied(device, {
          version: this.current.version,
          at: this.clock.now(),
          error: reason.length > 500 ? `${reason.slice(0, 499)}…` : reason,
          ...(typeof refusedVersion === "number" && Number.isFinite(refusedVersion) ? { refusedVersion } : {}),
        });
      }
    }

    private publishApplied(device: PifogDevice, applied: SettingsApplied): void {
      device.link.publish(skycamTopics.applied(device.deviceId), applied, { qos: 1, retain: true }).catch((err: Error) => {
        if (!this.closed) this.warn(RED._("camera-config.errors.publish", { error: err.message }));
      });
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineCameraConfig(RED).registerType(RED, "camera-config");
}
