// The hub's live video (issue 13): serves GET /api/cameras/<device>/live to signed-in people (viewer or higher) as
// multipart JPEG frames, from ONE subscription per camera however many watch (nodes/lib/camera/live-relay.ts). The
// first viewer makes the hub ask the Pi for its stream (retained `pifog/<device>/camera/live/control`, renewed while
// someone watches); `grace` seconds after the last viewer leaves it says stop. On a browser's connect or tab change
// (a ui_control node's message) it answers that browser with the cameras one may watch, for the Cameras tab.
import type { NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { skycamTopics } from "../lib/contract";
import { enrolledCamera, enrolledCameras, livePath, liveRoutes } from "../lib/camera/live-http";
import { LIVE_DEFAULTS, LiveRelay } from "../lib/camera/live-relay";
import { parseLiveControl } from "../lib/camera/live-push";
import { answerTo, browserEvent, mayAct, senderOf } from "../lib/dashboard/dashboard-person";
import { useDevice } from "../lib/node-red/device";
import { servicesOf } from "../lib/services";

export interface LiveRelayDef extends NodeDef {
  device: string;
  maxViewers: string | number;
  grace: string | number;
}

export interface LiveRelaySettings {
  maxViewersPerCamera: number;
  graceMs: number;
}

const blank = (v: unknown) => v === undefined || v === null || String(v).trim() === "";

export function normaliseLiveRelay(config: Partial<LiveRelayDef>): LiveRelaySettings {
  const max = blank(config.maxViewers) ? LIVE_DEFAULTS.maxViewersPerCamera : Number(config.maxViewers);
  if (!Number.isInteger(max) || max < 1 || max > 50) throw new Error(`viewers per camera ${String(config.maxViewers)} is not 1..50`);
  const grace = blank(config.grace) ? LIVE_DEFAULTS.graceMs / 1000 : Number(config.grace);
  if (!Number.isFinite(grace) || grace < 0 || grace > 600) throw new Error(`grace ${String(config.grace)} s is not 0..600`);
  return { maxViewersPerCamera: max, graceMs: Math.round(grace * 1000) };
}

/** What the Cameras tab's Live group is told: the cameras this person may watch, and where. */
export interface LiveCamerasView {
  cameras: Array<{ id: string; url: string }>;
}

function defineLiveRelay(RED: NodeAPI) {
  return class LiveRelayNode extends Node {
    constructor(config: LiveRelayDef) {
      super(RED);
      this.createNode(config);
      const services = servicesOf(RED);
      const user = useDevice(RED, this, config.device, "live-relay");
      if (!user) return;
      const s = user.settings(() => normaliseLiveRelay(config));
      if (!s) return;
      const link = user.device.link;
      const showViewers = () => {
        const watched = relay.summary();
        const viewers = watched.reduce((n, c) => n + c.viewers, 0);
        if (watched.length === 0) user.show("off", RED._("live-relay.status.idle"));
        else user.show("ok", RED._("live-relay.status.live", { viewers, cameras: watched.length }));
      };
      const relay: LiveRelay = new LiveRelay(
        {
          frames: (device, onFrame) => link.subscribe(skycamTopics.liveFrame(device), (_topic, payload) => onFrame(payload), 0),
          control: (device, control) => link.publish(skycamTopics.liveControl(device), control, { qos: 1, retain: true }),
        },
        {
          clock: services.clock,
          ...s,
          onProblem: (device, problem) => this.warn(RED._("live-relay.errors.problem", { device, problem })),
          onChange: showViewers,
        },
      );
      services.liveRelays.set(this.id, relay);
      showViewers();
      // the cameras' retained controls, as a new subscription gets them (retained): what a crashed hub left asking
      const stopStale = link.subscribe(skycamTopics.liveControl("+"), (topic, payload, meta) => {
        if (!meta.retain) return;
        const device = topic.split("/")[1];
        let control;
        try {
          control = parseLiveControl(payload);
        } catch {
          return; // not a control a camera would follow either
        }
        if (device && relay.stale(device, control)) this.log(RED._("live-relay.log.stale", { device }));
      });

      this.on("input", (msg: NodeMessageInFlow, send, done) => {
        const event = browserEvent(msg as { topic?: unknown; payload?: unknown });
        if (event !== "connect" && event !== "change") return done();
        const sender = senderOf(servicesOf(RED).dashboardSockets, msg as { socketid?: unknown });
        const cameras = mayAct(sender, "viewer") ? enrolledCameras(servicesOf(RED).identities) : [];
        const view: LiveCamerasView = { cameras: cameras.map((id) => ({ id, url: livePath(id) })) };
        send(answerTo(msg as { socketid?: unknown }, "cameras", view));
        done();
      });

      this.on("close", (done: () => void) => {
        stopStale();
        services.liveRelays.delete(this.id);
        relay.close().then(done, done);
      });
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineLiveRelay(RED).registerType(RED, "live-relay");
  liveRoutes(RED.httpNode, {
    auth: { tokens: () => servicesOf(RED).apiTokens, audit: servicesOf(RED).audit, sessions: () => servicesOf(RED).webSessions },
    relay: () => servicesOf(RED).liveRelays.values().next().value ?? null,
    isCamera: (id) => enrolledCamera(servicesOf(RED).identities, id),
  });
}
