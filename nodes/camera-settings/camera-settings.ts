// The hub's `camera-settings` node (issue 13): every camera's settings, kept on the hub
// (`<data dir>/camera-settings.json`), edited on the dashboard's Cameras tab, checked (nodes/lib/camera/settings.ts,
// the module the Pi checks with), given a new version on every change and published retained with QoS 1 on
// `pifog/<device>/camera/config`. It follows every camera's `pifog/+/camera/applied` and shows per camera "applied"
// (the Pi runs the stored version), "pending", or "refused" with the Pi's reason. Changing needs an operator or an
// admin: who asks is the signed-in person of the dashboard socket (msg.socketid), never the payload; anyone else is
// refused, answered and audited. Everyone signed in sees the settings (read-only for a viewer).
import type { NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { answerTo, browserEvent, mayAct, refuseAction, senderOf } from "../lib/dashboard/dashboard-person";
import { isTopicLevel, skycamTopics } from "../lib/contract";
import { CAMERA_LIMITS, defaultCameraSettings, SettingsError, validateCameraSettings, withChanges } from "../lib/camera/settings";
import { CameraSettingsStore } from "../lib/camera/settings-store";
import type { CameraSettings, SettingsApplied } from "../lib/camera/types";
import { useDevice, type DeviceUser, type PifogDevice } from "../lib/node-red/device";
import { payloadText } from "../lib/dead-letter";
import { servicesOf, type PifogServices } from "../lib/services";

export interface CameraSettingsDef extends NodeDef {
  device: string;
}

export type SettingsStatus = "applied" | "pending" | "refused";

export interface CameraView {
  device: string;
  settings: CameraSettings;
  /** Whether the hub has settings of its own for it (else the defaults are shown; nothing was sent yet). */
  stored: boolean;
  applied: SettingsApplied | null;
  status: SettingsStatus;
}

export interface CameraSettingsView {
  cameras: CameraView[];
  limits: typeof CAMERA_LIMITS;
  /** To one browser only: whether its person may change settings. */
  canEdit?: boolean;
  /** To one browser only: the outcome of what it asked. */
  message?: string;
  error?: string;
}

export function statusOf(settings: CameraSettings, applied: SettingsApplied | null): SettingsStatus {
  if (applied?.refusedVersion === settings.version && applied.error) return "refused";
  return applied && applied.version === settings.version ? "applied" : "pending";
}

function isApplied(value: unknown): value is SettingsApplied {
  const a = value as Partial<SettingsApplied> | null;
  const n = (v: unknown) => typeof v === "number" && Number.isFinite(v);
  return (
    !!a &&
    typeof a === "object" &&
    n(a.version) &&
    n(a.at) &&
    (a.error === undefined || typeof a.error === "string") &&
    (a.refusedVersion === undefined || n(a.refusedVersion))
  );
}

type SettingsMsg = NodeMessageInFlow & { socketid?: unknown; payload?: unknown };

function defineCameraSettings(RED: NodeAPI) {
  return class CameraSettingsNode extends Node {
    private user: DeviceUser | null = null;
    private store: CameraSettingsStore | null = null;
    private readonly applied = new Map<string, SettingsApplied>();
    private closed = false;

    constructor(config: CameraSettingsDef) {
      super(RED);
      this.createNode(config);
      const services = servicesOf(RED);
      const user = useDevice(RED, this, config.device, "camera-settings");
      if (!user) return;
      this.user = user;
      const device = user.device;
      const store = new CameraSettingsStore(services.dataDir);
      this.store = store;
      if (store.problem) this.warn(store.problem);
      // the broker may have lost what it kept: the hub's store is the truth, published again (the Pi ignores a repeat)
      for (const d of store.devices()) this.publish(device, d, store.get(d)!);
      this.showCounts();

      const unsubscribe = device.link.subscribe(skycamTopics.anyApplied(), (topic, payload) => {
        const d = topic.split("/")[1] ?? "";
        if (payload.length === 0) return;
        let applied: unknown = null;
        try {
          applied = JSON.parse(payload.toString("utf8"));
        } catch {
          applied = null;
        }
        if (!isTopicLevel(d) || !isApplied(applied) || payload.length > 4096) {
          services.deadLetters.append({ node: this.id, type: "camera-settings", error: RED._("camera-settings.errors.applied", { topic }), topic, payload: payloadText(payload) });
          return;
        }
        const a: SettingsApplied = { version: applied.version, at: applied.at, ...(applied.error ? { error: applied.error.slice(0, 500) } : {}), ...(applied.refusedVersion !== undefined ? { refusedVersion: applied.refusedVersion } : {}) };
        this.applied.set(d, a);
        this.showCounts();
        // every browser sees the new state (the same data for everyone: viewers may read settings)
        this.send({ topic: "camera-settings", payload: this.view(services) });
      });

      this.on("input", (msg: SettingsMsg, send, done) => {
        const sender = senderOf(services.dashboardSockets, msg);
        const canEdit = mayAct(sender, "operator");
        const answer = (extra: Pick<CameraSettingsView, "message" | "error"> = {}) =>
          answerTo(msg, "camera-settings", { ...this.view(services), canEdit, ...extra });
        const happened = browserEvent(msg);
        if (happened === "connect" || happened === "change") {
          if (sender.person) send(answer());
          done();
          return;
        }
        if (happened) {
          done();
          return;
        }
        const topic = typeof msg.topic === "string" ? msg.topic.slice(0, 64) : "";
        if (topic === "list") {
          if (sender.person) send(answer());
          done();
          return;
        }
        if (topic !== "save") {
          send(answer({ error: RED._("camera-settings.errors.unknown", { action: topic || "?" }) }));
          done();
          return;
        }
        const p = msg.payload && typeof msg.payload === "object" ? (msg.payload as Record<string, unknown>) : {};
        const camera = typeof p.device === "string" ? p.device.slice(0, 64) : "";
        if (!canEdit) {
          const why = refuseAction(RED, this, services.audit, sender, { messages: "camera-settings", lacking: "not-operator", logKey: "log.refused", action: `camera-settings:save ${camera || "?"}` });
          send(answer({ error: why }));
          done();
          return;
        }
        try {
          const saved = this.save(device, services, camera, p.settings);
          services.audit.record({ event: "camera.settings.changed", via: "dashboard", who: sender.who, reason: `version ${saved.version}`, device: camera, user: sender.person!.name });
          this.user?.show("ok", RED._("camera-settings.status.saved", { device: camera, version: saved.version }));
          send(answer({ message: RED._("camera-settings.saved", { device: camera, version: saved.version }) }));
          // and every other browser
          send({ topic: "camera-settings", payload: this.view(services) });
          done();
        } catch (err) {
          const reason = (err as Error).message;
          services.audit.record({ event: "camera.settings.refused", via: "dashboard", who: sender.who, reason, device: camera, user: sender.person!.name });
          this.user?.show("warn", RED._("camera-settings.status.invalid", { device: camera || "?" }));
          send(answer({ error: reason }));
          done();
        }
      });

      this.on("close", (done: () => void) => {
        this.closed = true;
        unsubscribe();
        done();
      });
    }

    /** Every camera the hub knows: with settings of its own, heard from (its applied version), or paired as a camera. */
    private cameras(services: PifogServices): string[] {
      const all = new Set<string>([...(this.store?.devices() ?? []), ...this.applied.keys()]);
      try {
        for (const d of services.pairing?.devices() ?? []) if (d.role === "camerapi" && !d.revokedAt) all.add(d.id);
      } catch {
        // no pairing list: the others still count
      }
      return [...all].sort();
    }

    private view(services: PifogServices): CameraSettingsView {
      const cameras = this.cameras(services).map((device) => {
        const stored = this.store?.get(device);
        const settings = stored ?? defaultCameraSettings();
        const applied = this.applied.get(device) ?? null;
        return { device, settings, stored: !!stored, applied, status: statusOf(settings, applied) };
      });
      return { cameras, limits: CAMERA_LIMITS };
    }

    private save(device: PifogDevice, services: PifogServices, camera: string, changes: unknown): CameraSettings {
      if (!isTopicLevel(camera) || !this.cameras(services).includes(camera)) throw new SettingsError([RED._("camera-settings.errors.no-camera", { device: camera || "?" })]);
      const store = this.store!;
      const base = store.get(camera) ?? defaultCameraSettings();
      const applied = this.applied.get(camera);
      const version = Math.max(base.version, applied?.version ?? 0, applied?.refusedVersion ?? 0) + 1;
      const next = validateCameraSettings({ ...withChanges(base, changes), version });
      store.put(camera, next);
      this.publish(device, camera, next);
      this.showCounts();
      return next;
    }

    private publish(device: PifogDevice, camera: string, settings: CameraSettings): void {
      device.link.publish(skycamTopics.config(camera), settings, { qos: 1, retain: true }).catch((err: Error) => {
        if (!this.closed) this.warn(RED._("camera-settings.errors.publish", { device: camera, error: err.message }));
      });
    }

    private showCounts(): void {
      const devices = this.store?.devices() ?? [];
      const pending = devices.filter((d) => statusOf(this.store!.get(d)!, this.applied.get(d) ?? null) !== "applied");
      if (pending.length) this.user?.show("busy", RED._("camera-settings.status.pending", { devices: pending.join(", ") }));
      else this.user?.show("ok", RED._("camera-settings.status.applied", { count: devices.length }));
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineCameraSettings(RED).registerType(RED, "camera-settings");
}
