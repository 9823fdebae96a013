// DoorPi: N door contacts on GPIO inputs. Publishes each change and the state at start (retained, QoS 1)
// on the native topics and, as PiFog did, on /World/Fog/1/DoorPi/Event; lights each door's LED while closed.
import type { NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import type { Clock } from "../lib/clock";
import {
  compatDoorEvent,
  compatTopics,
  isTopicLevel,
  topics,
  type DoorChange,
  type DoorReading,
  type DoorState,
  type DoorsState,
  type Topic,
} from "../lib/contract";
import type { GpioInput, GpioOutput, Level, Pull } from "../lib/drivers/types";
import { failMessage } from "../lib/node-red/fail";
import { servicesOf } from "../lib/services";
import { showStatus, type StatusKind } from "../lib/node-red/status";
import { useDevice, type DeviceUser, type PifogDevice } from "../lib/node-red/device";
import { doorEntity } from "../lib/homeassistant/discovery";

export interface DoorConfig {
  id: string;
  label: string;
  pin: number;
  ledPin?: number | null;
}

export interface DoorSensorDef extends NodeDef {
  device: string;
  doors: DoorConfig[] | string;
  closedLevel: string | number;
  pull: string;
  activeLow: boolean;
  debounce: string | number;
  leds: boolean;
  blink: boolean;
  compat: boolean;
}

/** PiFog's DoorPi: door1 "F" on BCM 17 with its LED on 27, door2 "M" on 18 with 22. */
export const DEFAULT_DOORS: DoorConfig[] = [
  { id: "door1", label: "F", pin: 17, ledPin: 27 },
  { id: "door2", label: "M", pin: 18, ledPin: 22 },
];

/** PiFog's start-up blink: [door1 LED, door2 LED, seconds]. */
const STARTUP_BLINK: Array<[Level, Level, number]> = [
  [1, 0, 0.5], [0, 1, 0.5], [1, 0, 0.5], [0, 1, 0.5],
  [1, 1, 0.25], [0, 0, 0.25], [1, 1, 0.25], [0, 0, 0.25], [1, 1, 0.25],
];

export interface DoorSensorSettings {
  doors: DoorConfig[];
  closedLevel: Level;
  pull: Pull;
  activeLow: boolean;
  debounceMs: number;
  leds: boolean;
  blink: boolean;
  compat: boolean;
}

/** Normalises the editor's config once; throws with a message a user can act on. */
export function normaliseDoorSensor(config: DoorSensorDef): DoorSensorSettings {
  const rawDoors = typeof config.doors === "string" && config.doors.trim() ? JSON.parse(config.doors) : config.doors;
  const doors: DoorConfig[] = Array.isArray(rawDoors) && rawDoors.length > 0 ? rawDoors : DEFAULT_DOORS;
  const ids = new Set<string>();
  for (const d of doors) {
    if (!isTopicLevel(String(d.id))) throw new Error(`door id "${d.id}" must be one topic level`);
    if (ids.has(d.id)) throw new Error(`door id "${d.id}" is used twice`);
    ids.add(d.id);
    d.pin = Number(d.pin);
    if (!Number.isInteger(d.pin) || d.pin < 0 || d.pin > 53) throw new Error(`door ${d.id}: GPIO ${d.pin} is not 0..53`);
    const led = d.ledPin === undefined || d.ledPin === null || String(d.ledPin) === "" ? null : Number(d.ledPin);
    if (led !== null && (!Number.isInteger(led) || led < 0 || led > 53)) throw new Error(`door ${d.id}: LED GPIO ${d.ledPin} is not 0..53`);
    d.ledPin = led;
    d.label = String(d.label ?? d.id);
  }
  const debounceMs = config.debounce === "" || config.debounce === undefined ? 50 : Number(config.debounce);
  if (!Number.isFinite(debounceMs) || debounceMs < 0 || debounceMs > 10_000) throw new Error(`debounce ${config.debounce} ms is not 0..10000`);
  const pull: Pull = config.pull === "up" || config.pull === "down" ? config.pull : "none";
  return {
    doors,
    closedLevel: String(config.closedLevel ?? "1") === "0" ? 0 : 1,
    pull,
    activeLow: config.activeLow === true,
    debounceMs,
    leds: config.leds !== false,
    blink: config.blink !== false,
    compat: config.compat !== false,
  };
}

function defineDoorSensor(RED: NodeAPI) {
  return class DoorSensor extends Node {
    private user: DeviceUser | null = null;

    private inputs = new Map<string, GpioInput>();
    private leds = new Map<string, GpioOutput>();
    private readings: Record<string, DoorReading> = {};
    private blinkTimer: unknown = null;
    /** Set once the runtime fails: the LEDs stay dark for the little time the process has left. */
    private dark = false;
    private readonly clock: Clock;

    constructor(config: DoorSensorDef) {
      super(RED);
      this.createNode(config);
      this.clock = servicesOf(RED).clock;
      const user = useDevice(RED, this, config.device, "door-sensor");
      if (!user) return;
      this.user = user;
      const device = user.device;
      if (!device) return;
      const settings = user.settings(() => normaliseDoorSensor(config));
      if (!settings) return;
      try {
        this.open(user, settings);
      } catch (err) {
        // what did open is let go at once: its lines stay free for the node that holds them, or for the next deploy
        void this.closeHardware();
        if (user.refusedPin(err)) return;
        this.show("off", RED._("door-sensor.status.unavailable"));
        this.warn(RED._("door-sensor.errors.unavailable", { error: (err as Error).message }));
        return;
      }
      user.announce(settings.doors.map((d) => doorEntity(device.deviceId, d.id, d.label)));

      if (this.leds.size > 0) {
        const deregister = servicesOf(RED).safeState.register(`door-sensor ${this.id} LEDs`, () => this.goDark());
        this.on("close", () => deregister());
      }

      this.on("input", (msg: NodeMessageInFlow, send, done) => {
        try {
          this.publishAll(device, settings);
          send(this.outputMessage(device.deviceId));
          done();
        } catch (err) {
          failMessage(RED, this, err as Error, msg, done);
        }
      });
      this.on("close", (done: () => void) => {
        if (this.blinkTimer !== null) this.clock.clearTimeout(this.blinkTimer);
        this.closeHardware().then(() => done(), () => done());
      });
    }

    private closeHardware(): Promise<unknown> {
      const all = [...this.inputs.values(), ...this.leds.values()].map((h) => h.close().catch(() => undefined));
      this.inputs.clear();
      this.leds.clear();
      return Promise.all(all);
    }

    private stateOf(level: Level, s: DoorSensorSettings): DoorState {
      return level === s.closedLevel ? "closed" : "open";
    }

    private open(user: DeviceUser, s: DoorSensorSettings): void {
      const device = user.device;
      const closed = s.closedLevel;
      const open: Level = closed === 1 ? 0 : 1;
      const now = new Date(this.clock.now()).toISOString();
      for (const door of s.doors) {
        const input = user.drivers.gpioInput({
          name: door.id,
          pin: door.pin,
          pull: s.pull,
          activeLow: s.activeLow,
          debounceMs: s.debounceMs,
          simWords: { open, closed },
          simInitial: closed,
        });
        this.inputs.set(door.id, input);
        this.readings[door.id] = { label: door.label, state: this.stateOf(input.read(), s), changedAt: now };
        if (s.leds && door.ledPin !== null && door.ledPin !== undefined) {
          this.leds.set(door.id, user.drivers.gpioOutput({ name: `${door.id}-led`, pin: door.ledPin, activeLow: false, initial: 0 }));
        }
        input.onChange((level) => this.changed(device, s, door.id, this.stateOf(level, s)));
      }
      if (s.blink && this.leds.size > 0) this.startupBlink(s, 0);
      else this.updateLeds();
      this.publishAll(device, s);
      this.showDoors();
      this.send(this.outputMessage(device.deviceId));
    }

    /** The LEDs' safe level: off (a lit LED would say a door is closed when nobody watches it any more). */
    private goDark(): Promise<unknown> {
      this.dark = true;
      if (this.blinkTimer !== null) this.clock.clearTimeout(this.blinkTimer);
      this.blinkTimer = null;
      for (const led of this.leds.values()) led.write(0);
      return Promise.all([...this.leds.values()].map((led) => led.settled?.()));
    }

    private startupBlink(s: DoorSensorSettings, step: number): void {
      if (this.dark) return;
      const [first, second, seconds] = STARTUP_BLINK[step] ?? [0, 0, 0];
      if (step >= STARTUP_BLINK.length) {
        this.blinkTimer = null;
        this.updateLeds();
        return;
      }
      const ledList = [...this.leds.values()];
      ledList.forEach((led, i) => led.write(i % 2 === 0 ? first : second));
      this.blinkTimer = this.clock.setTimeout(() => this.startupBlink(s, step + 1), seconds * 1000);
    }

    /** Each LED is lit while its door is closed, as the DoorPi drove it with the raw pin value. */
    private updateLeds(): void {
      if (this.blinkTimer !== null || this.dark) return;
      for (const [id, led] of this.leds) led.write(this.readings[id]?.state === "closed" ? 1 : 0);
    }

    private changed(device: PifogDevice, s: DoorSensorSettings, doorId: string, state: DoorState): void {
      const reading = this.readings[doorId];
      if (!reading || reading.state === state) return;
      this.readings[doorId] = { ...reading, state, changedAt: new Date(this.clock.now()).toISOString() };
      this.updateLeds();
      this.publishDoor(device, doorId);
      this.publishDoors(device, s);
      this.showDoors();
      this.send({ ...this.outputMessage(device.deviceId), door: doorId });
    }

    private publishDoor(device: PifogDevice, doorId: string): void {
      const reading = this.readings[doorId];
      if (!reading) return;
      const change: DoorChange = { device: device.deviceId, door: doorId, ...reading };
      this.publish(device, topics.door(device.deviceId, doorId), change);
    }

    private publishDoors(device: PifogDevice, s: DoorSensorSettings): void {
      this.publish(device, topics.doors(device.deviceId), this.doorsState(device.deviceId));
      if (s.compat) {
        const event = compatDoorEvent(this.readings, new Date(this.clock.now()));
        this.publish(device, compatTopics.event(device.compat ?? "DoorPi"), event);
      }
    }

    private publishAll(device: PifogDevice, s: DoorSensorSettings): void {
      for (const id of Object.keys(this.readings)) this.publishDoor(device, id);
      this.publishDoors(device, s);
    }

    private publish<P>(device: PifogDevice, topic: Topic<P>, payload: P): void {
      device.link.publish(topic, payload, { qos: 1, retain: true }).catch((err: Error) => {
        this.warn(RED._("door-sensor.errors.publish", { topic, error: err.message }));
      });
    }

    private doorsState(deviceId: string): DoorsState {
      return { device: deviceId, doors: { ...this.readings }, timestamp: new Date(this.clock.now()).toISOString() };
    }

    private outputMessage(deviceId: string) {
      return { topic: topics.doors(deviceId), payload: this.doorsState(deviceId) };
    }

    private showDoors(): void {
      const readings = Object.values(this.readings);
      const text = readings.map((r) => `${r.label} ${RED._(`door-sensor.state.${r.state}`)}`).join(" · ");
      const anyOpen = readings.some((r) => r.state === "open");
      this.show(anyOpen ? "ok" : "warn", text);
    }

    /** The node's own status, combined with its device's link once it has one. */
    private show(kind: StatusKind, text: string): void {
      if (this.user) this.user.show(kind, text);
      else showStatus(this, kind, text);
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineDoorSensor(RED).registerType(RED, "door-sensor");
}
