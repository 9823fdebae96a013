// CameraPi: takes a still (the Pi's camera, or the simulator's scenes) on a message or on PiFog's
// `take-picture-low-res` / `take-picture-high-res` commands, and answers as PiFog did on /World/Fog/1/CameraPi/Event.
import type { NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import type { Clock } from "../lib/clock";
import {
  cameraTopics,
  compatPictureEvent,
  compatTopics,
  COMPAT_PICTURE_COMMANDS,
  PayloadError,
  topics,
  type CameraPicture,
  type Command,
  type Topic,
} from "../lib/contract";
import { CAMERA_PRESETS, type Camera, type CameraPreset, type Picture } from "../lib/drivers/types";
import { useDevice, type DeviceUser, type PifogDevice } from "../lib/node-red/device";
import { cameraStillEntity } from "../lib/homeassistant/discovery";
import { failMessage } from "../lib/node-red/fail";
import { servicesOf } from "../lib/services";
import { showStatus, type StatusKind } from "../lib/node-red/status";

export interface CameraDef extends NodeDef {
  device: string;
  preset: string;
  rotation: string | number;
  /** Seconds. */
  timeout: string | number;
  publish: boolean;
  compat: boolean;
}

export interface CameraSettings {
  /** What a message that names no preset takes. */
  preset: CameraPreset;
  rotation: 0 | 180;
  timeoutMs: number;
  /** Publish every still on `pifog/<device>/camera/picture`. */
  publish: boolean;
  /** Answer PiFog's take-picture commands. */
  compat: boolean;
}

export const DEFAULT_TIMEOUT_S = 10;

const blank = (v: unknown) => v === undefined || v === null || String(v).trim() === "";
const isPreset = (v: unknown): v is CameraPreset => typeof v === "string" && Object.hasOwn(CAMERA_PRESETS, v);

/** Normalises the editor's config once; throws with a message a user can act on. */
export function normaliseCamera(config: Partial<CameraDef>): CameraSettings {
  const preset = blank(config.preset) ? "low" : String(config.preset).trim().toLowerCase();
  if (!isPreset(preset)) throw new Error(`preset "${String(config.preset)}" is not low or high`);
  const rotation = blank(config.rotation) ? 0 : Number(config.rotation);
  if (rotation !== 0 && rotation !== 180) throw new Error(`rotation ${String(config.rotation)} is not 0 or 180`);
  const timeout = blank(config.timeout) ? DEFAULT_TIMEOUT_S : Number(config.timeout);
  if (!Number.isFinite(timeout) || timeout < 1 || timeout > 120) throw new Error(`timeout ${String(config.timeout)} s is not 1..120`);
  return { preset, rotation, timeoutMs: Math.round(timeout * 1000), publish: config.publish !== false, compat: config.compat !== false };
}

/**
 * The preset a message asks for: `msg.preset`, else `msg.payload` "low"/"high" (any case), else the node's own.
 * Text that names neither preset is an error, not a silent default.
 */
export function presetOf(msg: { preset?: unknown; payload?: unknown }, fallback: CameraPreset): CameraPreset {
  const named = (where: string, value: unknown): CameraPreset => {
    const word = typeof value === "string" ? value.trim().toLowerCase() : value;
    if (!isPreset(word)) throw new PayloadError(`camera input: ${where} must be "low" or "high", not ${String(JSON.stringify(value)).slice(0, 40)}`);
    return word;
  };
  if (msg.preset !== undefined && msg.preset !== null) return named("msg.preset", msg.preset);
  const p = msg.payload;
  if (typeof p === "string") return p.trim() === "" ? fallback : named("msg.payload", p);
  // an inject's timestamp, or nothing: the node's own preset
  if (p === undefined || p === null || typeof p === "number" || typeof p === "boolean") return fallback;
  throw new PayloadError(`camera input: msg.payload must be "low" or "high", not ${Buffer.isBuffer(p) ? "a Buffer" : typeof p}`);
}

function defineCamera(RED: NodeAPI) {
  return class CameraNode extends Node {
    private user: DeviceUser | null = null;

    private readonly clock: Clock;
    private camera: Camera | null = null;
    private closed = false;
    private taken = 0;

    constructor(config: CameraDef) {
      super(RED);
      this.createNode(config);
      this.clock = servicesOf(RED).clock;
      const user = useDevice(RED, this, config.device, "camera");
      if (!user) return;
      this.user = user;
      const device = user.device;
      if (!device) return;
      const s = user.settings(() => normaliseCamera(config));
      if (!s) return;
      try {
        this.camera = user.drivers.camera({ rotation: s.rotation, timeoutMs: s.timeoutMs });
        this.show("ok", RED._("camera.status.ready"));
        if (s.publish) user.announce([cameraStillEntity(device.deviceId)]);
      } catch (err) {
        this.show("off", RED._("camera.status.unavailable"));
        this.warn(RED._("camera.errors.unavailable", { error: (err as Error).message }));
      }

      // PiFog's take-picture commands: on its /Command (answered on its /Event, when compat is on) and on
      // pifog/<device>/command (the dashboard's and Slack's "take a picture": the still goes on to output 1).
      const onCommand = (command: Command, source: "native" | "compat") => {
        if (this.closed || !Object.hasOwn(COMPAT_PICTURE_COMMANDS, command.command)) return;
        if (source === "compat" && (!s.compat || !device.compat)) return;
        const preset = COMPAT_PICTURE_COMMANDS[command.command]!;
        const commandTopic = source === "compat" ? compatTopics.command(device.compat!) : topics.command(device.deviceId);
        const msg = { topic: commandTopic, payload: command } as NodeMessage;
        this.take(device, s, preset)
          .then(({ picture, at }) => {
            if (this.closed) return;
            if (source === "native") {
              this.send(this.output(device, picture, at, { topic: commandTopic, id: command.id ?? null, by: command.by ?? null }));
              return;
            }
            const event = compatPictureEvent(picture.jpeg, command.id, at);
            this.publish(device, compatTopics.event(device.compat!), event);
            this.send(this.output(device, picture, at, { topic: compatTopics.event(device.compat!), id: command.id ?? null }));
          })
          .catch((err: Error) => {
            if (!this.closed) failMessage(RED, this, err, msg);
          });
      };
      device.link.on("command", onCommand);

      this.on("input", (msg: NodeMessageInFlow, send, done) => {
        let preset: CameraPreset;
        try {
          preset = presetOf(msg as { preset?: unknown; payload?: unknown }, s.preset);
        } catch (err) {
          failMessage(RED, this, err as Error, msg, done);
          return;
        }
        this.take(device, s, preset)
          .then(({ picture, at }) => {
            send(this.output(device, picture, at, msg));
            done();
          })
          .catch((err: Error) => failMessage(RED, this, err, msg, done));
      });

      this.on("close", (done: () => void) => {
        this.closed = true;
        device.link.off("command", onCommand);
        const closing = this.camera?.close() ?? Promise.resolve();
        closing.then(() => done(), () => done());
      });
    }

    /** One still, with its native picture published; rejects when there is no camera or it fails. */
    private async take(device: PifogDevice, s: CameraSettings, preset: CameraPreset): Promise<{ picture: Picture; at: Date }> {
      if (!this.camera) throw new Error(RED._("camera.errors.no-camera"));
      this.show("busy", RED._("camera.status.taking", { preset }));
      const picture = await this.camera.capture(preset);
      const at = new Date(this.clock.now());
      this.taken++;
      if (!this.closed) {
        this.show("ok", RED._("camera.status.taken", { count: this.taken, width: picture.width, height: picture.height, time: at.toISOString().slice(11, 19) }));
      }
      if (s.publish) {
        const native: CameraPicture = {
          device: device.deviceId,
          preset,
          width: picture.width,
          height: picture.height,
          timestamp: at.toISOString(),
          image: picture.jpeg.toString("base64"),
        };
        this.publish(device, cameraTopics.picture(device.deviceId), native);
        // Home Assistant's image entity takes the JPEG as it is, and keeps the latest (retained)
        if (this.user?.homeAssistant) {
          device.link.publish(cameraTopics.still(device.deviceId), picture.jpeg, { qos: 0, retain: true }).catch((err: Error) => {
            if (!this.closed) this.warn(RED._("camera.errors.publish", { topic: cameraTopics.still(device.deviceId), error: err.message }));
          });
        }
      }
      return { picture, at };
    }

    private output(device: PifogDevice, picture: Picture, at: Date, base: object): NodeMessage {
      return {
        ...base,
        payload: picture.jpeg,
        width: picture.width,
        height: picture.height,
        preset: picture.preset,
        device: device.deviceId,
        timestamp: at.toISOString(),
      } as NodeMessage;
    }

    private publish<P>(device: PifogDevice, topic: Topic<P>, payload: P): void {
      device.link.publish(topic, payload, { qos: 0, retain: false }).catch((err: Error) => {
        if (!this.closed) this.warn(RED._("camera.errors.publish", { topic, error: err.message }));
      });
    }

    /** The node's own status, combined with its device's link once it has one. */
    private show(kind: StatusKind, text: string): void {
      if (this.user) this.user.show(kind, text);
      else showStatus(this, kind, text);
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineCamera(RED).registerType(RED, "camera");
}
