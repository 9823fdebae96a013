// timelapse: a still every N minutes on the camera Pi, inside the recording window, into the device's spool (kind
// "still", a .jpg that is its own thumbnail); sends its SpoolItem so a flow can upload it. The interval and the window
// come from the camera's settings (a SettingsMessage), live. The schedule is nodes/lib/camera/timelapse.ts.
import type { NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { frameOf, isSettingsMessage, recordingSettingsOf } from "../lib/camera/frame-input";
import type { RecordingWindow } from "../lib/camera/recording-window";
import { Spool, spoolDir } from "../lib/camera/spool";
import { putStill, TimelapseSchedule } from "../lib/camera/timelapse";
import { DEFAULT_CAMERA_SETTINGS } from "../lib/camera/types";
import { PayloadError, cameraTopics } from "../lib/contract";
import { cameraStillEntity } from "../lib/homeassistant/discovery";
import { useDevice } from "../lib/node-red/device";
import { failMessage } from "../lib/node-red/fail";
import { servicesOf } from "../lib/services";

export type TimelapseDef = NodeDef & { device: string };

const clockTime = (ms: number) => new Date(ms).toTimeString().slice(0, 8);

function defineTimelapse(RED: NodeAPI) {
  return class TimelapseNode extends Node {
    constructor(config: TimelapseDef) {
      super(RED);
      this.createNode(config);
      const services = servicesOf(RED);
      const user = useDevice(RED, this, config.device, "timelapse");
      if (!user) return;
      const device = user.device.deviceId;
      let spool: Spool;
      try {
        // no sweep here: the clip-recorder sweeps the spool at its start (a still is written whole in one step)
        spool = new Spool(spoolDir(services.dataDir, device));
      } catch (err) {
        user.show("error", RED._("timelapse.status.no-spool"));
        this.error(RED._("timelapse.errors.no-spool", { error: (err as Error).message }));
        return;
      }
      const schedule = new TimelapseSchedule(() => services.clock.now());
      let window: RecordingWindow = DEFAULT_CAMERA_SETTINGS.recordingWindow;
      let stills = 0;
      const idle = () =>
        schedule.minutes > 0 ? user.show("ok", RED._("timelapse.status.every", { minutes: schedule.minutes })) : user.show("off", RED._("timelapse.status.off"));
      schedule.setMinutes(DEFAULT_CAMERA_SETTINGS.timelapseMinutes);
      idle();
      // each still is also Home Assistant's image of the camera (the camera node's, where one runs, shares it)
      user.announce([cameraStillEntity(device)]);

      this.on("input", (msg: NodeMessageInFlow, send, done) => {
        try {
          if (isSettingsMessage(msg as { topic?: unknown })) {
            const s = recordingSettingsOf(msg as never);
            schedule.setMinutes(s.timelapseMinutes);
            window = s.recordingWindow;
            if (stills === 0 || schedule.minutes === 0) idle();
            done();
            return;
          }
          const frame = frameOf(msg as never, device);
          if (!schedule.take(frame.at, window)) {
            done();
            return;
          }
          let item;
          try {
            item = putStill(spool, device, frame.jpeg, frame.at);
          } catch (err) {
            // the disk, not the frame: no dead letter, the next slot tries again
            user.show("error", RED._("timelapse.errors.still", { error: (err as Error).message }));
            done(err as Error);
            return;
          }
          stills++;
          if (user.homeAssistant) user.device.link.publish(cameraTopics.still(device), frame.jpeg, { qos: 0, retain: true }).catch(() => undefined);
          user.show("ok", RED._("timelapse.status.stills", { minutes: schedule.minutes, count: stills, time: clockTime(frame.at) }));
          send({ payload: item });
          done();
        } catch (err) {
          failMessage(RED, this, err instanceof Error ? err : new PayloadError(String(err)), msg, done);
        }
      });
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineTimelapse(RED).registerType(RED, "timelapse");
}
