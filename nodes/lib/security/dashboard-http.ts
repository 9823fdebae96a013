// The dashboard's HTTP (node-red-dashboard's `ui.middleware`, and the launcher in front of all of /ui): nothing of it
// is served without a live session. A browser asking for a page is sent to the sign-in page, which brings it back;
// anything else (a script, the manifest, an API call) gets 401. Any role passes here: what each role may do is
// checked on the dashboard's socket.
import type { NextFunction, Request, Response } from "express";
import type { WebSessions } from "./web-sessions";

/** Whether a request is a browser opening a page (then it is sent to sign in rather than refused). */
function wantsPage(req: Request): boolean {
  return (req.method === "GET" || req.method === "HEAD") && (req.get("accept") ?? "").includes("text/html");
}

export function dashboardHttpGuard(sessions: () => Pick<WebSessions, "fromCookie">) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (sessions().fromCookie(req.get("cookie"))) return next();
    res.set("Cache-Control", "no-store");
    if (wantsPage(req)) {
      res.redirect(302, `/signin?next=${encodeURIComponent(req.originalUrl)}`);
      return;
    }
    res.status(401).set("Content-Type", "text/plain; charset=utf-8").end("Sign in first: /signin\n");
  };
}
