// The people's sign-in (issue 12): GET /signin (the page), POST /signin (user name, password, where to go next) →
// the session cookie and 303 there; GET /signout (a page with a button) and POST /signout → the session ended, the
// cookie cleared, 303 to /signin. Mounted by the launcher before Node-RED's routes.
// Wrong passwords go through the people's throttle (per address, per (address, name), per name from anywhere) and
// the audit; an unknown name gets the same answer in the same time as a wrong password (people.ts).
// Sign-out is a POST only: a GET that ends the session could be set off by any link, prefetch or <img> (SameSite
// keeps the cookie off cross-site ones, but not off a same-site link a user posts, nor off a browser's prefetch).
import express, { type Request, type Response, type Router } from "express";
import type { Audit } from "../audit/audit";
import { sameOrigin } from "./api-auth";
import type { People } from "./people";
import { auditSignIn, throttledMessage } from "./sign-in";
import { PAGE_HEADERS, signInPage, signOutPage } from "./signin-page";
import { clientAddress, retryAfterSeconds, type LoginThrottle } from "./throttle";
import type { WebSessions } from "./web-sessions";

export const DEFAULT_NEXT = "/ui/";
const MAX_NEXT = 2000;

/**
 * Where a sign-in may send the browser: a path of this site only (`/ui/…`), never another host: not `//host`,
 * `/\host` (browsers read a backslash as a slash), a full URL, or anything with control characters; else /ui/.
 */
export function safeNext(raw: unknown): string {
  if (typeof raw !== "string" || raw.length === 0 || raw.length > MAX_NEXT) return DEFAULT_NEXT;
  if (!raw.startsWith("/") || raw.startsWith("//") || raw.includes("\\") || /[\u0000-\u001f\u007f]/.test(raw)) return DEFAULT_NEXT;
  try {
    const base = "http://pifog.invalid";
    const url = new URL(raw, base);
    if (url.origin !== base) return DEFAULT_NEXT;
    // the sign-in pages themselves are no place to land
    if (/^\/sign(in|out)(\/|$)/.test(url.pathname)) return DEFAULT_NEXT;
    return `${url.pathname}${url.search}${url.hash}`;
  } catch {
    return DEFAULT_NEXT;
  }
}

/** The OpenID Connect provider of a configuration, when it has one (its `oidc.issuer`), as the page names it. */
export function oidcLabel(config: unknown): { label: string } | undefined {
  const oidc = (config as { oidc?: { issuer?: unknown; name?: unknown } } | undefined)?.oidc;
  if (!oidc || typeof oidc.issuer !== "string" || !oidc.issuer) return undefined;
  if (typeof oidc.name === "string" && oidc.name.trim()) return { label: oidc.name.trim().slice(0, 60) };
  try {
    return { label: new URL(oidc.issuer).host };
  } catch {
    return { label: "your organisation's sign-in" };
  }
}

export interface SignInRoutesParts {
  /** The runtime's sessions (one object for the runtime's life). */
  sessions: () => Pick<WebSessions, "start" | "fromCookie" | "end">;
  people: Pick<People, "checkPassword">;
  /** The people's throttle (services.signIn.users). */
  throttle: LoginThrottle;
  audit: Pick<Audit, "record">;
  /** The OpenID Connect provider's name on the page, when one is set up. */
  oidc?: () => { label: string } | undefined;
}

function html(res: Response, status: number, body: string): void {
  res.status(status).set(PAGE_HEADERS).end(body);
}

/** Whether the request came over HTTPS (then the cookie is Secure). */
const overHttps = (req: Request) => req.secure;

export function signInRoutes(parts: SignInRoutesParts): Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: "8kb", parameterLimit: 10 });
  const showForm = (res: Response, status: number, o: { next: string; username?: string; error?: string }) =>
    html(res, status, signInPage({ ...o, oidc: parts.oidc?.() }));

  router.get("/signin", (req, res) => showForm(res, 200, { next: safeNext(req.query.next) }));

  router.post("/signin", form, (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const next = safeNext(body.next);
    const username = typeof body.username === "string" ? body.username.trim() : "";
    const password = typeof body.password === "string" ? body.password : "";
    const address = clientAddress(req.socket.remoteAddress);
    if (!sameOrigin(req)) {
      parts.audit.record({ event: "auth.refused", via: "signin", who: address, address, reason: "a sign-in form posted from another site" });
      return showForm(res, 403, { next, error: "This sign-in came from another site's page: open the sign-in page of this PiFog and try again." });
    }
    if (!username || !password) return showForm(res, 400, { next, username, error: "Enter your user name and your password." });
    const admission = parts.throttle.admit(address, username);
    if (!admission.allowed) {
      auditSignIn(parts.audit, { via: "signin", address, user: username, throttled: admission });
      res.set("Retry-After", String(retryAfterSeconds(admission.retryAfterMs)));
      return showForm(res, 429, { next, username, error: `${throttledMessage(admission.limit, admission.retryAfterMs)}.` });
    }
    parts.people.checkPassword(username, password).then(
      (who) => {
        if (!who) {
          admission.attempt.wrong();
          auditSignIn(parts.audit, { via: "signin", address, user: username });
          return showForm(res, 401, { next, username, error: "Wrong user name or password." });
        }
        admission.attempt.right();
        const { setCookie } = parts.sessions().start({ name: who.name, role: who.role, via: "password" }, { secure: overHttps(req) });
        res.set("Set-Cookie", setCookie).set("Cache-Control", "no-store").redirect(303, next);
      },
      (err: Error) => {
        admission.attempt.abandon();
        console.error(`PiFog: a sign-in could not be checked: ${err.message}`);
        showForm(res, 500, { next, username, error: "The sign-in could not be checked just now; try again." });
      },
    );
  });

  router.get("/signout", (req, res) => {
    const session = parts.sessions().fromCookie(req.get("cookie"));
    html(res, 200, signOutPage(session ? `${session.name} (${session.role})` : null));
  });

  router.post("/signout", (req, res) => {
    if (!sameOrigin(req)) {
      const address = clientAddress(req.socket.remoteAddress);
      parts.audit.record({ event: "auth.refused", via: "signout", who: address, address, reason: "a sign-out posted from another site" });
      return html(res, 403, signOutPage(null).replace("You are not signed in.", "This sign-out came from another site's page; nothing was done."));
    }
    const clear = parts.sessions().end(req.get("cookie"));
    res.set("Set-Cookie", `${clear}${overHttps(req) ? "; Secure" : ""}`).set("Cache-Control", "no-store").redirect(303, "/signin");
  });

  // a form body that is too large or malformed
  router.use((err: Error & { status?: number }, _req: Request, res: Response, next: (e?: unknown) => void) => {
    if (!err.status || err.status >= 500) return next(err);
    html(res, err.status, signInPage({ next: DEFAULT_NEXT, error: "That sign-in could not be read; try again." }));
  });
  return router;
}
