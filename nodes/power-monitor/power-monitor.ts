// The power Pi (detectordag's edge device): the mains on a GPIO input (BCM 4, HIGH = plugged in, as on the
// UPS-Lite) and the UPS battery's fuel gauge over I²C. It reads at start, on every mains edge and every poll
// period; publishes its PowerState retained on `pifog/<device>/power`, and every mains change (and the state
// at start) as an event on `pifog/<device>/power/events`; any message on `pifog/<device>/power/request` makes
// it publish its state at once, as detectordag's status/request did.
//
// During a power cut the router is often down too: every event goes into the on-disk outbox first and is
// published from there, in order, with its original time, once the broker has it (QoS 1, PUBACK). The retained
// state follows the events it sums up: it is held back while events wait, and goes out after them.
import type { NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import type { Clock } from "../lib/clock";
import { powerTopics, type BatteryReading, type MainsState, type PowerState } from "../lib/contract";
import { FUEL_GAUGE_MODELS, type FuelGauge, type FuelGaugeModel, type GpioInput, type Level, type Pull } from "../lib/drivers/types";
import { useDevice, type DeviceUser, type PifogDevice } from "../lib/node-red/device";
import { powerEntities } from "../lib/homeassistant/discovery";
import { failMessage } from "../lib/node-red/fail";
import { servicesOf } from "../lib/services";
import { showStatus, type StatusKind } from "../lib/node-red/status";
import { openOutbox } from "../lib/outbox/bridge";
import { DeliveryError, Outbox, type Delivered, type OutboxItem } from "../lib/outbox/outbox";
import { BatteryTrend } from "./battery-trend";

export interface PowerMonitorDef extends NodeDef {
  device: string;
  pin: string | number;
  /** true: the input is HIGH while the mains is on (the UPS-Lite's GPIO 4). */
  mainsHigh: boolean;
  pull: string;
  debounce: string | number;
  ups: string;
  /** Seconds between readings. */
  poll: string | number;
}

export type UpsModel = FuelGaugeModel | "none";

export interface PowerMonitorSettings {
  pin: number;
  onLevel: Level;
  pull: Pull;
  debounceMs: number;
  ups: FuelGaugeModel | null;
  pollMs: number;
}

/** detectordag's defaults: GPIO 4, bounce_time 0.2 s, POWER_POLL_PERIOD 60 s. */
export const DEFAULT_PIN = 4;
export const DEFAULT_DEBOUNCE_MS = 200;
export const DEFAULT_POLL_S = 60;
/** The simulated mains input's name: `pifog/<device>/sim/mains/set` ← `on` / `off`. */
export const MAINS_INPUT = "mains";
/** A publish the broker has not acknowledged within this long is tried again (it may then arrive twice). */
const PUBLISH_TIMEOUT_MS = 60_000;

const blank = (v: unknown) => v === undefined || v === null || String(v).trim() === "";

/** Normalises the editor's config once; throws with a message a user can act on. */
export function normalisePowerMonitor(config: Partial<PowerMonitorDef>): PowerMonitorSettings {
  const pin = blank(config.pin) ? DEFAULT_PIN : Number(config.pin);
  if (!Number.isInteger(pin) || pin < 0 || pin > 53) throw new Error(`mains GPIO ${config.pin} is not 0..53`);
  const debounceMs = blank(config.debounce) ? DEFAULT_DEBOUNCE_MS : Number(config.debounce);
  if (!Number.isFinite(debounceMs) || debounceMs < 0 || debounceMs > 10_000) throw new Error(`debounce ${config.debounce} ms is not 0..10000`);
  const poll = blank(config.poll) ? DEFAULT_POLL_S : Number(config.poll);
  if (!Number.isFinite(poll) || poll < 1 || poll > 86_400) throw new Error(`poll period ${config.poll} s is not 1..86400`);
  const upsText = blank(config.ups) ? "none" : String(config.ups).trim();
  if (upsText !== "none" && !(FUEL_GAUGE_MODELS as readonly string[]).includes(upsText)) {
    throw new Error(`UPS "${upsText}" is not none, ${FUEL_GAUGE_MODELS.join(", ")}`);
  }
  // gpiozero's DigitalInputDevice, which detectordag used, pulls down unless told otherwise
  const pull: Pull = config.pull === "up" || config.pull === "none" ? config.pull : "down";
  return {
    pin,
    onLevel: config.mainsHigh === false ? 0 : 1,
    pull,
    debounceMs,
    ups: upsText === "none" ? null : (upsText as FuelGaugeModel),
    pollMs: Math.round(poll * 1000),
  };
}

/** The last mains state this device reported: the newest queued event, or else the last one delivered. */
export function lastReported(queued: PowerState[], delivered: PowerState | undefined): PowerState | undefined {
  return queued.length > 0 ? queued[queued.length - 1] : delivered;
}

type Reason = "start" | "edge" | "poll" | "request";

interface Snapshot {
  mains: MainsState;
  changedAt: number;
  /** A mains change (or the first reading): it becomes an event. */
  event: boolean;
  reason: Reason;
}

function withTimeout<T>(promise: Promise<T>, ms: number, signal: AbortSignal, clock: Clock): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => finish(() => reject(signal.reason instanceof Error ? signal.reason : new Error("aborted")));
    const timer = clock.setTimeout(() => finish(() => reject(new DeliveryError(`the broker did not acknowledge within ${ms / 1000} s`))), ms);
    let settled = false;
    function finish(f: () => void) {
      if (settled) return;
      settled = true;
      clock.clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      f();
    }
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort);
    promise.then(
      (v) => finish(() => resolve(v)),
      (err: unknown) => finish(() => reject(err)),
    );
  });
}

function definePowerMonitor(RED: NodeAPI) {
  return class PowerMonitor extends Node {
    private user: DeviceUser | null = null;

    private readonly clock: Clock;
    private input: GpioInput | null = null;
    private gauge: FuelGauge | null = null;
    private outbox: Outbox<PowerState> | null = null;
    private readonly trend = new BatteryTrend();
    private mains: MainsState | null = null;
    private changedAt = 0;
    private battery: BatteryReading | null = null;
    /** The last state published (or held back), to tell whether a poll has anything new. */
    private lastState: PowerState | null = null;
    /** The newest state, held back until the events before it are delivered. */
    private pendingState: PowerState | null = null;
    private chain: Promise<void> = Promise.resolve();
    private timer: unknown = null;
    private closed = false;
    private gaugeWarned = false;
    private readonly cleanups: Array<() => void> = [];

    constructor(config: PowerMonitorDef) {
      super(RED);
      this.createNode(config);
      this.clock = servicesOf(RED).clock;
      const user = useDevice(RED, this, config.device, "power-monitor");
      if (!user) return;
      this.user = user;
      const device = user.device;
      if (!device) return;
      const s = user.settings(() => normalisePowerMonitor(config));
      if (!s) return;

      const offLevel: Level = s.onLevel === 1 ? 0 : 1;
      try {
        this.input = user.drivers.gpioInput({
          name: MAINS_INPUT,
          pin: s.pin,
          pull: s.pull,
          activeLow: false,
          debounceMs: s.debounceMs,
          simWords: { on: s.onLevel, off: offLevel },
          simInitial: s.onLevel,
        });
      } catch (err) {
        if (user.refusedPin(err)) return;
        this.show("off", RED._("power-monitor.status.unavailable"));
        this.warn(RED._("power-monitor.errors.unavailable", { error: (err as Error).message }));
        return;
      }
      if (s.ups) {
        try {
          this.gauge = user.drivers.fuelGauge(s.ups);
        } catch (err) {
          // the mains alone is still worth reporting
          this.warn(RED._("power-monitor.errors.gauge", { error: (err as Error).message }));
          this.gaugeWarned = true;
        }
      }
      user.announce(powerEntities(device.deviceId, s.ups !== null));
      const outbox = openOutbox(this, RED._("power-monitor.errors.busy", { device: device.deviceId }), () =>
        new Outbox<PowerState>({
          dataDir: servicesOf(RED).dataDir,
          pool: servicesOf(RED).stores,
          registry: servicesOf(RED).outboxes,
          queue: `power/${device.deviceId}`,
          clock: this.clock,
          deliver: (items, signal) => this.deliver(device, items, signal),
          backoff: { initialMs: 1000, maxMs: 30_000 },
        }),
      );
      if (!outbox) {
        void this.closeHardware();
        return;
      }
      this.outbox = outbox;
      outbox.on("delivered", () => {
        this.flushPendingState(device);
        this.showState();
      });
      outbox.on("failed", () => this.showState());

      // where the last run left the mains: a restart with the mains unchanged keeps its time
      let restored: PowerState | undefined;
      try {
        restored = lastReported(
          outbox.peek(Math.max(1, outbox.size)).map((i) => i.payload),
          outbox.state<PowerState>(),
        );
      } catch {
        restored = undefined;
      }

      const onConnection = (connected: boolean) => {
        if (!connected || this.closed) return;
        this.outbox?.retryNow();
        this.flushPendingState(device);
      };
      device.link.on("connection", onConnection);
      this.cleanups.push(() => device.link.off("connection", onConnection));
      this.cleanups.push(device.link.subscribe(powerTopics.request(device.deviceId), () => this.run(device, s, "request")));
      this.input.onChange(() => this.run(device, s, "edge"));

      this.on("input", (msg: NodeMessageInFlow, _send, done) => {
        this.observe(device, s, "request").then(
          () => done(),
          (err: Error) => failMessage(RED, this, err, msg, done),
        );
      });
      this.on("close", (done: () => void) => {
        this.closed = true;
        if (this.timer !== null) this.clock.clearInterval(this.timer);
        for (const c of this.cleanups) c();
        const closing = [this.outbox?.close(), this.closeHardware()].map((p) => p?.catch(() => undefined));
        Promise.all(closing).then(() => done(), () => done());
      });

      this.run(device, s, "start", restored);
      outbox.start();
      this.timer = this.clock.setInterval(() => this.run(device, s, "poll"), s.pollMs);
    }

    /** observe() for the node's own triggers: a failure (the disk, say) is reported, and the next one tries again. */
    private run(device: PifogDevice, s: PowerMonitorSettings, reason: Reason, restored?: PowerState): void {
      this.observe(device, s, reason, restored).catch((err: Error) => {
        if (this.closed) return;
        this.show("error", err.message);
        this.error(err, { topic: powerTopics.state(device.deviceId) });
      });
    }

    private async closeHardware(): Promise<void> {
      await Promise.all([this.input?.close(), this.gauge?.close()].map((p) => p?.catch(() => undefined)));
    }

    /** Takes the mains as it is now (synchronously, so the time of a change is its own) and queues the report. */
    private observe(device: PifogDevice, s: PowerMonitorSettings, reason: Reason, restored?: PowerState): Promise<void> {
      if (this.closed || !this.input) return Promise.resolve();
      const now = this.clock.now();
      const mains: MainsState = this.input.read() === s.onLevel ? "on" : "off";
      const changed = mains !== this.mains;
      if (changed) {
        const restoredAt = restored && restored.mains === mains ? Date.parse(restored.changedAt) : NaN;
        // at start the mains may not have changed since the last run: keep that time
        this.changedAt = reason === "start" && Number.isFinite(restoredAt) ? restoredAt : now;
        this.mains = mains;
        this.trend.reset();
      }
      const snapshot: Snapshot = { mains, changedAt: this.changedAt, event: changed, reason };
      const step = this.chain.then(() => this.report(device, snapshot));
      // one failed report never blocks the next
      this.chain = step.catch(() => undefined);
      return step;
    }

    /** Reads the battery, then records the event and publishes the state as the reason asks. */
    private async report(device: PifogDevice, snap: Snapshot): Promise<void> {
      if (this.closed) return;
      const battery = await this.readBattery(snap.mains);
      if (this.closed || !this.outbox) return;
      this.battery = battery;
      const state: PowerState = {
        device: device.deviceId,
        mains: snap.mains,
        changedAt: new Date(snap.changedAt).toISOString(),
        battery,
        timestamp: new Date(this.clock.now()).toISOString(),
      };
      if (snap.event) this.outbox.put(state); // on disk before anything else: the event is never lost
      let published = true;
      if (snap.reason === "request") {
        // unconditional and at once, as detectordag answered its status/request
        this.lastState = state;
        if (this.outbox.size > 0) this.pendingState = state;
        this.publishState(device, state);
        this.outbox.retryNow();
      } else if (snap.event || this.visiblyDifferent(state)) {
        this.lastState = state;
        this.pendingState = state;
        this.flushPendingState(device);
      } else {
        published = false;
      }
      if (published) {
        this.send({ topic: powerTopics.state(device.deviceId), payload: state, event: snap.event } as NodeMessage);
      }
      this.showState();
    }

    /** A poll publishes only what a reader would notice: the mains, a whole percent, the minutes left. */
    private visiblyDifferent(state: PowerState): boolean {
      const last = this.lastState;
      if (!last || last.mains !== state.mains || last.changedAt !== state.changedAt) return true;
      const a = last.battery;
      const b = state.battery;
      if (!a || !b) return a !== b;
      return Math.floor(a.percent) !== Math.floor(b.percent) || a.minutesLeft !== b.minutesLeft;
    }

    private async readBattery(mains: MainsState): Promise<BatteryReading | null> {
      if (!this.gauge) return null;
      try {
        const r = await this.gauge.read();
        if (!Number.isFinite(r.voltage) || !Number.isFinite(r.percent)) throw new Error(`not a reading: ${JSON.stringify(r)}`);
        const at = this.clock.now();
        if (mains === "off") this.trend.add(at, r.percent);
        this.gaugeWarned = false;
        return { voltage: r.voltage, percent: r.percent, minutesLeft: mains === "off" ? this.trend.minutesLeft() : null };
      } catch (err) {
        if (!this.gaugeWarned && !this.closed) this.warn(RED._("power-monitor.errors.gauge", { error: (err as Error).message }));
        this.gaugeWarned = true;
        return null;
      }
    }

    /** The held-back state goes out once no event is waiting before it and the broker is there. */
    private flushPendingState(device: PifogDevice): void {
      const state = this.pendingState;
      if (!state || this.closed || !this.outbox || this.outbox.size > 0 || !device.link.connected) return;
      this.pendingState = null;
      this.publishState(device, state);
    }

    private publishState(device: PifogDevice, state: PowerState): void {
      device.link.publish(powerTopics.state(device.deviceId), state, { qos: 1, retain: true }).catch((err: Error) => {
        if (this.closed) return;
        this.pendingState ??= state; // sent again once the broker is back
        this.warn(RED._("power-monitor.errors.publish", { topic: powerTopics.state(device.deviceId), error: err.message }));
      });
    }

    /** Publishes the oldest events in order, each acknowledged by the broker before the next. */
    private async deliver(device: PifogDevice, items: OutboxItem<PowerState>[], signal: AbortSignal): Promise<Delivered> {
      if (!device.link.connected) throw new DeliveryError(RED._("power-monitor.errors.offline"));
      const topic = powerTopics.events(device.deviceId);
      let count = 0;
      try {
        for (const item of items) {
          await withTimeout(
            device.link.publish(topic, item.payload, { qos: 1, retain: false }),
            PUBLISH_TIMEOUT_MS,
            signal,
            this.clock,
          );
          count++;
        }
      } catch (err) {
        if (count === 0) throw err;
      }
      return { count, state: items[count - 1]!.payload };
    }

    private showState(): void {
      if (this.closed || !this.mains) return;
      const queued = this.outbox?.size ?? 0;
      const b = this.battery;
      const parts = [RED._(`power-monitor.status.${this.mains}`)];
      if (b) parts.push(b.minutesLeft === null ? `${Math.round(b.percent)} %` : RED._("power-monitor.status.left", { percent: Math.round(b.percent), minutes: b.minutesLeft }));
      if (queued > 0) parts.push(RED._("power-monitor.status.queued", { count: queued }));
      this.show(this.mains === "on" ? "ok" : "warn", parts.join(" · "));
    }

    /** The node's own status, combined with its device's link once it has one. */
    private show(kind: StatusKind, text: string): void {
      if (this.user) this.user.show(kind, text);
      else showStatus(this, kind, text);
    }
  };
}

export default function register(RED: NodeAPI): void {
  definePowerMonitor(RED).registerType(RED, "power-monitor");
}
