// OpenID Connect sign-in's HTTP side (issue 12):
//   GET /signin/oidc?next=/ui/      anyone: sends the browser to the provider (303), or says the provider is down
//   GET /signin/oidc/callback       anyone: the provider's redirect back; signs the person in (session cookie, 303
//                                   to `next`) or refuses with a page saying why (400 state, 401 ID token, 403 not
//                                   allowed or refused by the provider, 502/503 provider trouble)
//   GET /signin/oidc/whoami         anyone, about their own session only: {name, role, via}, or 401
// Every refusal is written to the audit with the address, the person when known, and why. The pages are
// self-contained (no script, nothing fetched), everything in them escaped.
import express, { type Request, type Response } from "express";
import type { AuditEvent } from "../audit/audit";
import { decideRole } from "./oidc-role";
import { OidcFailure, redirectUriFor, safeNext, type OidcSignIn } from "./oidc";
import { OIDC_BROWSER_COOKIE, OidcStates, browserKeyOf } from "./oidc-states";
import { clientAddress } from "./throttle";
import type { WebSessions } from "./web-sessions";

export interface OidcRouteParts {
  /** The sign-in, or null when OpenID Connect is not set up (PIFOG_OIDC_ISSUER unset). */
  signIn: OidcSignIn | null;
  sessions: Pick<WebSessions, "start" | "fromCookie">;
  audit: { record(event: AuditEvent): void };
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** A whole page: a heading, a message, links onwards. */
export function oidcPage(title: string, message: string, links: Array<{ href: string; text: string }> = []): string {
  const linkHtml = links.map((l) => `<a href="${escapeHtml(l.href)}">${escapeHtml(l.text)}</a>`).join(" · ");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>PiFog: ${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}
p{line-height:1.5}.why{background:#f6f6f6;border-left:4px solid #c62828;padding:.6rem .8rem}a{color:#1565c0}</style>
</head><body><h1 id="title">${escapeHtml(title)}</h1><p class="why" id="why">${escapeHtml(message)}</p>${linkHtml ? `<p>${linkHtml}</p>` : ""}</body></html>`;
}

const TITLES: Record<OidcFailure["kind"], string> = {
  "provider-down": "The sign-in provider cannot be reached",
  state: "This sign-in link is not valid",
  "provider-refused": "The sign-in provider did not sign you in",
  "id-token": "The sign-in provider's answer was not accepted",
};

function send(res: Response, status: number, title: string, message: string, links: Array<{ href: string; text: string }>): void {
  res
    .status(status)
    .set("Cache-Control", "no-store")
    .set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'")
    .type("html")
    .send(oidcPage(title, message, links));
}

export function oidcRoutes(parts: OidcRouteParts): express.Router {
  const router = express.Router();
  const addressOf = (req: Request) => clientAddress(req.socket.remoteAddress);
  const secure = (req: Request) => req.secure || parts.signIn?.config.publicUrl?.protocol === "https:";
  const again = (next: string) => [{ href: `/signin/oidc?next=${encodeURIComponent(next)}`, text: "Sign in again" }];
  const refuse = (req: Request, res: Response, status: number, title: string, reason: string, o: { who?: string; links?: Array<{ href: string; text: string }>; kind: string }) => {
    const address = addressOf(req);
    parts.audit.record({ event: "oidc.refused", via: "http", who: o.who ? `${o.who} from ${address}` : address, reason, status, kind: o.kind });
    send(res, status, title, reason, o.links ?? again("/ui/"));
  };
  const notSetUp = (req: Request, res: Response) =>
    refuse(req, res, 404, "OpenID Connect sign-in is not set up", "this PiFog has no OpenID Connect provider (PIFOG_OIDC_ISSUER is unset)", {
      kind: "not-set-up",
      links: [{ href: "/signin", text: "Sign in with a password" }],
    });

  router.get("/signin/oidc", (req, res) => {
    const signIn = parts.signIn;
    if (!signIn) return notSetUp(req, res);
    const next = safeNext(req.query.next);
    const browserKey = browserKeyOf(req.headers.cookie) ?? OidcStates.newBrowserKey();
    const redirectUri = redirectUriFor(signIn.config, { protocol: req.protocol, host: req.get("host") });
    signIn.begin({ redirectUri, next, address: addressOf(req), browserKey }).then(
      ({ authorizationUrl }) => {
        // Lax, not Strict: it must come back with the provider's redirect, a navigation from another site
        const cookie = `${OIDC_BROWSER_COOKIE}=${browserKey}; Path=/signin/oidc; HttpOnly; SameSite=Lax; Max-Age=${signIn.states.lifetimeSeconds}${secure(req) ? "; Secure" : ""}`;
        res.status(303).set("Cache-Control", "no-store").set("Set-Cookie", cookie).location(authorizationUrl).end();
      },
      (err: unknown) => failed(req, res, err, next),
    );
  });

  router.get("/signin/oidc/callback", (req, res) => {
    const signIn = parts.signIn;
    if (!signIn) return notSetUp(req, res);
    const query = new URL(req.originalUrl, "http://pifog.invalid").searchParams;
    signIn.finish(query, browserKeyOf(req.headers.cookie)).then(
      ({ claims, next }) => {
        const decision = decideRole(claims, signIn.config);
        if (!decision.allowed) {
          return refuse(req, res, 403, "You are not allowed to use this PiFog", `${decision.who} signed in at the provider, but is not allowed here: ${decision.reason}. Ask this PiFog's admin to let you in.`, {
            who: decision.who,
            kind: "not-allowed",
            links: [{ href: "/signin", text: "Sign in as someone else" }],
          });
        }
        const { setCookie } = parts.sessions.start({ name: decision.name, role: decision.role, via: "oidc" }, { secure: secure(req) });
        res.status(303).set("Cache-Control", "no-store").set("Set-Cookie", setCookie).location(next).end();
      },
      (err: unknown) => failed(req, res, err, "/ui/"),
    );
  });

  router.get("/signin/oidc/whoami", (req, res) => {
    const session = parts.sessions.fromCookie(req.headers.cookie);
    res.set("Cache-Control", "no-store");
    if (!session) return void res.status(401).json({ error: "not signed in" });
    res.json({ name: session.name, role: session.role, via: session.via, expiresAt: new Date(session.expiresAt).toISOString() });
  });

  function failed(req: Request, res: Response, err: unknown, next: string): void {
    if (err instanceof OidcFailure) {
      if (err.kind === "provider-down") console.warn(`PiFog: OpenID Connect sign-in failed: ${err.message}`);
      return refuse(req, res, err.status, TITLES[err.kind], err.message, { kind: err.kind, links: again(next) });
    }
    console.error("PiFog: OpenID Connect sign-in failed:", err);
    refuse(req, res, 500, "The sign-in failed", `something went wrong on this PiFog: ${(err as Error).message}`, { kind: "internal", links: again(next) });
  }

  return router;
}
