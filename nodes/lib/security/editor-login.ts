// The editor's login (POST /admin/auth/token), guarded before Node-RED sees it. Node-RED counts attempts per user
// name from anywhere and refuses the name for 10 minutes after 5 (`loginAttempts` in @node-red/editor-api's
// auth/strategies.js, private to that module), so anyone who can reach the hub could lock the admin out. This
// guard, mounted in front of RED.httpAdmin, limits wrong passwords per address and per (address, user name) and
// answers every wrong password itself: only a sign-in whose password is right reaches Node-RED, which then issues
// the token as before and clears its own count for that name. Wrong attempts from one address thus never feed
// Node-RED's lock, and the right person signing in from another address is never refused.
import express, { type NextFunction, type Request, type Response, type Router } from "express";
import path from "node:path";
import type { Audit } from "../audit/audit";
import { checkPassword } from "./passwords";
import { auditSignIn, throttledMessage } from "./sign-in";
import { clientAddress, retryAfterSeconds, type LoginThrottle } from "./throttle";

/** An editor user as `adminAuth.users` lists it. */
export interface EditorUser {
  username: string;
  /** bcrypt hash */
  password: string;
}

export interface EditorLoginOptions {
  throttle: LoginThrottle;
  audit: Audit;
  /**
   * The editor's users (`adminAuth.users`), read on every sign-in; null when the settings do not list them (a users
   * function, a strategy): then the guard cannot check a password and leaves the sign-in to Node-RED as it is.
   */
  users: () => readonly EditorUser[] | null;
}

/** The users of a settings object's `adminAuth` (type "credentials", users as an array or one object), or null. */
export function editorUsersOf(settings: unknown): EditorUser[] | null {
  const auth = (settings as { adminAuth?: { type?: unknown; users?: unknown } } | undefined)?.adminAuth;
  if (!auth || auth.type !== "credentials" || !auth.users || typeof auth.users === "function") return null;
  const list = Array.isArray(auth.users) ? (auth.users as unknown[]) : [auth.users];
  return list.filter(
    (u): u is EditorUser => !!u && typeof (u as EditorUser).username === "string" && typeof (u as EditorUser).password === "string",
  );
}

function send(res: Response, status: number, body: Record<string, unknown>): void {
  res.status(status).set("Content-Type", "application/json; charset=utf-8").set("Cache-Control", "no-store").end(JSON.stringify(body));
}

/**
 * Whether a path under the admin root is the token endpoint as Node-RED's router would take it: any case, with
 * repeated or trailing slashes, or dot segments (Node-RED answers `//auth/token` too: an exact match would let a
 * request past this guard into Node-RED's lock).
 */
export function isTokenPath(p: string): boolean {
  const normal = path.posix.normalize(`/${p}`).replace(/\/+$/, "").toLowerCase();
  return normal === "/auth/token";
}

/** Mount at `<httpAdminRoot>`, before RED.httpAdmin: it acts on POST <root>/auth/token only. */
export function editorLoginGuard(o: EditorLoginOptions): Router {
  const router = express.Router();
  router.use((req: Request, _res: Response, next: NextFunction) => (req.method === "POST" && isTokenPath(req.path) ? next() : next("router")));
  // parsed as Node-RED parses it (its body parsers then leave the body as it is)
  router.use(express.urlencoded({ extended: true, limit: "16kb" }), express.json({ limit: "16kb" }));
  router.use((req: Request, res: Response, next: NextFunction) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const users = o.users();
    // Node-RED has no other grant (anything else it refuses without counting); users it alone knows are its own
    if (b.grant_type !== "password" || users === null) return next();
    if (typeof b.username !== "string" || b.username === "" || typeof b.password !== "string") {
      send(res, 400, { error: "invalid_request", error_description: "username and password are required" });
      return;
    }
    const user = b.username;
    const password = b.password;
    const address = clientAddress(req.socket.remoteAddress);
    const admission = o.throttle.admit(address, user);
    if (!admission.allowed) {
      auditSignIn(o.audit, { via: "editor", address, user, throttled: admission });
      res.set("Retry-After", String(retryAfterSeconds(admission.retryAfterMs)));
      send(res, 429, { error: throttledMessage(admission.limit, admission.retryAfterMs) });
      return;
    }
    const known = users.find((u) => u.username === user);
    checkPassword(password, known?.password).then(
      (right) => {
        if (!right) {
          admission.attempt.wrong();
          auditSignIn(o.audit, { via: "editor", address, user });
          // as Node-RED answers a wrong password (oauth2orize's invalid_grant), so the editor shows "login failed"
          send(res, 403, { error: "invalid_grant", error_description: "Invalid resource owner credentials" });
          return;
        }
        admission.attempt.right();
        next();
      },
      (err: unknown) => {
        admission.attempt.abandon();
        next(err);
      },
    );
  });
  // a body that is not JSON or form data, or too large
  router.use((err: Error & { status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
    send(res, status, { error: status === 500 ? "Internal error" : `bad request body: ${err.message}` });
  });
  return router;
}
