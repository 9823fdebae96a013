// The editor's login (POST /admin/auth/token), guarded before Node-RED sees it. The editor takes the user store's
// people (issue 12), admins only. Node-RED counts attempts per user name from anywhere and refuses the name for 10
// minutes after 5 (`loginAttempts` in @node-red/editor-api's auth/strategies.js, private to that module), so anyone
// who can reach the hub could lock the admin out by it. This guard, mounted in front of RED.httpAdmin, checks the
// password against the store itself, with the people's throttle (per address, per (address, name), per name: the
// same as the sign-in page's), and answers every refusal itself: only an admin whose password is right reaches
// Node-RED, which then checks it again (adminAuth.authenticate) and issues the token as before. Wrong attempts thus
// never feed Node-RED's own lock.
import express, { type NextFunction, type Request, type Response, type Router } from "express";
import path from "node:path";
import type { Audit } from "../audit/audit";
import type { People } from "./people";
import { auditSignIn, throttledMessage } from "./sign-in";
import { clientAddress, retryAfterSeconds, type LoginThrottle } from "./throttle";

export interface EditorLoginOptions {
  throttle: LoginThrottle;
  audit: Audit;
  /** The user store's people: only an admin's right password goes on to Node-RED. */
  people: Pick<People, "checkPassword">;
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
    // Node-RED has no other grant (anything else it refuses without counting)
    if (b.grant_type !== "password") return next();
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
    o.people.checkPassword(user, password).then(
      (who) => {
        if (!who) {
          admission.attempt.wrong();
          auditSignIn(o.audit, { via: "editor", address, user });
          // as Node-RED answers a wrong password (oauth2orize's invalid_grant), so the editor shows "login failed"
          send(res, 403, { error: "invalid_grant", error_description: "Invalid resource owner credentials" });
          return;
        }
        admission.attempt.right();
        if (who.role !== "admin") {
          // told only to one who knows the password: a viewer or an operator uses the dashboard
          const reason = `${who.name} is a ${who.role}; only admins use the editor`;
          auditSignIn(o.audit, { via: "editor", address, user, reason });
          send(res, 403, { error: "invalid_grant", error_description: reason });
          return;
        }
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
