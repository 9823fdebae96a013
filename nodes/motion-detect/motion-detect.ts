// Motion detection on the camera's frames (nodes/lib/camera/motion.ts): every frame passes on with msg.motion (its
// score, box and whether an event is on); motion start / end events go to the second output and, QoS 1, on
// `pifog/<device>/motion`. A settings message applies sensitivity, minimum area and mask at once.
import type { NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import {
  DEFAULT_MOTION_OPTIONS,
  MotionDetector,
  fastGrayDecoder,
  motionOptionsFromSettings,
  normaliseMotionOptions,
  parseMask,
  type GrayDecoder,
  type MotionOptions,
} from "../lib/camera/motion";
import type { FrameMessage, MotionEvent, SettingsMessage } from "../lib/camera/types";
import { PayloadError, skycamTopics } from "../lib/contract";
import { useDevice, type DeviceUser } from "../lib/node-red/device";
import { motionEntity } from "../lib/homeassistant/discovery";
import { failMessage } from "../lib/node-red/fail";

export interface MotionDetectDef extends NodeDef {
  device: string;
  sensitivity: string | number;
  minArea: string | number;
  /** One box a line: "x,y,w,h", fractions 0..1 of the frame. */
  mask: string;
  /** Seconds. */
  settle: string | number;
}

/** Frames waiting for detection beyond this pass on undetected (with the last result): the stream never backs up. */
const MAX_BACKLOG = 20;

const blank = (v: unknown) => v === undefined || v === null || String(v).trim() === "";

export function normaliseMotionDetect(config: Partial<MotionDetectDef>): MotionOptions {
  return normaliseMotionOptions({
    sensitivity: blank(config.sensitivity) ? DEFAULT_MOTION_OPTIONS.sensitivity : Number(config.sensitivity),
    minAreaPercent: blank(config.minArea) ? DEFAULT_MOTION_OPTIONS.minAreaPercent : Number(config.minArea),
    mask: parseMask(String(config.mask ?? "")),
    settleMs: blank(config.settle) ? DEFAULT_MOTION_OPTIONS.settleMs : Number(config.settle) * 1000,
  });
}

type Input = { kind: "frame"; msg: FrameMessage } | { kind: "settings"; msg: SettingsMessage };

/** What came in: a frame (a JPEG with its frame info) or a settings message; anything else is a PayloadError. */
export function inputOf(msg: unknown): Input {
  const m = msg as Record<string, unknown>;
  if (m.topic === "camera/settings") {
    if (typeof m.settings !== "object" || m.settings === null) throw new PayloadError("motion-detect input: a settings message needs msg.settings");
    return { kind: "settings", msg: m as unknown as SettingsMessage };
  }
  const f = m.frame as FrameMessage["frame"] | undefined;
  if (!Buffer.isBuffer(m.payload)) throw new PayloadError(`motion-detect input: msg.payload must be a JPEG frame (a Buffer), not ${m.payload === null ? "null" : typeof m.payload}`);
  if (!f || typeof f !== "object" || ![f.at, f.seq, f.width, f.height].every((n) => typeof n === "number" && Number.isFinite(n)) || f.width < 1 || f.height < 1) {
    throw new PayloadError("motion-detect input: msg.frame must say the frame's at, seq, width and height (from camera-stream)");
  }
  return { kind: "frame", msg: m as unknown as FrameMessage };
}

function defineMotionDetect(RED: NodeAPI) {
  return class MotionDetectNode extends Node {
    private user: DeviceUser | null = null;
    private closed = false;

    constructor(config: MotionDetectDef) {
      super(RED);
      this.createNode(config);
      const user = useDevice(RED, this, config.device, "motion-detect");
      if (!user) return;
      this.user = user;
      const device = user.device;
      const options = user.settings(() => normaliseMotionDetect(config));
      if (!options) return;
      const detector = new MotionDetector(device.deviceId, options);
      user.announce([motionEntity(device.deviceId)]);
      const decoder: GrayDecoder = fastGrayDecoder();
      /** The last frame decoded, and its image. */
      let decoded: { jpeg: Buffer; gray: Awaited<ReturnType<GrayDecoder["decode"]>> } | null = null;
      let chain: Promise<void> = Promise.resolve();
      let backlog = 0;
      let last: FrameMessage["motion"] = { score: 0, box: null, active: false };
      let frames = 0;
      let events = 0;
      user.show("ok", RED._("motion-detect.status.settling"));

      this.on("input", (raw: NodeMessageInFlow, send, done) => {
        let input: Input;
        try {
          input = inputOf(raw);
        } catch (err) {
          failMessage(RED, this, err as Error, raw, done);
          return;
        }
        if (input.kind === "settings") {
          try {
            detector.update(motionOptionsFromSettings(input.msg.settings, detector.current));
          } catch (err) {
            failMessage(RED, this, new PayloadError(`motion-detect settings: ${(err as Error).message}`), raw, done);
            return;
          }
          user.show("ok", RED._("motion-detect.status.settling"));
          done();
          return;
        }
        const msg = input.msg;
        const skip = backlog >= MAX_BACKLOG;
        backlog++;
        chain = chain.then(async () => {
          try {
            if (this.closed) return done();
            if (skip) {
              send([{ ...msg, motion: last } as unknown as NodeMessage, null]);
              return done();
            }
            let gray;
            // a frame that is the one before, byte for byte (a still scene of the simulator), decodes to the same image
            if (decoded && decoded.jpeg.equals(msg.payload)) gray = decoded.gray;
            else {
              try {
                gray = await decoder.decode(msg.payload, msg.frame.width, msg.frame.height);
              } catch (err) {
                failMessage(RED, this, err as Error, { ...raw, payload: msg.payload.subarray(0, 64) } as NodeMessage, done);
                return;
              }
              decoded = { jpeg: msg.payload, gray };
            }
            const result = detector.feed(gray, msg.frame);
            last = { score: result.score, box: result.box, active: result.active };
            frames++;
            const out = { ...msg, motion: last } as unknown as NodeMessage;
            if (result.event) {
              events++;
              this.publish(result.event);
              send([out, { topic: skycamTopics.motion(device.deviceId), payload: result.event } as NodeMessage]);
            } else send([out, null]);
            if (result.event || frames % 50 === 1) {
              user.show(
                result.active ? "busy" : "ok",
                result.active
                  ? RED._("motion-detect.status.motion", { score: result.score.toFixed(1) })
                  : RED._("motion-detect.status.quiet", { events, frames }),
              );
            }
            done();
          } finally {
            backlog--;
          }
        });
      });

      this.on("close", (done: () => void) => {
        this.closed = true;
        chain.then(done, done);
      });
    }

    private publish(event: MotionEvent): void {
      const device = this.user!.device;
      device.link.publish(skycamTopics.motion(device.deviceId), event, { qos: 1, retain: false }).catch((err: Error) => {
        if (!this.closed) this.warn(RED._("motion-detect.errors.publish", { error: err.message }));
      });
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineMotionDetect(RED).registerType(RED, "motion-detect");
}
