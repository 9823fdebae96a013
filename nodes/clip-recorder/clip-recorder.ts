// clip-recorder: motion clips with pre-roll on the camera Pi. Takes the stream's frames (with motion-detect's verdict)
// and the camera's settings; writes each clip into the device's spool (MP4 when ffmpeg is installed, else MJPEG, plus
// the thumbnail) and sends its SpoolItem, so a flow can upload it. The logic is nodes/lib/camera/clip-recorder.ts.
import type { NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { ClipRecorder, type EndReason } from "../lib/camera/clip-recorder";
import { findFfmpeg } from "../lib/camera/ffmpeg";
import { frameOf, isSettingsMessage, recordingSettingsOf } from "../lib/camera/frame-input";
import { DEFAULT_RING_BYTES } from "../lib/camera/frame-ring";
import { Spool, spoolDir } from "../lib/camera/spool";
import { DEFAULT_CAMERA_SETTINGS, type SpoolItem } from "../lib/camera/types";
import { useDevice, type DeviceUser } from "../lib/node-red/device";
import { failMessage } from "../lib/node-red/fail";
import { servicesOf } from "../lib/services";

export interface ClipRecorderDef extends NodeDef {
  device: string;
  /** The pre-roll's memory bound, MiB. */
  bufferMiB: string | number;
  /** "auto": MP4 when ffmpeg is installed, else MJPEG; "mjpeg": always MJPEG (no remux). */
  container: string;
}

export interface ClipRecorderConfig {
  ringBytes: number;
  container: "auto" | "mjpeg";
}

const blank = (v: unknown) => v === undefined || v === null || String(v).trim() === "";

export function normaliseClipRecorder(config: Partial<ClipRecorderDef>): ClipRecorderConfig {
  const mib = blank(config.bufferMiB) ? DEFAULT_RING_BYTES / 2 ** 20 : Number(config.bufferMiB);
  if (!Number.isFinite(mib) || mib < 1 || mib > 256) throw new Error(`pre-roll memory ${String(config.bufferMiB)} MiB is not 1..256`);
  const container = blank(config.container) ? "auto" : String(config.container).trim();
  if (container !== "auto" && container !== "mjpeg") throw new Error(`container "${container}" is not auto or mjpeg`);
  return { ringBytes: Math.round(mib * 2 ** 20), container };
}

const clockTime = (ms: number) => new Date(ms).toTimeString().slice(0, 8);

function defineClipRecorder(RED: NodeAPI) {
  return class ClipRecorderNode extends Node {
    private user: DeviceUser | null = null;
    private recorder: ClipRecorder | null = null;
    private clips = 0;
    private lastClip: SpoolItem | null = null;

    constructor(config: ClipRecorderDef) {
      super(RED);
      this.createNode(config);
      const services = servicesOf(RED);
      const user = useDevice(RED, this, config.device, "clip-recorder");
      if (!user) return;
      this.user = user;
      const c = user.settings(() => normaliseClipRecorder(config));
      if (!c) return;
      const device = user.device.deviceId;
      let spool: Spool;
      try {
        spool = new Spool(spoolDir(services.dataDir, device));
        // at start only: what a crash left half-written (media without its JSON); the recorder is not writing yet
        const swept = spool.sweep();
        if (swept.length > 0) this.warn(RED._("clip-recorder.errors.swept", { count: swept.length, files: swept.slice(0, 5).join(", ") }));
      } catch (err) {
        user.show("error", RED._("clip-recorder.status.no-spool"));
        this.error(RED._("clip-recorder.errors.no-spool", { error: (err as Error).message }));
        return;
      }
      const ffmpeg = c.container === "mjpeg" ? null : findFfmpeg().ffmpeg;
      const container = ffmpeg ? "MP4" : "MJPEG";
      this.recorder = new ClipRecorder({
        spool,
        device,
        clock: services.clock,
        ffmpeg,
        ringBytes: c.ringBytes,
        settings: { ...DEFAULT_CAMERA_SETTINGS },
        onClip: (item) => {
          this.clips++;
          this.lastClip = item;
          this.idleStatus();
          this.send({ payload: item });
        },
        onProblem: (err, kept) => {
          if (kept) this.warn(err.message);
          else {
            user.show("error", err.message);
            this.error(err.message);
          }
        },
      });
      user.show("ok", RED._("clip-recorder.status.ready", { container }));
      if (c.container === "auto" && !ffmpeg) this.log(RED._("clip-recorder.errors.no-ffmpeg"));

      this.on("input", (msg: NodeMessageInFlow, _send, done) => {
        const recorder = this.recorder!;
        try {
          if (isSettingsMessage(msg as { topic?: unknown })) {
            recorder.apply(recordingSettingsOf(msg as never));
            done();
            return;
          }
          const wasRecording = recorder.recording;
          const { started, ended } = recorder.frame(frameOf(msg as never, device));
          if (started || (wasRecording && !recorder.recording)) this.changed(started, ended);
          done();
        } catch (err) {
          failMessage(RED, this, err as Error, msg, done);
        }
      });

      this.on("close", (done: () => void) => {
        const closing = this.recorder?.close() ?? Promise.resolve();
        closing.then(() => done(), () => done());
      });
    }

    private changed(started: boolean, ended: EndReason | null): void {
      if (started) this.user?.show("busy", RED._("clip-recorder.status.recording", { cut: ended === "cap" ? RED._("clip-recorder.status.cut") : "" }));
      else this.user?.show("busy", RED._("clip-recorder.status.finishing"));
    }

    private idleStatus(): void {
      if (this.recorder?.recording) return;
      const last = this.lastClip;
      if (last) {
        this.user?.show("ok", RED._("clip-recorder.status.clips", { count: this.clips, time: clockTime(last.start), seconds: Math.round(last.durationMs / 1000), format: last.format }));
      }
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineClipRecorder(RED).registerType(RED, "clip-recorder");
}
