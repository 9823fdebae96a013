// StatusPi: shows a DoorPi's doors on the LED matrix with PiFog's glyphs (green plus, yellow diamond,
// red cross) and a cyan "?" at start and whenever the DoorPi is offline or its doors are unknown. A retained
// topic cleared (an empty payload) is "no state": the matrix shows "?" until the DoorPi says again.
import type { NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import type { Clock } from "../lib/clock";
import {
  PayloadError,
  compatTopics,
  isCleared,
  isTopicLevel,
  parseCompatConnection,
  parseCompatDoorEvent,
  parseDeviceStatus,
  parseDoorsState,
  topics,
  type DoorState,
  type Occupancy,
  type OccupancyState,
  type PiName,
} from "../lib/contract";
import type { LedMatrix } from "../lib/drivers/types";
import { frameFor, glyphs, occupancyOf } from "../lib/matrix-glyphs";
import { failMessage } from "../lib/node-red/fail";
import { servicesOf } from "../lib/services";
import { showStatus, type StatusKind } from "../lib/node-red/status";
import { useDevice, type DeviceUser, type PifogDevice } from "../lib/node-red/device";
import { occupancyEntity } from "../lib/homeassistant/discovery";

export interface StatusMatrixDef extends NodeDef {
  device: string;
  source: string;
  compat: boolean;
}

/** What the matrix knows of the watched DoorPi. */
export class OccupancyTracker {
  /** undefined: not heard yet (the doors alone may show); null: its status was cleared, so it is unknown. */
  online: boolean | null | undefined = undefined;
  doors: DoorState[] | undefined = undefined;

  get occupancy(): Occupancy {
    if (this.online === false || this.online === null || this.doors === undefined) return "unknown";
    return occupancyOf(this.doors);
  }
}

/** Door states from a message a flow sends in: ["open","closed"], {door1:"open",…} or a doors/compat payload. */
export function doorsFromInput(payload: unknown): DoorState[] {
  const asState = (v: unknown, key: string): DoorState => {
    if (v === "open" || v === "closed") return v;
    throw new PayloadError(`${key} must be "open" or "closed", not ${JSON.stringify(v)?.slice(0, 40)}`);
  };
  if (Array.isArray(payload)) return payload.map((v, i) => asState(v, `door ${i + 1}`));
  if (typeof payload === "object" && payload !== null) {
    const p = payload as Record<string, unknown>;
    if (typeof p.doors === "object" && p.doors !== null) return parseDoorsStateValues(p.doors as Record<string, unknown>);
    if (typeof p.state === "object" && p.state !== null) return parseCompatDoorEvent(JSON.stringify(p));
    const entries = Object.entries(p);
    if (entries.length > 0) return entries.map(([k, v]) => asState(v, k));
  }
  throw new PayloadError("msg.payload must list door states (open|closed)");
}

function parseDoorsStateValues(doors: Record<string, unknown>): DoorState[] {
  return Object.values(parseDoorsState(JSON.stringify({ doors })).doors).map((r) => r.state);
}

function defineStatusMatrix(RED: NodeAPI) {
  return class StatusMatrix extends Node {
    private user: DeviceUser | null = null;

    private readonly tracker = new OccupancyTracker();
    private matrix: LedMatrix | null = null;
    private shown: Occupancy | null = null;
    private readonly clock: Clock;
    private readonly unsubscribe: Array<() => void> = [];

    constructor(config: StatusMatrixDef) {
      super(RED);
      this.createNode(config);
      this.clock = servicesOf(RED).clock;
      const user = useDevice(RED, this, config.device, "status-matrix");
      if (!user) return;
      this.user = user;
      const device = user.device;
      if (!device) return;
      const source = (config.source || "doorpi").trim();
      if (!isTopicLevel(source)) {
        this.showOwn("error", RED._("status-matrix.errors.bad-source", { source }));
        this.error(RED._("status-matrix.errors.bad-source", { source }));
        return;
      }
      try {
        this.matrix = user.drivers.ledMatrix("matrix");
      } catch (err) {
        this.showOwn("off", RED._("status-matrix.status.unavailable"));
        this.warn(RED._("status-matrix.errors.unavailable", { error: (err as Error).message }));
      }
      user.announce([occupancyEntity(device.deviceId)]);
      this.show(device, source, true);

      const link = device.link;
      const guarded = (fn: (payload: Buffer) => void) => (topic: string, payload: Buffer) => {
        try {
          fn(payload);
        } catch (err) {
          failMessage(RED, this, err as Error, { topic, payload: payload.toString("utf8") });
        }
      };
      this.unsubscribe.push(
        link.subscribe(topics.doors(source), guarded((p) => {
          this.tracker.doors = isCleared(p) ? undefined : Object.values(parseDoorsState(p).doors).map((r) => r.state);
          this.show(device, source);
        })),
        link.subscribe(topics.status(source), guarded((p) => {
          this.tracker.online = isCleared(p) ? null : parseDeviceStatus(p).state === "online";
          this.show(device, source);
        })),
      );
      if (config.compat !== false) {
        const pi: PiName = "DoorPi";
        this.unsubscribe.push(
          link.subscribe(compatTopics.event(pi), guarded((p) => {
            const text = p.toString("utf8");
            if (text.includes('"pong"')) return; // DoorPi's answers to pings share its Event topic
            this.tracker.doors = isCleared(p) ? undefined : parseCompatDoorEvent(p);
            this.show(device, source);
          })),
          link.subscribe(compatTopics.connection(pi), guarded((p) => {
            this.tracker.online = isCleared(p) ? null : parseCompatConnection(p);
            this.show(device, source);
          })),
        );
      }

      this.on("input", (msg: NodeMessageInFlow, _send, done) => {
        try {
          this.tracker.doors = doorsFromInput(msg.payload);
          this.show(device, source, true);
          done();
        } catch (err) {
          failMessage(RED, this, err as Error, msg, done);
        }
      });
      this.on("close", (done: () => void) => {
        for (const u of this.unsubscribe) u();
        // PiFog blanked the matrix on stop
        try {
          this.matrix?.show(glyphs.blank());
        } catch {
          // the matrix may already be gone
        }
        const matrix = this.matrix;
        this.matrix = null;
        (matrix ? matrix.close() : Promise.resolve()).then(done, done);
      });
    }

    private show(device: PifogDevice, source: string, force = false): void {
      const occupancy = this.tracker.occupancy;
      if (occupancy === this.shown && !force) return;
      this.shown = occupancy;
      const frame = frameFor(occupancy);
      this.matrix?.show(frame);
      const doors = this.tracker.doors ?? [];
      const state: OccupancyState = {
        device: device.deviceId,
        source,
        occupancy,
        open: doors.filter((d) => d === "open").length,
        total: doors.length,
        timestamp: new Date(this.clock.now()).toISOString(),
      };
      device.link.publish(topics.occupancy(device.deviceId), state, { qos: 1, retain: true }).catch(() => undefined);
      this.showOwn(occupancy === "unknown" ? "off" : occupancy === "stop" ? "warn" : "ok", RED._(`status-matrix.occupancy.${occupancy}`));
      this.send({ topic: topics.occupancy(device.deviceId), payload: state, frame });
    }

    /** The node's own status, combined with its device's link once it has one. */
    private showOwn(kind: StatusKind, text: string): void {
      if (this.user) this.user.show(kind, text);
      else showStatus(this, kind, text);
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineStatusMatrix(RED).registerType(RED, "status-matrix");
}
