// GET /api/cameras/<device>/live: a camera's live video as multipart/x-mixed-replace JPEG frames (what an <img>
// shows as moving video), for signed-in people (viewer or higher: a session cookie or a bearer token). The frames come
// from the hub's LiveRelay (live-relay.ts); a viewer whose connection is slow is sent the newest frame when it can
// take one, the others are dropped (never an unbounded buffer). Refusals: 401/403 (requireRole), 400 ill-formed
// device id, 404 unknown camera, 503 no relay running or the camera serves its most viewers (Retry-After) — each
// written to the audit.
import type { Express, Request, Response } from "express";
import type { ServerResponse } from "node:http";
import { isTopicLevel } from "../contract";
import type { IdentityDirectory } from "../identity/types";
import { principalOf, requireRole, type ApiAuthParts } from "../security/api-auth";
import { clientAddress } from "../security/throttle";
import type { LiveRelay, LiveViewer } from "./live-relay";

/** Whether `id` is a camera of this hub: an enrolled camerapi whose identity is not revoked. */
export function enrolledCamera(directory: Pick<IdentityDirectory, "device"> | null, id: string): boolean {
  const d = directory?.device(id);
  return d !== undefined && d.role === "camerapi" && !d.revokedAt;
}

/** The hub's cameras (enrolled camerapis, not revoked), sorted. */
export function enrolledCameras(directory: Pick<IdentityDirectory, "devices"> | null): string[] {
  return (directory?.devices() ?? []).filter((d) => d.role === "camerapi" && !d.revokedAt).map((d) => d.id).sort();
}

export const LIVE_BOUNDARY = "pifog-live-frame";

/** The dashboard's and a client's path to a camera's live video. */
export function livePath(device: string): string {
  return `/api/cameras/${encodeURIComponent(device)}/live`;
}

/**
 * One viewer's answer: a part per frame. While the socket has not taken the last part (write returned false), a new
 * frame only replaces the one waiting: at most one frame is ever held per viewer.
 */
export class MjpegResponse implements LiveViewer {
  private busy = false;
  private waiting: Buffer | null = null;
  private ended = false;
  sent = 0;
  dropped = 0;

  constructor(private readonly res: ServerResponse) {
    res.on("close", () => (this.ended = true));
  }

  /** Sends the answer's head (once): 200 and the multipart type. */
  open(): void {
    if (this.res.headersSent) return;
    this.res.writeHead(200, {
      "Content-Type": `multipart/x-mixed-replace; boundary=${LIVE_BOUNDARY}`,
      "Cache-Control": "no-store, no-cache, must-revalidate",
      Pragma: "no-cache",
      "X-Content-Type-Options": "nosniff",
      // frames go out as they come: no proxy buffering (nginx)
      "X-Accel-Buffering": "no",
    });
    this.res.flushHeaders();
  }

  frame(jpeg: Buffer): void {
    if (this.ended) return;
    if (this.busy) {
      if (this.waiting) this.dropped++;
      this.waiting = jpeg;
      return;
    }
    this.write(jpeg);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.res.end();
  }

  private write(jpeg: Buffer): void {
    this.open();
    const head = `--${LIVE_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`;
    this.res.write(head);
    this.res.write(jpeg);
    const flushed = this.res.write("\r\n");
    this.sent++;
    if (flushed) return;
    this.busy = true;
    this.res.once("drain", () => {
      this.busy = false;
      const next = this.waiting;
      this.waiting = null;
      if (next && !this.ended) this.write(next);
    });
  }
}

export interface LiveRouteOptions {
  auth: ApiAuthParts;
  /** The running relay, or null (503). */
  relay: () => LiveRelay | null;
  /** Whether `device` is a camera this hub knows (an enrolled camerapi, not revoked). */
  isCamera: (device: string) => boolean;
}

export function liveRoutes(app: Pick<Express, "get">, options: LiveRouteOptions): void {
  const { audit } = options.auth;
  const refuse = (req: Request, res: Response, status: number, reason: string, retryAfterS?: number) => {
    const who = principalOf(res);
    audit.record({
      event: "camera.live.refused",
      via: "http",
      who: who ? `user:${who.name} from ${clientAddress(req.socket.remoteAddress)}` : clientAddress(req.socket.remoteAddress),
      reason,
      status,
      path: req.originalUrl.slice(0, 200),
    });
    if (retryAfterS !== undefined) res.set("Retry-After", String(retryAfterS));
    res.status(status).json({ error: reason });
  };
  app.get("/api/cameras/:device/live", requireRole("viewer", options.auth), (req, res) => {
    const device = req.params.device ?? "";
    if (!isTopicLevel(device)) return refuse(req, res, 400, `"${device.slice(0, 64)}" is not a device id (letters, digits, . _ -; at most 64)`);
    if (!options.isCamera(device)) return refuse(req, res, 404, `no camera "${device}" on this hub`);
    const relay = options.relay();
    if (!relay) return refuse(req, res, 503, "live video is not running on this hub (no live-relay node)", 30);
    const viewer = new MjpegResponse(res);
    // HEAD: what a GET would answer, without starting the camera
    if (req.method === "HEAD") {
      viewer.open();
      return void res.end();
    }
    const watching = relay.watch(device, viewer);
    // nothing is written to a refused viewer: the refusal is the whole answer
    if (!watching.ok) return refuse(req, res, 503, `${watching.reason}; try again later`, 10);
    viewer.open();
    res.on("close", watching.leave);
  });
}
