// The hub's `health-monitor` node (issue 13): follows every device's health reports (`pifog/+/health`) and judges
// them on the runtime's clock: a device with no report for twice its interval plus a grace is unhealthy, and healthy
// again when its reports return. Each judgement is published retained on `pifog/<device>/health/state`, and each
// change leaves on the output as Pi In The Sky's notification, "<name> is now UNHEALTHY" / "... HEALTHY", ready for
// the email and slack-notify nodes. After a restart it takes up its earlier judgements (retained) and waits a settle
// time for the retained reports before judging, so a restart raises no alarm. The Devices tab reads what it knows
// through the runtime's health board.
import type { NodeAPI, NodeDef, NodeMessage } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import type { Clock } from "../lib/clock";
import { healthTopics, isTopicLevel } from "../lib/contract";
import { HealthJudge, isHealthState, type HealthChange } from "../lib/health/judge";
import { isHealthReport } from "../lib/health/report";
import { useDevice, type DeviceUser, type PifogDevice } from "../lib/node-red/device";
import { payloadText } from "../lib/dead-letter";
import { servicesOf } from "../lib/services";

export interface HealthMonitorDef extends NodeDef {
  device: string;
  /** Seconds allowed beyond two missed reports. */
  grace: string | number;
  /** Seconds after start before the first judgement (the retained reports arrive meanwhile). */
  settle: string | number;
  /** E-mail addresses for the notifications (msg.to), comma separated; blank: none set. */
  to: string;
}

export interface HealthMonitorSettings {
  graceMs: number;
  settleMs: number;
  to: string[];
}

const blank = (v: unknown) => v === undefined || v === null || String(v).trim() === "";
const EMAIL = /^[^\s@,<>]+@[^\s@,<>]+$/;

export function normaliseHealthMonitor(config: Partial<HealthMonitorDef>): HealthMonitorSettings {
  const grace = blank(config.grace) ? 30 : Number(config.grace);
  if (!Number.isFinite(grace) || grace < 0 || grace > 3600) throw new Error(`grace ${config.grace} s is not within 0..3600`);
  const settle = blank(config.settle) ? 5 : Number(config.settle);
  if (!Number.isFinite(settle) || settle < 0 || settle > 600) throw new Error(`settle ${config.settle} s is not within 0..600`);
  const to = (config.to ?? "").split(",").map((a) => a.trim()).filter((a) => a !== "" && !/^\$\{[^}]*\}$/.test(a));
  const bad = to.filter((a) => !EMAIL.test(a));
  if (bad.length) throw new Error(`not an e-mail address: ${bad.join(", ")}`);
  return { graceMs: Math.round(grace * 1000), settleMs: Math.round(settle * 1000), to };
}

/** `pifog/<device>/health` or `.../health/state` → the device, when it is one plain level. */
function deviceOf(topic: string): string | null {
  const d = topic.split("/")[1] ?? "";
  return isTopicLevel(d) ? d : null;
}

/** The notification: the text for Slack (payload), and a plain mail for the email node. */
export function notification(change: HealthChange, to: string[]): NodeMessage {
  return {
    topic: healthTopics.state(change.device),
    payload: change.text,
    subject: change.text,
    text: `${change.text} (since ${new Date(change.state.since).toISOString()}; last report ${
      change.state.lastReportAt === null ? "never" : new Date(change.state.lastReportAt).toISOString()
    }).`,
    ...(to.length ? { to: to.join(", ") } : {}),
    health: change.state,
  } as NodeMessage;
}

function defineHealthMonitor(RED: NodeAPI) {
  return class HealthMonitor extends Node {
    private user: DeviceUser | null = null;
    private readonly timers: unknown[] = [];
    private closed = false;
    private ready = false;
    private readonly clock: Clock;

    constructor(config: HealthMonitorDef) {
      super(RED);
      this.createNode(config);
      const services = servicesOf(RED);
      this.clock = services.clock;
      const user = useDevice(RED, this, config.device, "health-monitor");
      if (!user) return;
      this.user = user;
      const s = user.settings(() => normaliseHealthMonitor(config));
      if (!s) return;
      const device = user.device;
      const judge = new HealthJudge({ graceMs: s.graceMs, now: () => this.clock.now() });
      const withdraw = services.health.offer(this.id, () => judge.view());

      const refuse = (topic: string, payload: Buffer, why: string) => {
        services.deadLetters.append({ node: this.id, type: "health-monitor", error: why, topic, payload: payloadText(payload) });
        user.show("warn", RED._("health-monitor.status.bad", { topic }));
      };
      const unsubscribe = [
        device.link.subscribe(healthTopics.anyReport(), (topic, payload, meta) => {
          const d = deviceOf(topic);
          let report: unknown;
          try {
            report = JSON.parse(payload.toString("utf8"));
          } catch {
            report = null;
          }
          if (!d || !isHealthReport(report, d)) return refuse(topic, payload, RED._("health-monitor.errors.report", { topic }));
          judge.report(report, meta.retain);
          if (this.ready) this.judgeNow(device, judge, s.to);
        }),
        device.link.subscribe(healthTopics.anyState(), (topic, payload, meta) => {
          // only the retained judgements of before this start count; the live ones are this node's own, echoed
          if (!meta.retain) return;
          const d = deviceOf(topic);
          let state: unknown;
          try {
            state = JSON.parse(payload.toString("utf8"));
          } catch {
            state = null;
          }
          if (!d || !isHealthState(state, d)) return refuse(topic, payload, RED._("health-monitor.errors.state", { topic }));
          judge.earlier(state);
        }),
      ];
      user.show("busy", RED._("health-monitor.status.settling"));
      this.timers.push(
        this.clock.setTimeout(() => {
          this.ready = true;
          this.judgeNow(device, judge, s.to);
          this.timers.push(this.clock.setInterval(() => this.judgeNow(device, judge, s.to), 1000));
        }, s.settleMs),
      );

      this.on("close", (done: () => void) => {
        this.closed = true;
        for (const t of this.timers) this.clock.clearTimeout(t);
        for (const u of unsubscribe) u();
        withdraw();
        done();
      });
    }

    private judgeNow(device: PifogDevice, judge: HealthJudge, to: string[]): void {
      if (this.closed) return;
      for (const change of judge.judge()) {
        device.link.publish(healthTopics.state(change.device), change.state, { qos: 1, retain: true }).catch((err: Error) => {
          if (!this.closed) this.warn(RED._("health-monitor.errors.publish", { device: change.device, error: err.message }));
        });
        if (change.notify) {
          this.log(change.text);
          this.send(notification(change, to));
        }
      }
      const all = judge.view();
      const bad = all.filter((d) => d.state === "unhealthy").map((d) => d.device);
      if (bad.length) this.user?.show("warn", RED._("health-monitor.status.unhealthy", { devices: bad.join(", ") }));
      else this.user?.show("ok", RED._("health-monitor.status.healthy", { count: all.length }));
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineHealthMonitor(RED).registerType(RED, "health-monitor");
}
