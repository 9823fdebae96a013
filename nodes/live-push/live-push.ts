// CameraPi: live video on demand (issue 13). Takes the camera's frames (FrameMessage, from camera-stream or
// motion-detect) and, while the hub asks for them (its retained `pifog/<device>/camera/live/control`), publishes them
// to the hub, one JPEG per QoS 0 message on `pifog/<device>/camera/live/frame`, at most `fps` a second. Frames are
// dropped, never queued, when the link is slow or down; the stream stops when the hub says so or its lease runs out.
import type { NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { skycamTopics } from "../lib/contract";
import { LivePusher, parseLiveControl } from "../lib/camera/live-push";
import { isJpeg } from "../lib/image/image";
import { useDevice } from "../lib/node-red/device";
import { failMessage } from "../lib/node-red/fail";
import { servicesOf } from "../lib/services";

export interface LivePushDef extends NodeDef {
  device: string;
  fps: string | number;
}

export interface LivePushSettings {
  fps: number;
}

export const DEFAULT_LIVE_FPS = 5;
/** The status text changes at most once a second (a frame each time would flood the editor). */
const STATUS_EVERY_MS = 1000;

const blank = (v: unknown) => v === undefined || v === null || String(v).trim() === "";

export function normaliseLivePush(config: Partial<LivePushDef>): LivePushSettings {
  const fps = blank(config.fps) ? DEFAULT_LIVE_FPS : Number(config.fps);
  if (!Number.isFinite(fps) || fps < 0.2 || fps > 30) throw new Error(`fps ${String(config.fps)} is not 0.2..30`);
  return { fps };
}

function defineLivePush(RED: NodeAPI) {
  return class LivePushNode extends Node {
    constructor(config: LivePushDef) {
      super(RED);
      this.createNode(config);
      const clock = servicesOf(RED).clock;
      const user = useDevice(RED, this, config.device, "live-push");
      if (!user) return;
      const s = user.settings(() => normaliseLivePush(config));
      if (!s) return;
      const device = user.device;
      const frameTopic = skycamTopics.liveFrame(device.deviceId);
      let lastStatus = -Infinity;
      const showIdle = () => user.show("off", RED._("live-push.status.idle"));
      const showLive = (force = false) => {
        const now = clock.now();
        if (!force && now - lastStatus < STATUS_EVERY_MS) return;
        lastStatus = now;
        user.show("ok", RED._("live-push.status.live", { sent: pusher.sent, dropped: pusher.dropped }));
      };
      const pusher = new LivePusher({
        clock,
        fps: s.fps,
        connected: () => device.link.connected,
        publish: (jpeg) => device.link.publishEncoded(frameTopic, jpeg, { qos: 0, retain: false }),
        onChange: (on, why) => {
          if (on) showLive(true);
          else {
            showIdle();
            if (why === "lease") this.log(RED._("live-push.log.lease"));
          }
        },
      });
      showIdle();

      const stopControl = device.link.subscribe(skycamTopics.liveControl(device.deviceId), (topic, payload) => {
        try {
          pusher.control(parseLiveControl(payload));
        } catch (err) {
          // a bad control from the hub: said and recorded; the stream keeps its state
          failMessage(RED, this, err as Error, { topic, payload: payload.subarray(0, 256) } as never);
        }
      });
      const onConnection = () => pusher.linkChanged();
      device.link.on("connection", onConnection);

      this.on("input", (msg: NodeMessageInFlow, _send, done) => {
        const m = msg as NodeMessageInFlow & { topic?: unknown };
        // the camera's settings (camera-config) pass by: live-push takes nothing from them
        if (m.topic === "camera/settings") return done();
        if (!Buffer.isBuffer(msg.payload) || !isJpeg(msg.payload)) {
          return failMessage(RED, this, new Error(RED._("live-push.errors.not-jpeg")), msg, done);
        }
        if (pusher.frame(msg.payload) !== "off") showLive();
        done();
      });

      this.on("close", (done: () => void) => {
        stopControl();
        device.link.off("connection", onConnection);
        pusher.close();
        done();
      });
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineLivePush(RED).registerType(RED, "live-push");
}
