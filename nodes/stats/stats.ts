// IoTitan's stats processor, done as a node: tumbling windows per topic (5 min by default), closed by a timer
// whether or not readings arrive; each window's mean on `<topic>/average` (IoTitan's plain number) and its
// full statistics on `pifog/<device>/stats/<topic>`. Never takes its own outputs. The running window is
// checkpointed to SQLite every few seconds and on stop, so a restart goes on with it (or publishes it, if it
// ended meanwhile).
import type { NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import type { Clock } from "../lib/clock";
import { PayloadError, isCleared, isTelemetryOutput, isTopicFilter, iotitanTopics, pythonFloat, topics, type WindowStats } from "../lib/contract";
import type { MessageMeta } from "../lib/mqtt/device-link";
import { topicMatches } from "../lib/mqtt/topic-filter";
import { failMessage } from "../lib/node-red/fail";
import { servicesOf } from "../lib/services";
import { showStatus, type StatusKind } from "../lib/node-red/status";
import { StatsCheckpoint } from "../lib/stats/checkpoint";
import { TumblingWindows, planRestore, windowStats, type Window } from "../lib/stats/window";
import { dataDatabase, type DatabaseHandle } from "../lib/store/sqlite";
import { expectedNumeric, hasWildcard, parseValuePath, readValue, valueError, type ValuePath } from "../lib/telemetry-value";
import { useDevice, type DeviceUser, type PifogDevice } from "../lib/node-red/device";

export interface StatsDef extends NodeDef {
  device: string;
  topics: string;
  path: string;
  window: string | number;
  windowUnit: string;
  checkpoint: string | number;
  compat: boolean;
}

export interface StatsSettings {
  filters: string[];
  path: ValuePath;
  windowMs: number;
  checkpointMs: number;
  compat: boolean;
}

const UNIT_MS: Record<string, number> = { s: 1000, min: 60_000, h: 3_600_000 };
export const DEFAULT_WINDOW_MIN = 5;
export const DEFAULT_CHECKPOINT_S = 5;

/** Normalises the editor's config once; throws with a message a user can act on. */
export function normaliseStats(config: Partial<StatsDef>): StatsSettings {
  const filters = String(config.topics ?? "")
    .split(/[\n,]/)
    .map((f) => f.trim())
    .filter((f) => f !== "");
  if (filters.length === 0) filters.push("#");
  for (const f of filters) if (!isTopicFilter(f)) throw new Error(`"${f}" is not an MQTT topic filter`);
  const unit = UNIT_MS[String(config.windowUnit || "min")];
  if (unit === undefined) throw new Error(`window unit "${config.windowUnit}" is not s, min or h`);
  const windowText = String(config.window ?? "").trim();
  const windowMs = (windowText === "" ? DEFAULT_WINDOW_MIN * 60_000 / unit : Number(windowText)) * unit;
  if (!Number.isFinite(windowMs) || windowMs < 1000 || windowMs > 86_400_000 || !Number.isInteger(windowMs)) {
    throw new Error(`window ${config.window} ${config.windowUnit ?? "min"} is not 1 s..24 h in whole ms`);
  }
  const cpText = String(config.checkpoint ?? "").trim();
  const checkpointS = cpText === "" ? DEFAULT_CHECKPOINT_S : Number(cpText);
  if (!Number.isFinite(checkpointS) || checkpointS < 1 || checkpointS > 300) throw new Error(`checkpoint ${config.checkpoint} s is not 1..300`);
  return {
    filters,
    path: parseValuePath(config.path),
    windowMs,
    checkpointMs: Math.round(checkpointS * 1000),
    compat: config.compat !== false,
  };
}

function defineStats(RED: NodeAPI) {
  return class Stats extends Node {
    private user: DeviceUser | null = null;

    private readonly clock: Clock;
    private windows: TumblingWindows | null = null;
    private checkpoint: StatsCheckpoint | null = null;
    private db: DatabaseHandle | null = null;
    private windowTimer: unknown = null;
    private checkpointTimer: unknown = null;
    private readonly unsubscribe: Array<() => void> = [];
    private closed = false;
    private fullWarned = false;
    private shown = "";

    constructor(config: StatsDef) {
      super(RED);
      this.createNode(config);
      this.clock = servicesOf(RED).clock;
      const user = useDevice(RED, this, config.device, "stats");
      if (!user) return;
      this.user = user;
      const device = user.device;
      if (!device) return;
      const s = user.settings(() => normaliseStats(config));
      if (!s) return;
      try {
        this.db = dataDatabase(servicesOf(RED).dataDir, "state", servicesOf(RED).stores);
        this.checkpoint = new StatsCheckpoint(this.db.db, this.id);
      } catch (err) {
        // without a checkpoint the statistics still work; only a restart loses the window in progress
        this.warn(RED._("stats.errors.checkpoint", { error: (err as Error).message }));
        this.db?.release();
        this.db = null;
      }
      const now = this.clock.now();
      const windows = new TumblingWindows(s.windowMs, now);
      this.windows = windows;
      this.restore(device, s, now);
      this.scheduleWindow(device, s);
      this.checkpointTimer = this.clock.setInterval(() => {
        this.saveCheckpoint();
        this.showWindow();
      }, s.checkpointMs);

      // a topic a filter names exactly is one sensor's: expected to be numeric even when `#` also takes it
      const exact = new Set(s.filters.filter((f) => !hasWildcard(f)));
      s.filters.forEach((filter, i) => {
        const earlier = s.filters.slice(0, i);
        this.unsubscribe.push(
          device.link.subscribe(filter, (topic: string, payload: Buffer, meta?: MessageMeta) => {
            // a stored (retained) message sent for a new subscription is an old reading, counted before
            if (meta?.retain) return;
            // overlapping filters of this node: take each message once
            if (earlier.some((f) => topicMatches(f, topic))) return;
            if (isTelemetryOutput(topic)) return;
            // a retained topic cleared while subscribed arrives as an empty message: no reading, not a broken one
            if (isCleared(payload)) return;
            this.take(device, s, topic, payload, exact.has(topic) ? topic : filter);
          }),
        );
      });

      this.on("input", (msg: NodeMessageInFlow, _send, done) => {
        try {
          const topic = msg.topic;
          if (typeof topic !== "string" || !isTopicFilter(topic) || topic.includes("+") || topic.includes("#")) {
            throw new PayloadError("msg.topic must be the reading's topic (no wildcards)");
          }
          if (isTelemetryOutput(topic)) {
            done();
            return;
          }
          this.take(device, s, topic, msg.payload, undefined, msg, done);
        } catch (err) {
          failMessage(RED, this, err as Error, msg, done);
        }
      });

      this.on("close", (done: () => void) => {
        this.closed = true;
        if (this.windowTimer !== null) this.clock.clearTimeout(this.windowTimer);
        if (this.checkpointTimer !== null) this.clock.clearInterval(this.checkpointTimer);
        for (const u of this.unsubscribe) u();
        this.saveCheckpoint();
        this.db?.release();
        this.db = null;
        this.checkpoint = null;
        done();
      });
      this.showWindow();
    }

    /** One message: its value into the window in progress, or why not. */
    private take(
      device: PifogDevice,
      s: StatsSettings,
      topic: string,
      payload: unknown,
      filter: string | undefined,
      msg?: NodeMessage,
      done?: (err?: Error) => void,
    ): void {
      const windows = this.windows;
      if (!windows) return done?.();
      const r = readValue(payload, s.path);
      if (!r.ok) {
        if (expectedNumeric(r, filter)) {
          this.shown = ""; // the red status stays until the next status line
          failMessage(RED, this, valueError(r), msg ?? { topic, payload }, done);
        } else {
          done?.();
        }
        return;
      }
      const now = this.clock.now();
      // the window's timer has not run yet (a busy event loop): close it first, as the timer would have
      if (windows.isPast(now)) this.closeWindow(device, s);
      if (windows.add(topic, r.value, now) === "full" && !this.fullWarned) {
        this.fullWarned = true;
        this.warn(RED._("stats.errors.full", { max: windows.maxTopics, topic }));
      }
      done?.();
    }

    private restore(device: PifogDevice, s: StatsSettings, now: number): void {
      if (!this.checkpoint || !this.windows) return;
      let plan;
      try {
        plan = planRestore(this.checkpoint.load(), now, s.windowMs);
      } catch (err) {
        this.warn(RED._("stats.errors.checkpoint", { error: (err as Error).message }));
        return;
      }
      this.windows.restore(plan.current);
      // a window that ended while we were down: publish it now (it stays stored until the broker has it)
      for (const w of plan.finished) this.publishWindow(device, s, w);
    }

    private scheduleWindow(device: PifogDevice, s: StatsSettings): void {
      if (this.windowTimer !== null) this.clock.clearTimeout(this.windowTimer);
      const windows = this.windows;
      if (!windows || this.closed) return;
      this.windowTimer = this.clock.setTimeout(() => {
        this.windowTimer = null;
        this.closeWindow(device, s);
      }, Math.max(0, windows.current.end - this.clock.now()));
    }

    private closeWindow(device: PifogDevice, s: StatsSettings): void {
      const windows = this.windows;
      if (!windows || this.closed) return;
      // the closing window completely on disk first: a crash while publishing publishes it again at start
      this.saveCheckpoint();
      const closed = windows.close(this.clock.now());
      this.fullWarned = false;
      this.publishWindow(device, s, closed);
      this.scheduleWindow(device, s);
      this.showWindow();
    }

    private publishWindow(device: PifogDevice, s: StatsSettings, w: Window): void {
      const id = device.deviceId;
      const out: NodeMessage[] = [];
      const published: Array<Promise<void>> = [];
      for (const [topic, a] of w.topics) {
        const stats: WindowStats = windowStats(id, topic, a, w.start, w.end);
        const statsTopic = topics.stats(id, topic);
        published.push(device.link.publish(statsTopic, stats, { qos: 1, retain: true }));
        if (s.compat) published.push(device.link.publish(iotitanTopics.average(topic), pythonFloat(stats.mean), { qos: 1, retain: false }));
        out.push({ topic: statsTopic, payload: stats });
      }
      if (out.length > 0) this.send([out]);
      Promise.all(published).then(
        () => {
          // once the broker has every message, the window is done; if we stopped first, it is published again at start
          if (this.closed || !this.checkpoint) return;
          try {
            this.checkpoint.remove(w.start, w.windowMs);
          } catch (err) {
            this.warn(RED._("stats.errors.checkpoint", { error: (err as Error).message }));
          }
        },
        (err: Error) => this.warn(RED._("stats.errors.publish", { error: err.message })),
      );
    }

    private saveCheckpoint(): void {
      const windows = this.windows;
      if (!windows || !this.checkpoint) return;
      const dirty = windows.takeDirty();
      try {
        this.checkpoint.save(windows.current.start, windows.windowMs, dirty);
      } catch (err) {
        this.warn(RED._("stats.errors.checkpoint", { error: (err as Error).message }));
      }
    }

    private showWindow(): void {
      const windows = this.windows;
      if (!windows) return;
      const end = new Date(windows.current.end).toISOString().slice(11, 19);
      const text = RED._("stats.status.window", { topics: windows.current.topics.size, readings: windows.readings, end });
      if (text === this.shown) return;
      this.shown = text;
      this.show(windows.current.topics.size > 0 ? "ok" : "busy", text);
    }

    /** The node's own status, combined with its device's link once it has one. */
    private show(kind: StatusKind, text: string): void {
      if (this.user) this.user.show(kind, text);
      else showStatus(this, kind, text);
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineStats(RED).registerType(RED, "stats");
}
