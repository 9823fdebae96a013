// The camera's MJPEG stream (rpicam-vid on a Pi, rendered scenes in the simulator), one message per frame. Every
// camera-stream node of a device shares one camera process; a settings message restarts it at a new
// size/rate/rotation without a redeploy.
import type { NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { checkFormat } from "../lib/camera/stream";
import type { FrameMessage, SettingsMessage, StreamFormat } from "../lib/camera/types";
import type { Clock } from "../lib/clock";
import { PayloadError } from "../lib/contract";
import type { CameraStream, StreamState } from "../lib/drivers/types";
import { useDevice, type DeviceUser } from "../lib/node-red/device";
import { failMessage } from "../lib/node-red/fail";
import { servicesOf } from "../lib/services";

export interface CameraStreamDef extends NodeDef {
  device: string;
  width: string | number;
  height: string | number;
  fps: string | number;
  rotation: string | number;
}

export const DEFAULT_STREAM_FORMAT: Readonly<StreamFormat> = Object.freeze({ width: 640, height: 480, fps: 10, rotation: 0 });
/** How often the status shows the measured frame rate. */
const STATUS_EVERY_MS = 5000;

const blank = (v: unknown) => v === undefined || v === null || String(v).trim() === "";
const num = (v: unknown, fallback: number) => (blank(v) ? fallback : Number(v));

export function normaliseStreamFormat(config: Partial<CameraStreamDef>): StreamFormat {
  return checkFormat({
    width: num(config.width, DEFAULT_STREAM_FORMAT.width),
    height: num(config.height, DEFAULT_STREAM_FORMAT.height),
    fps: num(config.fps, DEFAULT_STREAM_FORMAT.fps),
    rotation: num(config.rotation, DEFAULT_STREAM_FORMAT.rotation) as StreamFormat["rotation"],
  });
}

/** The stream format a settings message asks for, or a PayloadError. */
export function formatOfSettings(msg: unknown): StreamFormat {
  const m = msg as Partial<SettingsMessage> | null;
  const s = m?.settings;
  if (m?.topic !== "camera/settings" || typeof s !== "object" || s === null) {
    throw new PayloadError('camera-stream input: expected a settings message (topic "camera/settings", msg.settings)');
  }
  try {
    return checkFormat({ width: s.width, height: s.height, fps: s.fps, rotation: s.rotation });
  } catch (err) {
    throw new PayloadError(`camera-stream settings: ${(err as Error).message}`);
  }
}

function defineCameraStream(RED: NodeAPI) {
  return class CameraStreamNode extends Node {
    private user: DeviceUser | null = null;
    private stream: CameraStream | null = null;
    private readonly clock: Clock;
    private frames = 0;
    private since = 0;

    constructor(config: CameraStreamDef) {
      super(RED);
      this.createNode(config);
      this.clock = servicesOf(RED).clock;
      const user = useDevice(RED, this, config.device, "camera-stream");
      if (!user) return;
      this.user = user;
      const device = user.device;
      const format = user.settings(() => normaliseStreamFormat(config));
      if (!format) return;
      if (format.rotation === 90 || format.rotation === 270) this.warn(RED._("camera-stream.errors.rotation", { rotation: format.rotation }));
      let stream: CameraStream;
      try {
        stream = user.drivers.cameraStream(format);
      } catch (err) {
        user.show("off", RED._("camera-stream.status.unavailable"));
        this.warn(RED._("camera-stream.errors.unavailable", { error: (err as Error).message }));
        return;
      }
      this.stream = stream;
      const shared = stream.format;
      if (shared.width !== format.width || shared.height !== format.height || shared.fps !== format.fps || shared.rotation !== format.rotation) {
        // another node of the device started the stream: one camera, one format
        this.warn(RED._("camera-stream.errors.shared", { format: describe(shared) }));
      }
      user.show("busy", RED._("camera-stream.status.starting", { format: describe(shared) }));
      this.since = this.clock.now();

      const offState = stream.onState((state) => this.showState(state));
      const unsubscribe = stream.subscribe((frame) => {
        this.frames++;
        const msg: FrameMessage = {
          payload: frame.jpeg,
          frame: { at: frame.at, seq: frame.seq, width: frame.width, height: frame.height, device: device.deviceId },
        };
        this.send(msg as unknown as NodeMessage);
      });
      const ticker = this.clock.setInterval(() => this.showRate(), STATUS_EVERY_MS);

      this.on("input", (msg: NodeMessageInFlow, _send, done) => {
        let next: StreamFormat;
        try {
          next = formatOfSettings(msg);
        } catch (err) {
          failMessage(RED, this, err as Error, msg, done);
          return;
        }
        if (next.rotation === 90 || next.rotation === 270) this.warn(RED._("camera-stream.errors.rotation", { rotation: next.rotation }));
        stream.setFormat(next);
        this.frames = 0;
        this.since = this.clock.now();
        user.show("busy", RED._("camera-stream.status.starting", { format: describe(stream.format) }));
        done();
      });

      this.on("close", (done: () => void) => {
        this.clock.clearInterval(ticker);
        offState();
        unsubscribe();
        done();
      });
    }

    private showRate(): void {
      if (!this.user || !this.stream || this.stream.state.state !== "running") return;
      const now = this.clock.now();
      const fps = now > this.since ? (this.frames * 1000) / (now - this.since) : 0;
      this.frames = 0;
      this.since = now;
      const f = this.stream.format;
      this.user.show("ok", RED._("camera-stream.status.running", { fps: fps.toFixed(1), width: f.width, height: f.height }));
    }

    private showState(state: StreamState): void {
      if (!this.user || !this.stream) return;
      const f = this.stream.format;
      if (state.state === "running") this.user.show("ok", RED._("camera-stream.status.running", { fps: f.fps.toFixed(1), width: f.width, height: f.height }));
      else if (state.state === "failing") {
        this.user.show("warn", RED._("camera-stream.status.failing", { seconds: Math.round((state.retryInMs ?? 0) / 1000) }));
        this.warn(state.message);
      } else this.user.show("off", RED._("camera-stream.status.stopped"));
    }
  };
}

const describe = (f: StreamFormat) => `${f.width}×${f.height} ${f.fps} fps${f.rotation ? ` ${f.rotation}°` : ""}`;

export default function register(RED: NodeAPI): void {
  defineCameraStream(RED).registerType(RED, "camera-stream");
}
