// The `health` node (issue 13), on every role: every healthSeconds (60 by default) it publishes the device's health
// report, retained with QoS 1, on `pifog/<device>/health` through the device's link: CPU temperature (the thermal
// zone through the device's driver on a Pi, null off one), load, memory, the data dir's disk, uptime, PiFog's
// version and the last error (the newest record of this data dir's dead-letter file). A camera's settings message
// (`topic: "camera/settings"`, from camera-config) changes the interval at once; any other message sends a report
// now. Each report also leaves on the output.
import type { NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import type { Clock } from "../lib/clock";
import { healthTopics } from "../lib/contract";
import { CAMERA_LIMITS } from "../lib/camera/settings";
import type { HealthReport, SettingsMessage } from "../lib/camera/types";
import { pifogVersion } from "../lib/device-info";
import type { CpuTemperature } from "../lib/drivers/types";
import { healthReport, hostProbe, type HostProbe } from "../lib/health/report";
import { useDevice, type DeviceUser, type PifogDevice } from "../lib/node-red/device";
import { servicesOf } from "../lib/services";

export interface HealthDef extends NodeDef {
  device: string;
  /** Seconds between reports. */
  interval: string | number;
}

export interface HealthSettings {
  intervalSeconds: number;
}

export const DEFAULT_HEALTH_SECONDS = 60;

const blank = (v: unknown) => v === undefined || v === null || String(v).trim() === "";

export function normaliseHealth(config: Pick<HealthDef, "interval">): HealthSettings {
  const n = blank(config.interval) ? DEFAULT_HEALTH_SECONDS : Number(config.interval);
  const { min, max } = CAMERA_LIMITS.healthSeconds;
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`interval ${config.interval} s is not a whole number within ${min}..${max}`);
  return { intervalSeconds: n };
}

function isSettingsMessage(msg: unknown): msg is SettingsMessage {
  const m = msg as Partial<SettingsMessage>;
  return m?.topic === "camera/settings" && !!m.settings && typeof m.settings === "object";
}

function defineHealth(RED: NodeAPI) {
  return class Health extends Node {
    private user: DeviceUser | null = null;
    private timer: unknown = null;
    private closed = false;
    private busy = false;
    /** A report was asked for while one was being made (a new interval): make another after it. */
    private again = false;
    private cpu: CpuTemperature | null = null;
    private intervalSeconds = DEFAULT_HEALTH_SECONDS;
    private readonly clock: Clock;

    constructor(config: HealthDef) {
      super(RED);
      this.createNode(config);
      const services = servicesOf(RED);
      this.clock = services.clock;
      const user = useDevice(RED, this, config.device, "health");
      if (!user) return;
      this.user = user;
      const settings = user.settings(() => normaliseHealth(config));
      if (!settings) return;
      this.intervalSeconds = settings.intervalSeconds;
      const device = user.device;
      if (user.drivers.kind === "pi") {
        try {
          this.cpu = user.drivers.cpuTemperature();
        } catch (err) {
          this.warn(RED._("health.errors.cpu", { error: (err as Error).message }));
        }
      }
      const cpu = this.cpu;
      const probe = hostProbe({ temperature: cpu ? () => cpu.read() : null, deadLetterFile: services.deadLetters.file });

      this.on("input", (msg: NodeMessageInFlow, _send, done) => {
        if (isSettingsMessage(msg)) {
          const s = msg.settings.healthSeconds;
          const { min, max } = CAMERA_LIMITS.healthSeconds;
          if (!Number.isInteger(s) || s < min || s > max) {
            this.error(RED._("health.errors.interval", { value: String(s), min, max }), msg);
            done();
            return;
          }
          if (s !== this.intervalSeconds) {
            this.intervalSeconds = s;
            this.schedule(device, probe);
            this.tick(device, probe, true);
          }
          done();
          return;
        }
        this.tick(device, probe, true);
        done();
      });
      this.on("close", (done: () => void) => {
        this.closed = true;
        if (this.timer !== null) this.clock.clearInterval(this.timer);
        (cpu ? cpu.close().catch(() => undefined) : Promise.resolve()).then(() => done());
      });

      this.schedule(device, probe);
      this.tick(device, probe);
    }

    private schedule(device: PifogDevice, probe: HostProbe): void {
      if (this.timer !== null) this.clock.clearInterval(this.timer);
      this.timer = this.clock.setInterval(() => this.tick(device, probe), this.intervalSeconds * 1000);
    }

    /** One report; one still being made (a slow SD card) is not doubled, but one asked for meanwhile follows it. */
    private tick(device: PifogDevice, probe: HostProbe, asked = false): void {
      if (this.closed) return;
      if (this.busy) {
        if (asked) this.again = true;
        return;
      }
      this.busy = true;
      const services = servicesOf(RED);
      healthReport(probe, { device: device.deviceId, at: this.clock.now(), version: pifogVersion(), dataDir: services.dataDir, intervalSeconds: this.intervalSeconds })
        .then((report) => {
          if (this.closed) return;
          this.publish(device, report);
          const t = report.cpuTemperatureC === null ? "" : ` · ${report.cpuTemperatureC} °C`;
          this.user?.show("ok", RED._("health.status.reported", { load: report.load[0].toFixed(2), every: this.intervalSeconds }) + t);
          this.send({ topic: healthTopics.report(device.deviceId), payload: report });
        })
        .catch((err: Error) => {
          if (this.closed) return;
          this.user?.show("error", RED._("health.status.failed", { error: err.message }));
          this.error(err, { topic: healthTopics.report(device.deviceId) });
        })
        .finally(() => {
          this.busy = false;
          if (this.again) {
            this.again = false;
            this.tick(device, probe);
          }
        });
    }

    private publish(device: PifogDevice, report: HealthReport): void {
      device.link.publish(healthTopics.report(device.deviceId), report, { qos: 1, retain: true }).catch((err: Error) => {
        if (!this.closed) this.warn(RED._("health.errors.publish", { error: err.message }));
      });
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineHealth(RED).registerType(RED, "health");
}
