// The /v1 REST API, wire-compatible with detectordag's (originals.md §2.7) so its web frontend works against
// the hub: POST /v1/auth, GET/PATCH /v1/accounts/{id}, GET /v1/accounts/{id}/devices, PATCH /v1/devices/{id}.
// Errors are {"error": "…"}; a bad or expired token is 403, another account's resource 404, and (fixing the
// original's 500) a missing Authorization header 401. CORS as the original: any origin.
import express, { type Express, type NextFunction, type Request, type Response } from "express";
import type { Audit } from "../audit/audit";
import type { Clock } from "../clock";
import { auditSignIn, throttledMessage } from "../security/sign-in";
import { clientAddress, retryAfterSeconds, type LoginThrottle } from "../security/throttle";
import { isTopicLevel } from "../contract";
import { signToken, TokenError, verifyToken } from "./jwt";
import { AccountError, type AccountStore, type DeviceRecord } from "./store";

export interface ApiContext {
  store: AccountStore;
  secret: string;
  lifetimeMs: number;
  clock: Clock;
  /** Wrong sign-ins per address and per (address, user name): over the limit, 429 before any password check. */
  throttle: LoginThrottle;
  /** Where wrong and throttled sign-ins are recorded. */
  audit: Audit;
  /** Called after the API changed the store (e-mails, a device's name, an account made or a device attached). */
  changed?: () => void;
}

/** detectordag's Device object: every field always set, as its shadow validation guaranteed (originals.md §2.6). */
export interface ApiDevice {
  name: string;
  deviceId: string;
  state: { power: "on" | "off"; updated: string };
  connection: { status: "connected" | "disconnected"; updated: string };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NOT_FOUND = "Not found";
/** Go's zero time.Time as encoding/json writes it: what the original's types carry for a time never set. */
export const GO_ZERO_TIME = "0001-01-01T00:00:00Z";

/** Go's time.Time in JSON (RFC 3339, fraction without trailing zeros), as the original answered. */
export function rfc3339(ms: number | null): string | null {
  if (ms === null || !Number.isFinite(ms)) return null;
  return new Date(ms).toISOString().replace(/\.(\d*?)0*Z$/, (_m, f: string) => (f ? `.${f}Z` : "Z"));
}

/**
 * The original never answered a device without a full shadow (its validation requires power, connection and
 * their times), and its frontend throws on any other value, losing the card. A device the hub has not heard
 * from is therefore "disconnected" (true: it has never been in contact) with its power "on" (the one value
 * that raises no false "Lost power" on the card), both dated from when it was attached: the card reads
 * "Was On" and "Lost connection <since attached>" until the device reports.
 */
export function apiDevice(d: DeviceRecord): ApiDevice {
  const since = (own: number | null, other: number | null) => rfc3339(own) ?? rfc3339(d.attachedAt) ?? rfc3339(other) ?? GO_ZERO_TIME;
  return {
    name: d.name,
    deviceId: d.id,
    state: { power: d.power ?? "on", updated: since(d.powerUpdated, d.connectionUpdated) },
    connection: { status: d.connection ?? "disconnected", updated: since(d.connectionUpdated, d.powerUpdated) },
  };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: Response, status: number, body: unknown): void {
  res.status(status).set("Content-Type", "application/json; charset=UTF-8").end(JSON.stringify(body));
}

/** Mounts the API (Node-RED registers a node type once per runtime, so once per app); `context` gives the running account-api node's store and settings, or null. */
export function accountRoutes(app: Express, context: () => ApiContext | null): void {
  const router = express.Router();

  router.use((req, res, next) => {
    res.set("Access-Control-Allow-Origin", "*");
    if (req.method === "OPTIONS") {
      res.set("Access-Control-Allow-Headers", "Content-Type,Authorization");
      res.set("Access-Control-Allow-Methods", "GET,PATCH,POST");
      res.status(200).end();
      return;
    }
    next();
  });
  // any content type: the original's clients did not always say application/json
  router.use(express.json({ limit: "16kb", type: () => true, strict: true }));

  const ctxOf = (): ApiContext => {
    const ctx = context();
    if (!ctx) throw new HttpError(503, "the account API is not running");
    return ctx;
  };

  /** The account id the request's bearer token is for. */
  const authorised = (req: Request, ctx: ApiContext): string => {
    const header = req.get("authorization");
    if (header === undefined || header.trim() === "") throw new HttpError(401, "Missing Authorization header");
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw new HttpError(401, "Authorization header must be: Bearer <token>");
    try {
      return verifyToken(m[1]!, ctx.secret, ctx.clock.now()).sub;
    } catch (err) {
      if (err instanceof TokenError) throw new HttpError(403, `Invalid token: ${err.message}`);
      throw err;
    }
  };

  /** The account of the path, when it is the token's. */
  const ownAccount = (req: Request, ctx: ApiContext) => {
    const tokenAccount = authorised(req, ctx);
    const id = String(req.params.accountId);
    if (!UUID.test(id) || id !== tokenAccount) throw new HttpError(404, NOT_FOUND);
    const account = ctx.store.account(id);
    if (!account) throw new HttpError(404, NOT_FOUND);
    return account;
  };

  const body = (req: Request): Record<string, unknown> => {
    const b: unknown = req.body;
    if (typeof b !== "object" || b === null || Array.isArray(b)) throw new HttpError(400, "the body must be a JSON object");
    return b as Record<string, unknown>;
  };

  const handle = (fn: (req: Request, res: Response, ctx: ApiContext) => void | Promise<void>) => (req: Request, res: Response) => {
    const failed = (err: unknown) => {
      if (res.headersSent) return;
      if (err instanceof HttpError) send(res, err.status, { error: err.message });
      else if (err instanceof AccountError) send(res, 400, { error: err.message });
      else send(res, 500, { error: "Internal error" });
    };
    try {
      const done = fn(req, res, ctxOf());
      if (done) done.catch(failed);
    } catch (err) {
      failed(err);
    }
  };

  router.post("/auth", handle(async (req, res, ctx) => {
    const b = body(req);
    if (typeof b.username !== "string" || b.username === "" || typeof b.password !== "string" || b.password === "") {
      throw new HttpError(400, "username and password are required");
    }
    const address = clientAddress(req.socket.remoteAddress);
    const admission = ctx.throttle.admit(address, b.username);
    if (!admission.allowed) {
      auditSignIn(ctx.audit, { via: "http", address, user: b.username, throttled: admission });
      res.set("Retry-After", String(retryAfterSeconds(admission.retryAfterMs)));
      throw new HttpError(429, throttledMessage(admission.limit, admission.retryAfterMs));
    }
    let account;
    try {
      account = await ctx.store.verify(b.username, b.password);
    } catch (err) {
      admission.attempt.abandon();
      throw err;
    }
    if (!account) {
      admission.attempt.wrong();
      auditSignIn(ctx.audit, { via: "http", address, user: b.username });
      throw new HttpError(403, "Incorrect username or password");
    }
    admission.attempt.right();
    send(res, 200, { token: signToken(account.id, ctx.secret, ctx.clock.now(), ctx.lifetimeMs), accountId: account.id });
  }));

  router.get("/accounts/:accountId", handle((req, res, ctx) => {
    const account = ownAccount(req, ctx);
    send(res, 200, { username: account.username, emails: account.emails ?? [] });
  }));

  router.patch("/accounts/:accountId", handle((req, res, ctx) => {
    const account = ownAccount(req, ctx);
    const b = body(req);
    if (!("emails" in b)) throw new HttpError(400, "emails is required");
    const updated = ctx.store.setEmails(account.id, b.emails);
    ctx.changed?.();
    send(res, 200, { username: updated.username, emails: updated.emails });
  }));

  router.get("/accounts/:accountId/devices", handle((req, res, ctx) => {
    const account = ownAccount(req, ctx);
    send(res, 200, ctx.store.devicesOf(account.id).map(apiDevice));
  }));

  router.patch("/devices/:deviceId", handle((req, res, ctx) => {
    const tokenAccount = authorised(req, ctx);
    const id = String(req.params.deviceId);
    const device = isTopicLevel(id) ? ctx.store.device(id) : null;
    if (!device || device.accountId !== tokenAccount) throw new HttpError(404, NOT_FOUND);
    const b = body(req);
    if (typeof b.name !== "string") throw new HttpError(400, "name is required");
    const renamed = ctx.store.renameDevice(id, b.name);
    ctx.changed?.();
    send(res, 200, apiDevice(renamed));
  }));

  router.use((_req, res) => send(res, 404, { error: NOT_FOUND }));
  // a body that is not JSON, or too large
  router.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    const status = err.status && err.status >= 400 && err.status < 500 ? 400 : 500;
    send(res, status, { error: status === 400 ? `bad request body: ${err.message}` : "Internal error" });
  });

  app.use("/v1", router);
}
