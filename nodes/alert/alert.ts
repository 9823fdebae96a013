// IoTitan's alerts processor, done properly: rules edited in the node (topic filter, value path, above/below a
// threshold, hysteresis, "for", repeat until acknowledged, cooldown). Raises and clears publish native JSON
// events and a retained list of active alerts, and (IoTitan's wire) the value on `<topic>/alert`.
// Acknowledged over MQTT or from a flow. Every raise, clear and acknowledgement is on disk before it is announced.
import { createHash } from "node:crypto";
import type { NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { AlertEngine } from "../lib/alerts/engine";
import { normaliseRules, type AlertRule, type AlertRuleConfig } from "../lib/alerts/rules";
import { AlertStore } from "../lib/alerts/store";
import type { Clock } from "../lib/clock";
import {
  PayloadError,
  iotitanTopics,
  isAlertOutput,
  isCleared,
  isTopicFilter,
  parseAlertAck,
  pythonFloat,
  topics,
  type ActiveAlerts,
  type AlertEvent,
  type Topic,
} from "../lib/contract";
import type { MessageMeta } from "../lib/mqtt/device-link";
import { topicMatches } from "../lib/mqtt/topic-filter";
import { failMessage } from "../lib/node-red/fail";
import { servicesOf, type PifogServices } from "../lib/services";
import { showStatus, type StatusKind } from "../lib/node-red/status";
import { dataDatabase, type DatabaseHandle } from "../lib/store/sqlite";
import { expectedNumeric, readValue, valueError, type ValueResult } from "../lib/telemetry-value";
import { useDevice, type DeviceUser, type PifogDevice } from "../lib/node-red/device";
import { alertEntities } from "../lib/homeassistant/discovery";

export interface AlertDef extends NodeDef {
  device: string;
  rules: AlertRuleConfig[] | string;
  compat: boolean;
}

/** Pending and in-progress state that is not a raise, clear or ack is saved this often (and on stop). */
export const CHECKPOINT_MS = 2000;

function defineAlert(RED: NodeAPI) {
  return class Alert extends Node {
    private user: DeviceUser | null = null;

    private readonly clock: Clock;
    private readonly services: PifogServices;
    private engine: AlertEngine | null = null;
    private store: AlertStore | null = null;
    private db: DatabaseHandle | null = null;
    private tickTimer: unknown = null;
    private tickAt: number | null = null;
    private checkpointTimer: unknown = null;
    private readonly unsubscribe: Array<() => void> = [];
    private device: PifogDevice | null = null;
    private compat = true;
    private closed = false;
    private fullWarned = false;
    private shown = "";

    constructor(config: AlertDef) {
      super(RED);
      this.createNode(config);
      this.services = servicesOf(RED);
      this.clock = this.services.clock;
      const user = useDevice(RED, this, config.device, "alert");
      if (!user) return;
      this.user = user;
      const device = user.device;
      if (!device) return;
      let rules: AlertRule[];
      try {
        rules = normaliseRules(config.rules);
      } catch (err) {
        this.show("error", (err as Error).message);
        this.error((err as Error).message);
        return;
      }
      this.device = device;
      this.compat = config.compat !== false;
      user.announce(alertEntities(device.deviceId, rules));
      const nodeId = this.id;
      const engine = new AlertEngine({
        device: device.deviceId,
        rules,
        newId: (rule, topic, at) => createHash("sha1").update(`${nodeId}\u0000${rule}\u0000${topic}\u0000${at}`).digest("hex").slice(0, 12),
      });
      this.engine = engine;
      try {
        this.db = dataDatabase(this.services.dataDir, "state", this.services.stores);
        this.store = new AlertStore(this.db.db, this.id);
        const { tracks, damaged } = this.store.load();
        if (damaged > 0) this.warn(RED._("alert.errors.damaged", { count: damaged }));
        const events = engine.restore(tracks, this.clock.now());
        this.announce(events);
      } catch (err) {
        this.warn(RED._("alert.errors.store", { error: (err as Error).message }));
      }
      this.publishActive();
      this.scheduleTick();
      this.checkpointTimer = this.clock.setInterval(() => {
        this.save();
        this.showState();
      }, CHECKPOINT_MS);

      const filters = [...new Set(rules.map((r) => r.topic))];
      filters.forEach((filter, i) => {
        const earlier = filters.slice(0, i);
        this.unsubscribe.push(
          device.link.subscribe(filter, (topic: string, payload: Buffer, _meta?: MessageMeta) => {
            // retained values count: they are the current value of their topic
            if (earlier.some((f) => topicMatches(f, topic))) return;
            if (isCleared(payload)) return; // a cleared retained topic: no reading, not a broken one
            if (isAlertOutput(topic)) return; // never alert on an alert (IoTitan's `/#` would have looped)
            this.evaluate(topic, payload, true);
          }),
        );
      });
      this.unsubscribe.push(
        device.link.subscribe(topics.alertAck(device.deviceId), (topic: string, payload: Buffer) => {
          try {
            const ack = parseAlertAck(payload);
            this.acknowledge(ack.id, ack.by ?? "mqtt");
          } catch (err) {
            failMessage(RED, this, err as Error, { topic, payload });
          }
        }),
      );

      this.on("input", (msg: NodeMessageInFlow, _send, done) => {
        try {
          const p = msg.payload as { ack?: unknown; by?: unknown } | null;
          if (p !== null && typeof p === "object" && !Buffer.isBuffer(p) && "ack" in p) {
            if (typeof p.ack !== "string" || p.ack === "") throw new PayloadError("msg.payload.ack must be an alert id");
            const outcome = this.acknowledge(p.ack, typeof p.by === "string" ? p.by : "flow");
            if (outcome === "unknown") throw new PayloadError(`no active alert "${p.ack}"`);
            done();
            return;
          }
          const topic = msg.topic;
          if (typeof topic !== "string" || !isTopicFilter(topic) || topic.includes("+") || topic.includes("#")) {
            throw new PayloadError("msg.topic must be the reading's topic (no wildcards), or msg.payload {ack: id}");
          }
          if (isAlertOutput(topic)) {
            done();
            return;
          }
          this.evaluate(topic, msg.payload, false, msg, done);
        } catch (err) {
          failMessage(RED, this, err as Error, msg, done);
        }
      });

      this.on("close", (removed: boolean, done: () => void) => {
        this.closed = true;
        if (this.tickTimer !== null) this.clock.clearTimeout(this.tickTimer);
        if (this.checkpointTimer !== null) this.clock.clearInterval(this.checkpointTimer);
        for (const u of this.unsubscribe) u();
        this.save();
        // its alerts leave the device's list until it starts again (they are in its checkpoint); a node deleted
        // or disabled takes them off the retained list too (a restart would only make the list flicker)
        this.services.alerts.drop(device.deviceId, this.id);
        if (removed) {
          const list: ActiveAlerts = { device: device.deviceId, alerts: this.services.alerts.of(device.deviceId), timestamp: new Date(this.clock.now()).toISOString() };
          this.publish(topics.alertsActive(device.deviceId), list, true);
        }
        this.db?.release();
        this.db = null;
        this.store = null;
        done();
      });
      this.showState();
    }

    /** A reading for every rule that takes its topic. */
    private evaluate(topic: string, payload: unknown, fromMqtt: boolean, msg?: NodeMessage, done?: (err?: Error) => void): void {
      const engine = this.engine;
      if (!engine || this.closed) return done?.();
      const rules = engine.rulesFor(topic);
      const byPath = new Map<string, ValueResult>();
      const events: AlertEvent[] = [];
      let failed: Extract<ValueResult, { ok: false }> | null = null;
      const now = this.clock.now();
      for (const rule of rules) {
        let r = byPath.get(rule.path);
        if (!r) {
          r = readValue(payload, rule.valuePath);
          byPath.set(rule.path, r);
        }
        if (!r.ok) {
          if (expectedNumeric(r, fromMqtt ? rule.topic : undefined)) failed ??= r;
          continue;
        }
        events.push(...engine.reading(rule, topic, r.value, now));
      }
      if (engine.full && !this.fullWarned) {
        this.fullWarned = true;
        this.warn(RED._("alert.errors.full", { topic }));
      }
      if (events.length > 0) {
        this.announce(events, topic, rawNumber(payload));
      } else {
        const due = engine.nextDue();
        if (due !== null && (this.tickAt === null || due < this.tickAt)) this.scheduleTick();
      }
      if (failed) {
        this.shown = ""; // the red status stays until the next status line
        failMessage(RED, this, valueError(failed), msg ?? { topic, payload }, done);
      } else {
        done?.();
      }
    }

    /** "acknowledged", "already" or "unknown". */
    private acknowledge(id: string, by: string): "acknowledged" | "already" | "unknown" {
      const engine = this.engine;
      if (!engine || this.closed) return "unknown";
      const result = engine.acknowledge(id, this.clock.now(), by.slice(0, 128));
      if (result.outcome === "acknowledged") this.announce([result.event]);
      // an id this node does not know may be another alert node's, or one already cleared: nothing to do
      return result.outcome;
    }

    /** Saves, then tells the world: native event, IoTitan's `<topic>/alert`, the active list, the output. */
    private announce(events: AlertEvent[], topic?: string, raw?: string): void {
      const device = this.device;
      if (!device || events.length === 0) return;
      this.save();
      const id = device.deviceId;
      const out: NodeMessage[] = [];
      for (const e of events) {
        this.publish(topics.alertEvents(id), e, false);
        if (this.compat && (e.kind === "raised" || e.kind === "repeated")) {
          // IoTitan republished the payload as it came; a value from JSON goes as a plain number
          const plain = raw !== undefined && e.topic === topic && e.lastValue === Number(raw) ? raw : pythonFloat(e.lastValue);
          this.publish(iotitanTopics.alert(e.topic), plain, false);
        }
        out.push({ topic: topics.alertEvents(id), payload: e });
      }
      this.publishActive();
      this.send([out]);
      this.scheduleTick();
      this.showState();
    }

    private publishActive(): void {
      const device = this.device;
      const engine = this.engine;
      if (!device || !engine) return;
      const list: ActiveAlerts = {
        device: device.deviceId,
        alerts: this.services.alerts.set(device.deviceId, this.id, engine.active()),
        timestamp: new Date(this.clock.now()).toISOString(),
      };
      this.publish(topics.alertsActive(device.deviceId), list, true);
    }

    private publish<P>(topic: Topic<P>, payload: P, retain: boolean): void {
      this.device?.link.publish(topic, payload, { qos: 1, retain }).catch((err: Error) => {
        this.warn(RED._("alert.errors.publish", { topic, error: err.message }));
      });
    }

    private save(): void {
      const engine = this.engine;
      if (!engine || !this.store || !engine.hasChanges) return;
      try {
        this.store.save(engine.takeChanges());
      } catch (err) {
        this.warn(RED._("alert.errors.store", { error: (err as Error).message }));
      }
    }

    private scheduleTick(): void {
      if (this.tickTimer !== null) this.clock.clearTimeout(this.tickTimer);
      this.tickTimer = null;
      this.tickAt = null;
      const engine = this.engine;
      if (!engine || this.closed) return;
      const due = engine.nextDue();
      if (due === null) return;
      this.tickAt = due;
      this.tickTimer = this.clock.setTimeout(() => {
        this.tickTimer = null;
        this.tickAt = null;
        const events = engine.tick(this.clock.now());
        if (events.length > 0) this.announce(events);
        else this.scheduleTick();
        this.showState();
      }, Math.max(0, due - this.clock.now()));
    }

    private showState(): void {
      const engine = this.engine;
      if (!engine) return;
      const active = engine.active();
      const unacked = active.filter((a) => !a.acknowledged).length;
      const [kind, text] =
        active.length === 0
          ? (["ok", RED._(engine.pending > 0 ? "alert.status.pending" : "alert.status.none", { pending: engine.pending })] as const)
          : ([unacked > 0 ? "error" : "warn", RED._("alert.status.active", { active: active.length, unacked })] as const);
      if (`${kind}${text}` === this.shown) return;
      this.shown = `${kind}${text}`;
      this.show(kind, text);
    }

    /** The node's own status, combined with its device's link once it has one. */
    private show(kind: StatusKind, text: string): void {
      if (this.user) this.user.show(kind, text);
      else showStatus(this, kind, text);
    }
  };
}

/** The payload's text when it is a plain number, to republish it as it came (IoTitan did). */
function rawNumber(payload: unknown): string | undefined {
  const r = readValue(payload);
  if (!r.ok || !r.plain) return undefined;
  const text = (Buffer.isBuffer(payload) ? payload.toString("utf8") : String(payload)).trim();
  return text.length <= 64 ? text : undefined;
}

export default function register(RED: NodeAPI): void {
  defineAlert(RED).registerType(RED, "alert");
}
