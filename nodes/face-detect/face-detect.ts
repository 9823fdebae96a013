// Finds the faces in camera stills (JPEG/PNG Buffers): one message per face with its grayscale crop, box and
// score on output 1 (the crop also carries them inside its bytes: nodes/lib/face-record.ts); one "no face" message
// on output 2 when a frame has none; on output 3 every frame: the still and where its faces are (for a dashboard).
// The time per frame shows in the status. Needs no device: the model runs in this process (face-api on
// TensorFlow.js WASM, loaded on first use).
import type { NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { detectFaces, normaliseFaceOptions, type FaceDetectOptions, type FaceDetection } from "../lib/faces/face-detector";
import type { Box } from "../lib/faces/image";
import { withFaceRecord } from "../lib/face-record";
import { failMessage } from "../lib/node-red/fail";
import { settingsFor } from "../lib/node-red/device";
import { showStatus } from "../lib/node-red/status";

export interface FaceDetectDef extends NodeDef {
  model: string;
  minConfidence: string | number;
  inputSize: string | number;
  crop: string;
  jpegQuality: string | number;
}

/** msg.face on each face message. */
export interface FaceInfo {
  box: Box;
  score: number;
  /** 0-based, best score first. */
  index: number;
  /** Faces found in this frame. */
  count: number;
  model: string;
  format: "png" | "jpeg";
}

const num = (v: string | number | undefined): number | undefined =>
  v === undefined || v === null || String(v).trim() === "" ? undefined : Number(v);

export function normaliseFaceDetect(config: FaceDetectDef): FaceDetectOptions {
  return normaliseFaceOptions({
    model: (config.model || undefined) as FaceDetectOptions["model"] | undefined,
    minConfidence: num(config.minConfidence),
    inputSize: num(config.inputSize),
    crop: (config.crop || undefined) as FaceDetectOptions["crop"] | undefined,
    jpegQuality: num(config.jpegQuality),
  });
}

/** Output 3's msg.payload: one frame and where its faces are. */
export interface FrameFaces {
  device: string;
  takenAt: string;
  /** The still as it came in, base64 (its type in `encoding`). */
  image: string;
  encoding: "image/jpeg" | "image/png";
  width: number;
  height: number;
  faces: Array<{ box: Box; score: number }>;
  ms: number;
}

/** The camera's device id and the still's time, as the camera node sets them on its messages. */
function originOf(msg: NodeMessage, now: Date): { device: string; takenAt: string } {
  const source = msg as NodeMessage & { device?: unknown; timestamp?: unknown };
  const device = typeof source.device === "string" && source.device !== "" ? source.device : "camera";
  const t = typeof source.timestamp === "string" || typeof source.timestamp === "number" ? new Date(source.timestamp) : now;
  return { device, takenAt: (Number.isNaN(t.getTime()) ? now : t).toISOString() };
}

/** The messages for a frame: [faces on output 1, "no face" on output 2, the frame on output 3]. */
export function faceMessages(
  msg: NodeMessage,
  result: FaceDetection,
  options: FaceDetectOptions,
  now = new Date(),
): [NodeMessage[] | null, NodeMessage | null, NodeMessage] {
  const carried: Record<string, unknown> = {};
  const source = msg as NodeMessage & { device?: unknown; timestamp?: unknown };
  if (source.device !== undefined) carried.device = source.device;
  if (source.timestamp !== undefined) carried.timestamp = source.timestamp;
  if (typeof msg.topic === "string") carried.topic = msg.topic;
  const image = result.image;
  const origin = originOf(msg, now);
  const still = msg.payload as Buffer;
  const frame: FrameFaces = {
    ...origin,
    image: still.toString("base64"),
    encoding: still[0] === 0x89 ? "image/png" : "image/jpeg",
    width: image?.width ?? 0,
    height: image?.height ?? 0,
    faces: result.faces.map((f) => ({ box: f.box, score: f.score })),
    ms: Math.round(result.ms),
  };
  const frameMsg = { ...carried, payload: frame } as NodeMessage;
  if (result.faces.length === 0) {
    return [null, { ...carried, payload: { count: 0, ms: Math.round(result.ms) }, image } as NodeMessage, frameMsg];
  }
  const count = result.faces.length;
  const faces = result.faces.map((f, index) => {
    const face: FaceInfo = { box: f.box, score: f.score, index, count, model: options.model, format: options.crop };
    const crop = withFaceRecord(f.crop, { ...origin, box: f.box, score: f.score, index, count });
    return { ...carried, payload: crop, face, image } as NodeMessage;
  });
  return [faces, null, frameMsg];
}

function defineFaceDetect(RED: NodeAPI) {
  return class FaceDetect extends Node {
    constructor(config: FaceDetectDef) {
      super(RED);
      this.createNode(config);
      const options = settingsFor(this, () => normaliseFaceDetect(config));
      if (!options) return;
      showStatus(this, "off", RED._("face-detect.status.waiting"));

      this.on("input", (msg: NodeMessageInFlow, send, done) => {
        if (!Buffer.isBuffer(msg.payload)) {
          failMessage(RED, this, new Error(RED._("face-detect.errors.not-buffer")), msg, done);
          return;
        }
        detectFaces(msg.payload, options).then(
          (result) => {
            const [faces, none, frame] = faceMessages(msg, result, options);
            const ms = Math.round(result.ms);
            const count = result.faces.length;
            showStatus(this, count > 0 ? "ok" : "off", RED._("face-detect.status.frame", { count, ms, backend: result.backend }));
            send([faces, none, frame] as unknown as NodeMessage[]);
            done();
          },
          (err: Error) => failMessage(RED, this, err, msg, done),
        );
      });
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineFaceDetect(RED).registerType(RED, "face-detect");
}
