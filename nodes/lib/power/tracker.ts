// The hub's view of every power Pi, done without a cloud (detectordag §2.3 and §2.4):
// - connection: a device is connected when its status says online or when any live message from it arrives;
//   when it goes offline (status offline or its last will), ask it for its status and wait a confirmation delay
//   (5 s by default): anything from it meanwhile cancels, else it is disconnected. Flapping within the delay
//   produces nothing.
// - power: a change is applied only when it is newer than the last one applied and differs from it
//   (detectordag's `current <> previous`); its time is the power Pi's original one, also for events delivered late.
// Every real transition is recorded, published and handed on as a TransitionEvent. Time comes from the Clock.
import type { Clock } from "../clock";
import type { ConnectionState, ConnectionStatus, DeviceStatus, MainsState, PowerState, TransitionEvent } from "../contract";

export const DEFAULT_CONFIRM_MS = 5000;

/** What the tracker knew about a device before it started (the account store's record). */
export interface KnownDevice {
  id: string;
  power: MainsState | null;
  powerUpdated: number | null;
  connection: ConnectionStatus | null;
  connectionUpdated: number | null;
}

/** Where the tracker's decisions go: the store, the broker, the node's output. */
export interface TrackerSink {
  /** Asks the device to publish its state at once (powerTopics.request). */
  requestStatus(device: string): void;
  connectionChanged(state: ConnectionState): void;
  powerChanged(device: string, power: MainsState, at: number): void;
  /** A real transition between two known states (nothing for a device's first state). */
  transition(event: TransitionEvent): void;
  nameOf(device: string): string;
}

export interface TrackerOptions {
  clock: Clock;
  confirmMs?: number;
  /** Which devices to follow; all when not given. */
  follows?: (device: string) => boolean;
  sink: TrackerSink;
}

interface Tracked {
  connection: ConnectionStatus | null;
  connectionAt: number | null;
  power: MainsState | null;
  powerAt: number | null;
  /** The confirmation timer of a disconnect in question, and when the device went away. */
  pending: { timer: unknown; since: number } | null;
  /** The last transition handed on, so the same one is never sent twice. */
  last: string | null;
}

export class PowerTracker {
  private readonly devices = new Map<string, Tracked>();
  private readonly clock: Clock;
  private readonly confirmMs: number;
  private readonly follows: (device: string) => boolean;
  private readonly sink: TrackerSink;
  private closed = false;

  constructor(options: TrackerOptions) {
    this.clock = options.clock;
    this.confirmMs = options.confirmMs ?? DEFAULT_CONFIRM_MS;
    this.follows = options.follows ?? (() => true);
    this.sink = options.sink;
  }

  /** Starts from what the store knew. A device it believed connected must show a sign of life within the
   * confirmation delay (its retained status online, or an answer to the request), or it is disconnected. */
  start(known: KnownDevice[]): void {
    for (const d of known) {
      if (!this.follows(d.id)) continue;
      this.devices.set(d.id, {
        connection: d.connection,
        connectionAt: d.connectionUpdated,
        power: d.power,
        powerAt: d.powerUpdated,
        pending: null,
        last: null,
      });
      if (d.connection === "connected") this.question(d.id, this.clock.now());
    }
  }

  /** A `pifog/<device>/status` message (live or the broker's retained one). */
  status(device: string, status: DeviceStatus): void {
    if (!this.follows(device) || this.closed) return;
    if (status.state === "online") this.alive(device);
    else this.question(device, this.clock.now());
  }

  /**
   * A power state or event. A live one is also a sign of life; a retained one (replayed by the broker when
   * the hub subscribes) says nothing about the device being there now.
   */
  power(device: string, state: PowerState, retained: boolean): void {
    if (!this.follows(device) || this.closed) return;
    if (!retained) this.alive(device);
    const at = Date.parse(state.changedAt);
    if (!Number.isFinite(at)) return;
    const d = this.tracked(device);
    const first = d.power === null;
    // older than (or the same as) what was applied: a duplicate, or a late event the state already covers;
    // the same state again: nothing happened (a snapshot never moves the time, so late events still apply)
    if (!first && d.powerAt !== null && at <= d.powerAt) return;
    if (d.power === state.mains) return;
    d.power = state.mains;
    d.powerAt = at;
    this.sink.powerChanged(device, state.mains, at);
    if (first) return;
    this.emit(device, d, {
      transition: state.mains === "on" ? "On" : "Off",
      connection: retained ? (d.connection ?? "disconnected") : "connected",
      power: state.mains,
      at,
    });
  }

  /** Stops every confirmation timer; nothing is decided after this. */
  close(): void {
    this.closed = true;
    for (const d of this.devices.values()) {
      if (d.pending) this.clock.clearTimeout(d.pending.timer);
      d.pending = null;
    }
  }

  /** What the tracker believes now (for status texts and tests). */
  state(device: string): Readonly<Omit<Tracked, "pending" | "last">> & { pending: boolean } {
    const d = this.devices.get(device);
    return {
      connection: d?.connection ?? null,
      connectionAt: d?.connectionAt ?? null,
      power: d?.power ?? null,
      powerAt: d?.powerAt ?? null,
      pending: d?.pending != null,
    };
  }

  get deviceIds(): string[] {
    return [...this.devices.keys()];
  }

  private tracked(device: string): Tracked {
    let d = this.devices.get(device);
    if (!d) {
      d = { connection: null, connectionAt: null, power: null, powerAt: null, pending: null, last: null };
      this.devices.set(device, d);
    }
    return d;
  }

  /** A sign of life: cancels a disconnect in question, or is a (re)connection. */
  private alive(device: string): void {
    const d = this.tracked(device);
    if (d.pending) {
      this.clock.clearTimeout(d.pending.timer);
      d.pending = null;
    }
    if (d.connection === "connected") return;
    this.setConnection(device, d, "connected", this.clock.now());
  }

  /** The device may be gone: ask it, and decide after the confirmation delay. */
  private question(device: string, since: number): void {
    const d = this.tracked(device);
    if (d.pending || d.connection === "disconnected") return;
    const timer = this.clock.setTimeout(() => {
      if (d.pending?.timer !== timer || this.closed) return;
      d.pending = null;
      this.setConnection(device, d, "disconnected", since);
    }, this.confirmMs);
    d.pending = { timer, since };
    this.sink.requestStatus(device);
  }

  private setConnection(device: string, d: Tracked, status: ConnectionStatus, at: number): void {
    const known = d.connection !== null;
    d.connection = status;
    d.connectionAt = at;
    this.sink.connectionChanged({ device, status, updated: new Date(at).toISOString() });
    // a device's first state is not a transition: no e-mail for a device the hub has just met
    if (!known || d.power === null) return;
    this.emit(device, d, { transition: status === "connected" ? "Connected" : "Disconnected", connection: status, power: d.power, at });
  }

  private emit(device: string, d: Tracked, t: Omit<TransitionEvent, "device" | "name" | "at"> & { at: number }): void {
    const at = new Date(t.at).toISOString();
    const key = `${t.transition} ${at}`;
    if (d.last === key) return;
    d.last = key;
    this.sink.transition({ device, name: this.sink.nameOf(device), transition: t.transition, connection: t.connection, power: t.power, at });
  }
}
