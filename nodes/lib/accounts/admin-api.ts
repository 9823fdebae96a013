// The owner's account setup on the editor's HTTP API (RED.httpAdmin, so under /admin): list accounts with their
// devices, make an account, attach a power Pi to one. Guarded by Node-RED's own admin login: every route takes a
// permission check (`RED.auth.needsPermission`), so only a Bearer token from POST /admin/auth/token passes.
// The /v1 API is each account's own; this is the hub owner's, as the accounts CLI is.
import express, { type NextFunction, type Request, type RequestHandler, type Response } from "express";
import { isTopicLevel } from "../contract";
import { apiDevice, type ApiContext, type ApiDevice } from "./api";
import { AccountError, validEmails, type AccountStore } from "./store";

export const ADMIN_PATH = "/pifog/accounts";
export const READ_PERMISSION = "pifog.accounts.read";
export const WRITE_PERMISSION = "pifog.accounts.write";

/** An account as the owner sees it: never its password hash. */
export interface AdminAccount {
  id: string;
  username: string;
  emails: string[];
  devices: ApiDevice[];
}

/** GET /admin/pifog/accounts: every account, and every device the hub knows (attached or not). */
export interface AdminListing {
  accounts: AdminAccount[];
  devices: Array<ApiDevice & { account: string | null }>;
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
  res.status(status).set("Content-Type", "application/json; charset=UTF-8").set("Cache-Control", "no-store").end(JSON.stringify(body));
}

export function adminListing(store: AccountStore): AdminListing {
  const accounts = store.accounts();
  const names = new Map(accounts.map((a) => [a.id, a.username]));
  return {
    accounts: accounts.map((a) => ({ id: a.id, username: a.username, emails: a.emails, devices: store.devicesOf(a.id).map(apiDevice) })),
    devices: store.allDevices().map((d) => ({ ...apiDevice(d), account: d.accountId ? (names.get(d.accountId) ?? null) : null })),
  };
}

/**
 * Mounts the owner's routes on RED.httpAdmin (once: Node-RED registers a node type once per runtime).
 * `needsPermission` is RED.auth.needsPermission; `context` gives the running account-api node's store, or null.
 */
export function adminAccountRoutes(app: express.Router, needsPermission: (permission: string) => RequestHandler, context: () => ApiContext | null): void {
  const router = express.Router();
  // every path needs at least the read permission: without a token nothing here answers but 401
  router.use(needsPermission(READ_PERMISSION));
  router.use(express.json({ limit: "16kb", strict: true }));

  const handle =
    (fn: (req: Request, res: Response, ctx: ApiContext) => void | Promise<void>) =>
    (req: Request, res: Response): void => {
      const failed = (err: unknown) => {
        if (res.headersSent) return;
        if (err instanceof HttpError) send(res, err.status, { error: err.message });
        else if (err instanceof AccountError) send(res, 400, { error: err.message });
        else send(res, 500, { error: "Internal error" });
      };
      try {
        const ctx = context();
        if (!ctx) throw new HttpError(503, "the account API is not running (no account-api node deployed)");
        const done = fn(req, res, ctx);
        if (done) done.catch(failed);
      } catch (err) {
        failed(err);
      }
    };

  const body = (req: Request): Record<string, unknown> => {
    const b: unknown = req.body;
    if (typeof b !== "object" || b === null || Array.isArray(b)) throw new HttpError(400, "the body must be a JSON object");
    return b as Record<string, unknown>;
  };

  router.get("/", handle((_req, res, ctx) => send(res, 200, adminListing(ctx.store))));

  router.post("/", needsPermission(WRITE_PERMISSION), handle(async (req, res, ctx) => {
    const b = body(req);
    if (typeof b.username !== "string" || b.username.trim() === "") throw new HttpError(400, "username is required");
    if (typeof b.password !== "string") throw new HttpError(400, "password is required");
    const username = b.username.trim();
    const emails = validEmails(b.emails ?? []);
    if (ctx.store.accountByUsername(username)) throw new HttpError(409, `username ${username} is taken`);
    let created;
    try {
      created = await ctx.store.createAccount(username, b.password, emails);
    } catch (err) {
      // taken between the check and the insert
      if (err instanceof AccountError && ctx.store.accountByUsername(username)) throw new HttpError(409, err.message);
      throw err;
    }
    ctx.changed?.();
    send(res, 201, { id: created.id, username: created.username, emails: created.emails, devices: [] } satisfies AdminAccount);
  }));

  router.post("/:username/devices", needsPermission(WRITE_PERMISSION), handle((req, res, ctx) => {
    const account = ctx.store.accountByUsername(String(req.params.username));
    if (!account) throw new HttpError(404, `no account with username "${String(req.params.username).slice(0, 254)}"`);
    const b = body(req);
    if (typeof b.deviceId !== "string" || !isTopicLevel(b.deviceId)) throw new HttpError(400, "deviceId must be a device id (letters, digits, _ . -)");
    let name: string | undefined;
    if (b.name !== undefined && b.name !== null && b.name !== "") {
      if (typeof b.name !== "string" || b.name.trim() === "" || b.name.length > 128) throw new HttpError(400, "name must be 1..128 characters");
      name = b.name.trim();
    }
    const before = ctx.store.device(b.deviceId);
    const device = ctx.store.attachDevice(account.id, b.deviceId, name, ctx.clock.now());
    ctx.changed?.();
    const from = before?.accountId && before.accountId !== account.id ? (ctx.store.account(before.accountId)?.username ?? null) : null;
    send(res, 200, { account: account.username, device: apiDevice(device), movedFrom: from });
  }));

  router.use((_req, res) => send(res, 404, { error: "Not found" }));
  router.use((err: Error & { status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    const status = err.status && err.status >= 400 && err.status < 500 ? 400 : 500;
    send(res, status, { error: status === 400 ? `bad request body: ${err.message}` : "Internal error" });
  });

  app.use(ADMIN_PATH, router);
}
