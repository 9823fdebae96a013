// StatusPi: the Sense HAT's humidity, pressure and temperatures, at start and then every interval (60 s as PiFog),
// retained with QoS 1: natively (one JSON reading and each value as a plain number, for the telemetry hub) and, as
// PiFog did, on /World/Fog/1/StatusPi/Event. Unlike PiFog it also corrects the temperature for the CPU's heat.
import type { NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import type { Clock } from "../lib/clock";
import {
  compatEnvironmentEvent,
  compatTopics,
  environmentValues,
  topics,
  type EnvironmentState,
  type Topic,
} from "../lib/contract";
import type { CpuTemperature, EnvReading, EnvSensor } from "../lib/drivers/types";
import { failMessage } from "../lib/node-red/fail";
import { servicesOf } from "../lib/services";
import { showStatus, type StatusKind } from "../lib/node-red/status";
import { useDevice, type DeviceUser, type PifogDevice } from "../lib/node-red/device";
import { environmentEntities } from "../lib/homeassistant/discovery";

export interface SenseEnvDef extends NodeDef {
  device: string;
  /** Seconds between readings. */
  interval: string | number;
  factor: string | number;
  compat: boolean;
  values: boolean;
}

export interface SenseEnvSettings {
  intervalMs: number;
  factor: number;
  compat: boolean;
  values: boolean;
}

export const DEFAULT_INTERVAL_S = 60;
export const DEFAULT_FACTOR = 1.5;

const blank = (v: unknown) => v === undefined || v === null || String(v).trim() === "";

/** Normalises the editor's config once; throws with a message a user can act on. */
export function normaliseSenseEnv(config: SenseEnvDef): SenseEnvSettings {
  const interval = blank(config.interval) ? DEFAULT_INTERVAL_S : Number(config.interval);
  if (!Number.isFinite(interval) || interval < 1 || interval > 86_400) {
    throw new Error(`interval ${config.interval} s is not 1..86400`);
  }
  const factor = blank(config.factor) ? DEFAULT_FACTOR : Number(config.factor);
  if (!Number.isFinite(factor) || factor <= 0 || factor > 100) {
    throw new Error(`correction factor ${config.factor} must be in (0, 100]`);
  }
  return { intervalMs: Math.round(interval * 1000), factor, compat: config.compat !== false, values: config.values !== false };
}

/** The Sense HAT sits over the CPU, whose heat warms its sensors: `t − (t_cpu − t) / factor`. */
export function correctedTemperature(t: number, tCpu: number, factor: number): number {
  return t - (tCpu - t) / factor;
}

const round2 = (v: number) => Math.round(v * 100) / 100;

function checkReading(r: EnvReading): EnvReading {
  for (const [key, value] of Object.entries(r)) {
    if (typeof value !== "number" || !Number.isFinite(value)) throw new Error(`the sensor gave no number for ${key}`);
  }
  return r;
}

function defineSenseEnv(RED: NodeAPI) {
  return class SenseEnv extends Node {
    private user: DeviceUser | null = null;

    private sensor: EnvSensor | null = null;
    private cpu: CpuTemperature | null = null;
    private timer: unknown = null;
    private busy = false;
    private closed = false;
    private cpuWarned = false;
    private readonly clock: Clock;

    constructor(config: SenseEnvDef) {
      super(RED);
      this.createNode(config);
      this.clock = servicesOf(RED).clock;
      const user = useDevice(RED, this, config.device, "sense-env");
      if (!user) return;
      this.user = user;
      const device = user.device;
      if (!device) return;
      const settings = user.settings(() => normaliseSenseEnv(config));
      if (!settings) return;
      try {
        this.sensor = user.drivers.envSensor();
      } catch (err) {
        this.show("off", RED._("sense-env.status.unavailable"));
        this.warn(RED._("sense-env.errors.unavailable", { error: (err as Error).message }));
        return;
      }
      user.announce(environmentEntities(device.deviceId));
      try {
        this.cpu = user.drivers.cpuTemperature();
      } catch (err) {
        this.warn(RED._("sense-env.errors.cpu", { error: (err as Error).message }));
        this.cpuWarned = true;
      }

      this.on("input", (msg: NodeMessageInFlow, send, done) => {
        this.measure(device, settings).then(
          (state) => {
            if (state) send(this.outputMessage(state));
            done();
          },
          (err: Error) => failMessage(RED, this, err, msg, done),
        );
      });
      this.on("close", (done: () => void) => {
        this.closed = true;
        if (this.timer !== null) this.clock.clearInterval(this.timer);
        const all = [this.sensor, this.cpu].map((d) => (d ? d.close().catch(() => undefined) : undefined));
        Promise.all(all).then(() => done(), () => done());
      });

      this.timer = this.clock.setInterval(() => this.tick(device, settings), settings.intervalMs);
      this.tick(device, settings);
    }

    /** One scheduled reading; a read still under way (a slow bus) is not doubled. Errors wait for the next one. */
    private tick(device: PifogDevice, settings: SenseEnvSettings): void {
      if (this.busy || this.closed) return;
      this.busy = true;
      this.measure(device, settings)
        .then(
          (state) => {
            if (state) this.send(this.outputMessage(state));
          },
          (err: Error) => {
            if (this.closed) return;
            this.show("error", RED._("sense-env.status.read-error", { error: err.message }));
            // the error itself, so a Catch node sees its cause; the next interval tries again
            const msg: NodeMessage = { topic: topics.environment(device.deviceId) };
            this.error(err, msg);
          },
        )
        .finally(() => {
          this.busy = false;
        });
    }

    /** Reads the sensors and the CPU, publishes, and returns the reading (null if the node closed meanwhile). */
    private async measure(device: PifogDevice, s: SenseEnvSettings): Promise<EnvironmentState | null> {
      if (!this.sensor) throw new Error(RED._("sense-env.status.unavailable"));
      const reading = checkReading(await this.sensor.read());
      const cpu = await this.cpuTemperature();
      if (this.closed) return null;
      const t = reading.temperatureFromHumidity;
      const state: EnvironmentState = {
        device: device.deviceId,
        temperature: round2(cpu === null ? t : correctedTemperature(t, cpu, s.factor)),
        corrected: cpu !== null,
        temperatureFromHumidity: round2(t),
        temperatureFromPressure: round2(reading.temperatureFromPressure),
        humidity: round2(reading.humidity),
        pressure: round2(reading.pressure),
        cpuTemperature: cpu === null ? null : round2(cpu),
        factor: s.factor,
        timestamp: new Date(this.clock.now()).toISOString(),
      };
      const id = device.deviceId;
      this.publish(device, topics.environment(id), state);
      if (s.values) {
        for (const [name, value] of environmentValues(state)) this.publish(device, topics.environmentValue(id, name), value);
      }
      if (s.compat) {
        // PiFog sent the Sense HAT's raw floats
        const event = compatEnvironmentEvent(reading, new Date(this.clock.now()));
        this.publish(device, compatTopics.event(device.compat ?? "StatusPi"), event);
      }
      this.show(
        state.corrected ? "ok" : "warn",
        RED._("sense-env.status.reading", { temperature: state.temperature, humidity: state.humidity, pressure: state.pressure }),
      );
      return state;
    }

    /** The CPU's temperature, or null (warned once until it reads again): the reading then goes out uncorrected. */
    private async cpuTemperature(): Promise<number | null> {
      if (!this.cpu) return null;
      try {
        const value = await this.cpu.read();
        if (!Number.isFinite(value)) throw new Error(`not a temperature: ${value}`);
        this.cpuWarned = false;
        return value;
      } catch (err) {
        if (!this.cpuWarned) this.warn(RED._("sense-env.errors.cpu", { error: (err as Error).message }));
        this.cpuWarned = true;
        return null;
      }
    }

    private publish<P>(device: PifogDevice, topic: Topic<P>, payload: P): void {
      device.link.publish(topic, payload, { qos: 1, retain: true }).catch((err: Error) => {
        if (!this.closed) this.warn(RED._("sense-env.errors.publish", { topic, error: err.message }));
      });
    }

    private outputMessage(state: EnvironmentState): NodeMessage {
      return { topic: topics.environment(state.device), payload: state };
    }

    /** The node's own status, combined with its device's link once it has one. */
    private show(kind: StatusKind, text: string): void {
      if (this.user) this.user.show(kind, text);
      else showStatus(this, kind, text);
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineSenseEnv(RED).registerType(RED, "sense-env");
}
