// Who may use PiFog's own HTTP API: `requireRole` in front of a route wants a Bearer token (api-tokens.ts) or a
// signed-in browser's session cookie (web-sessions.ts) whose role is enough; `signInRoute` is POST /api/auth, which
// gives a token to a user of the identity store. Every refusal is answered as RFC 6750 says (401 with
// WWW-Authenticate, 403 for a role too small) and written to the audit. A cookie is sent by the browser by itself, so a
// request that changes something and comes with one must also come from a page of this origin (CSRF, on top of the
// cookie's SameSite=Strict): a foreign `Origin` is refused.
import express, { type Request, type RequestHandler, type Response } from "express";
import { TokenError } from "../accounts/jwt";
import type { AuditEvent } from "../audit/audit";
import type { Identity, UserRole } from "../identity/types";
import { ApiTokens, roleAtLeast, type ApiPrincipal } from "./api-tokens";
import type { WebSessions } from "./web-sessions";
import { auditSignIn, throttledMessage } from "./sign-in";
import { clientAddress, retryAfterSeconds, type LoginThrottle } from "./throttle";

export interface ApiAuthParts {
  /** The runtime's token issuer; null: nobody can sign in, so every request is refused. */
  tokens: () => ApiTokens | null;
  audit: { record(event: AuditEvent): void };
  /** The runtime's signed-in browsers (null: only bearer tokens); required, so that no route forgets them. */
  sessions: () => Pick<WebSessions, "fromCookie"> | null;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Whether a request's `Origin` (when it sends one) names the host it was sent to. Browsers send it on every POST, PUT
 * and DELETE, and a page of another site cannot forge it; a request without one is not from a page's script or form.
 * The host is compared, not the scheme: behind a proxy that ends TLS the request arrives as http with an https Origin.
 */
export function sameOrigin(req: Request): boolean {
  const origin = req.get("origin");
  if (origin === undefined) return true;
  const host = req.get("host");
  if (!host || origin === "null") return false;
  try {
    const o = new URL(origin);
    return (o.protocol === "http:" || o.protocol === "https:") && o.host.toLowerCase() === host.toLowerCase();
  } catch {
    return false;
  }
}

const addressOf = (req: Request) => clientAddress(req.socket.remoteAddress);

function refuse(res: Response, req: Request, parts: ApiAuthParts, status: 401 | 403, reason: string, error: string, who?: string): void {
  parts.audit.record({ event: "api.refused", via: "http", who: who ?? addressOf(req), reason, status, path: req.originalUrl.slice(0, 200) });
  if (status === 401) {
    const bearer = error === "invalid_request" ? 'Bearer realm="pifog"' : `Bearer realm="pifog", error="${error}"`;
    res.set("WWW-Authenticate", bearer);
  }
  res.status(status).json({ error: reason });
}

/** The principal of a request a `requireRole` let through. */
export function principalOf(res: Response): ApiPrincipal | undefined {
  return res.locals.pifogPrincipal as ApiPrincipal | undefined;
}

export function requireRole(needed: UserRole, parts: ApiAuthParts): RequestHandler {
  return (req, res, next) => {
    const header = req.get("authorization") ?? "";
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m && !header) {
      const session = parts.sessions()?.fromCookie(req.get("cookie"));
      if (session) {
        const who = `user:${session.name} from ${addressOf(req)}`;
        if (!SAFE_METHODS.has(req.method) && !sameOrigin(req)) {
          return refuse(res, req, parts, 403, `a ${req.method} with a session cookie must come from a page of this site, not ${String(req.get("origin")).slice(0, 100)}`, "insufficient_scope", who);
        }
        if (!roleAtLeast(session.role, needed)) {
          return refuse(res, req, parts, 403, `${session.name} is a ${session.role}; this needs ${needed}`, "insufficient_scope", who);
        }
        res.locals.pifogPrincipal = { name: session.name, role: session.role } satisfies ApiPrincipal;
        return next();
      }
    }
    if (!m) return refuse(res, req, parts, 401, "sign in first: send Authorization: Bearer <token> (POST /api/auth gives one), or sign in at /signin", "invalid_request");
    const tokens = parts.tokens();
    if (!tokens) return refuse(res, req, parts, 401, "this runtime has no sign-in for its API", "invalid_token");
    let principal: ApiPrincipal;
    try {
      principal = tokens.verify(m[1]!);
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      return refuse(res, req, parts, 401, `invalid token: ${err.message}`, "invalid_token");
    }
    if (!roleAtLeast(principal.role, needed)) {
      return refuse(res, req, parts, 403, `${principal.name} is a ${principal.role}; this needs ${needed}`, "insufficient_scope", `user:${principal.name} from ${addressOf(req)}`);
    }
    res.locals.pifogPrincipal = principal;
    next();
  };
}

export interface SignInRouteParts extends Omit<ApiAuthParts, "sessions"> {
  /** The identity store's password check (users only get tokens). */
  checkPassword: (name: string, password: string) => Promise<Identity | null>;
  throttle: LoginThrottle;
}

/** POST /api/auth {username, password} (JSON or a form) → {token, role, expiresAt}. */
export function signInRoute(parts: SignInRouteParts): express.Router {
  const router = express.Router();
  router.post("/api/auth", express.json({ limit: "4kb" }), express.urlencoded({ extended: false, limit: "4kb" }), (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const username = typeof body.username === "string" ? body.username : "";
    const password = typeof body.password === "string" ? body.password : "";
    if (!username || !password) return void res.status(400).json({ error: "username and password are required" });
    const address = clientAddress(req.socket.remoteAddress);
    const admission = parts.throttle.admit(address, username);
    if (!admission.allowed) {
      auditSignIn(parts.audit, { via: "http", address, user: username, throttled: admission });
      res.set("Retry-After", String(retryAfterSeconds(admission.retryAfterMs)));
      return void res.status(429).json({ error: throttledMessage(admission.limit, admission.retryAfterMs) });
    }
    parts.checkPassword(username, password).then(
      (identity) => {
        const tokens = parts.tokens();
        if (!identity || identity.kind !== "user" || !tokens) {
          admission.attempt.wrong();
          auditSignIn(parts.audit, { via: "http", address, user: username });
          return void res.status(401).json({ error: "wrong user name or password" });
        }
        admission.attempt.right();
        res.json({ ...tokens.issue({ name: identity.name, role: identity.role }), role: identity.role });
      },
      (err: Error) => {
        admission.attempt.abandon();
        res.status(500).json({ error: err.message });
      },
    );
  });
  return router;
}
