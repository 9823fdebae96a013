// The hub's `clip-store`: keeps what the camera Pis upload to the device listener (clips and time-lapse stills) in a
// folder of the data dir, or in S3 when an `s3-bucket` is set, recorded in `<data dir>/clips.db`; serves them to
// signed-in people (GET /api/clips…, nodes/lib/camera/clip-api.ts); applies the retention (age, total size). For
// each newly stored item it sends a message (the record, a link to it, the thumbnail) and publishes the record on
// `pifog/<hub>/clips/stored`.
import path from "node:path";
import type { NodeAPI, NodeDef, NodeMessage } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { clipLinks, clipRoutes } from "../lib/camera/clip-api";
import { LocalClipFiles, S3ClipFiles, type ClipFiles } from "../lib/camera/clip-files";
import { ClipStore, type Retention } from "../lib/camera/clip-store";
import type { ClipRecord } from "../lib/camera/types";
import { skycamTopics } from "../lib/contract";
import { useDevice } from "../lib/node-red/device";
import { failMessage } from "../lib/node-red/fail";
import type { S3Target } from "../lib/s3/client";
import { servicesOf, type PifogServices } from "../lib/services";

export interface ClipStoreDef extends NodeDef {
  device: string;
  bucket?: string;
  maxAgeDays: string | number;
  maxSizeMB: string | number;
  linkBase?: string;
}

export interface ClipStoreSettings {
  retention: Retention;
  /** Where links point (PIFOG_PUBLIC_URL, or this runtime's own address). */
  linkBase: string | null;
}

export const DEFAULT_MAX_AGE_DAYS = 30;
export const DEFAULT_MAX_SIZE_MB = 10_240;
/** How often the retention runs besides after each stored item. */
export const PRUNE_EVERY_MS = 60 * 60_000;

const blank = (v: unknown) => v === undefined || v === null || String(v).trim() === "";

export function normaliseClipStore(config: Partial<ClipStoreDef>, services: Pick<PifogServices, "config">): ClipStoreSettings {
  const days = blank(config.maxAgeDays) ? DEFAULT_MAX_AGE_DAYS : Number(config.maxAgeDays);
  if (!Number.isFinite(days) || days < 0 || days > 36_500) throw new Error(`keep for ${String(config.maxAgeDays)} days is not 0..36500 (0: no age limit)`);
  const mb = blank(config.maxSizeMB) ? DEFAULT_MAX_SIZE_MB : Number(config.maxSizeMB);
  if (!Number.isFinite(mb) || mb < 0 || mb > 100_000_000) throw new Error(`at most ${String(config.maxSizeMB)} MB is not 0..100000000 (0: no size limit)`);
  const given = blank(config.linkBase) ? null : String(config.linkBase).trim().replace(/\/+$/, "");
  if (given !== null && !/^https?:\/\/[^\s]+$/.test(given)) throw new Error(`link base "${given}" is not an http(s) address`);
  // the flows' environment names this runtime's own address (nodes/lib/runtime/flow-env.ts)
  const linkBase = given ?? services.config.publicUrl ?? (process.env.PIFOG_HTTP_URL || null);
  return { retention: { maxAgeMs: Math.round(days * 86_400_000), maxBytes: Math.round(mb * 1024 * 1024) }, linkBase };
}

/** The message a stored item sends: the record, a link to view it, and the thumbnail's bytes. */
export function storedMessage(record: ClipRecord, thumbnail: Buffer, linkBase: string | null, hub: string): NodeMessage {
  const play = clipLinks(record).play;
  return {
    topic: skycamTopics.stored(hub),
    payload: record,
    link: linkBase ? `${linkBase}${play}` : play,
    thumbnail,
    camera: record.device,
  } as NodeMessage;
}

function defineClipStore(RED: NodeAPI) {
  return class ClipStoreNode extends Node {
    constructor(config: ClipStoreDef) {
      super(RED);
      this.createNode(config);
      const services = servicesOf(RED);
      const user = useDevice(RED, this, config.device, "clip-store");
      if (!user) return;
      const s = user.settings(() => normaliseClipStore(config, services));
      if (!s) return;
      let files: ClipFiles;
      if (!blank(config.bucket)) {
        const target = RED.nodes.getNode(config.bucket!) as unknown as (S3Target & { problem?: string | null }) | null;
        if (!target || !target.s3 || target.problem) {
          user.show("error", target?.problem ?? RED._("clip-store.errors.no-bucket"));
          this.error(target?.problem ?? RED._("clip-store.errors.no-bucket"));
          return;
        }
        files = new S3ClipFiles(target);
      } else files = new LocalClipFiles(path.join(services.dataDir, "clips"));
      const store = new ClipStore({ dataDir: services.dataDir, pool: services.stores, files, clock: services.clock, retention: s.retention });
      services.clips.set(this.id, store);
      const hub = user.device?.deviceId ?? services.config.deviceId;

      const prune = () => {
        store.prune().then(
          (gone) => {
            if (gone.length > 0) this.log(RED._("clip-store.log.pruned", { count: gone.length }));
          },
          (err: Error) => this.warn(RED._("clip-store.errors.prune", { error: err.message })),
        );
      };
      const timer = services.clock.setInterval(prune, PRUNE_EVERY_MS);
      let stored = 0;
      const show = () => user.show("ok", RED._("clip-store.status.stored", { count: stored, where: files.location }));
      show();
      prune();

      store.on("stored", (record) => {
        stored++;
        show();
        store.readThumbnail(record).then(
          (thumbnail) => {
            this.send(storedMessage(record, thumbnail, s.linkBase, hub));
            user.device?.link.publish(skycamTopics.stored(hub), record, { qos: 1 }).catch((err: Error) => this.warn(err.message));
            prune();
          },
          (err: Error) => failMessage(RED, this, err, { topic: skycamTopics.stored(hub), payload: record }),
        );
      });

      this.on("close", (_removed: boolean, done: () => void) => {
        services.clock.clearInterval(timer);
        services.clips.delete(this.id, store);
        store.removeAllListeners();
        store.close();
        done();
      });
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineClipStore(RED).registerType(RED, "clip-store");
  const services = servicesOf(RED);
  clipRoutes(RED.httpNode, {
    auth: { tokens: () => services.apiTokens, audit: services.audit, sessions: () => servicesOf(RED).webSessions },
    store: () => servicesOf(RED).clips.first(),
    clock: services.clock,
  });
}
