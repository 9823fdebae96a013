// The camera Pi's `clip-upload`: drains its device's spool (`<data dir>/spool/<device>/`, written by the clip
// recorder and the time-lapse) to the hub's device listener over HTTPS, as the device (its certificate, or its
// paired password), oldest first; an item leaves the spool only once the hub stored it. Any message kicks it (the
// recorder's "item spooled"); it also looks every few seconds. Output: one message per uploaded item.
import type { NodeAPI, NodeDef } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { Spool, spoolDir } from "../lib/camera/spool";
import { SpoolUploader } from "../lib/camera/uploader";
import { uploadTargetOf } from "../lib/camera/upload-target";
import { useDevice } from "../lib/node-red/device";
import { failMessage } from "../lib/node-red/fail";
import { servicesOf } from "../lib/services";

export interface ClipUploadDef extends NodeDef {
  device: string;
  pollSeconds: string | number;
  maxBackoffSeconds: string | number;
}

export interface ClipUploadSettings {
  pollMs: number;
  maxBackoffMs: number;
}

const blank = (v: unknown) => v === undefined || v === null || String(v).trim() === "";

export function normaliseClipUpload(config: Partial<ClipUploadDef>): ClipUploadSettings {
  const poll = blank(config.pollSeconds) ? 5 : Number(config.pollSeconds);
  if (!Number.isFinite(poll) || poll < 1 || poll > 3600) throw new Error(`look every ${String(config.pollSeconds)} s is not 1..3600`);
  const max = blank(config.maxBackoffSeconds) ? 60 : Number(config.maxBackoffSeconds);
  if (!Number.isFinite(max) || max < 1 || max > 3600) throw new Error(`longest wait ${String(config.maxBackoffSeconds)} s is not 1..3600`);
  return { pollMs: Math.round(poll * 1000), maxBackoffMs: Math.round(max * 1000) };
}

function defineClipUpload(RED: NodeAPI) {
  return class ClipUploadNode extends Node {
    constructor(config: ClipUploadDef) {
      super(RED);
      this.createNode(config);
      const services = servicesOf(RED);
      const user = useDevice(RED, this, config.device, "clip-upload");
      if (!user?.device) return;
      const s = user.settings(() => normaliseClipUpload(config));
      if (!s) return;
      const device = user.device.deviceId;
      let spool: Spool;
      try {
        spool = new Spool(spoolDir(services.dataDir, device));
      } catch (err) {
        user.show("error", (err as Error).message);
        this.error((err as Error).message);
        return;
      }
      let uploaded = 0;
      let lastFailure = "";
      const uploader = new SpoolUploader({
        spool,
        clock: services.clock,
        pollMs: s.pollMs,
        backoff: { initialMs: 1000, maxMs: s.maxBackoffMs },
        target: () => {
          try {
            return uploadTargetOf(services, device);
          } catch {
            return null;
          }
        },
        events: {
          uploaded: (item, duplicate) => {
            uploaded++;
            lastFailure = "";
            user.show("ok", RED._("clip-upload.status.uploaded", { count: uploaded, queued: spool.list().length }));
            this.send({ topic: item.id, payload: item, duplicate } as never);
          },
          failed: (item, err, retryInMs) => {
            user.show("warn", RED._("clip-upload.status.retrying", { seconds: Math.ceil(retryInMs / 1000) }));
            // one log line per distinct failure, not one per retry
            if (err.message !== lastFailure) this.warn(RED._("clip-upload.errors.failed", { item: item?.id ?? "-", error: err.message }));
            lastFailure = err.message;
          },
          refused: (item, status, reason) => {
            // kept in the spool (retried slowly), and said: a red status, node.error for Catch nodes, a dead letter
            failMessage(RED, this, new Error(RED._("clip-upload.errors.refused", { item: item.id, status, reason })), { topic: item.id, payload: item } as never);
            user.show("error", RED._("clip-upload.status.refused", { item: item.id }));
          },
          idle: (queued) => {
            if (queued === 0) user.show("ok", RED._("clip-upload.status.idle", { count: uploaded }));
          },
        },
      });
      uploader.start();
      this.on("input", (_msg, _send, done) => {
        uploader.kick();
        done();
      });
      this.on("close", (_removed: boolean, done: () => void) => {
        uploader.stop().then(done, done);
      });
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineClipUpload(RED).registerType(RED, "clip-upload");
}
