// GET /metrics and GET /health on the runtime's HTTP server, and who may read them:
// - /metrics (Prometheus' text format) only for someone signed in, of any role (a viewer's session cookie, or a bearer
//   token: Prometheus scrapes with `pifog token <user>`'s); anyone else gets 401 with the reason, written to the audit;
// - /health answers anyone with 200 {"status":"up"} or 503 {"status":"down"} (a container's healthcheck, systemd, a
//   load balancer: no credentials, cheap); someone signed in gets the whole judgement (each component ok, degraded or
//   down, with why). Degraded is up: the runtime works, something waits. Credentials that do not hold (a forged or
//   expired token) are refused as on every other route, never taken for anonymous.
import express, { type Request, type Response } from "express";
import { requireRole, type ApiAuthParts } from "../security/api-auth";
import type { RuntimeHealthReport } from "./runtime-health";

export interface ObservabilityRouteParts extends ApiAuthParts {
  metrics: () => { exposition(): Promise<{ contentType: string; body: string }>; health(): RuntimeHealthReport };
}

/** The answer anyone gets: up unless down, and only that. */
export function publicHealth(report: Pick<RuntimeHealthReport, "status">): { httpStatus: 200 | 503; body: { status: "up" | "down" } } {
  return report.status === "down" ? { httpStatus: 503, body: { status: "down" } } : { httpStatus: 200, body: { status: "up" } };
}

/** Whether a request brings credentials (a bearer token, or a cookie that is a live session). */
function bringsCredentials(req: Request, parts: ApiAuthParts): boolean {
  if (req.get("authorization")) return true;
  return parts.sessions()?.fromCookie(req.get("cookie")) != null;
}

export function observabilityRoutes(parts: ObservabilityRouteParts): express.Router {
  const router = express.Router();
  const signedIn = requireRole("viewer", parts);
  router.get("/metrics", signedIn, (_req, res: Response) => {
    parts
      .metrics()
      .exposition()
      .then(
        ({ contentType, body }) => {
          // as prom-client words it (express' send would reorder its parameters)
          res.status(200).set({ "Content-Type": contentType, "Cache-Control": "no-store" }).end(body);
        },
        (err: Error) => res.status(500).type("text/plain").send(`metrics could not be collected: ${err.message}\n`),
      );
  });
  router.get(
    "/health",
    (req, res, next) => {
      if (bringsCredentials(req, parts)) return next();
      const answer = publicHealth(parts.metrics().health());
      res.set("Cache-Control", "no-store").status(answer.httpStatus).json(answer.body);
    },
    signedIn,
    (_req, res) => {
      const report = parts.metrics().health();
      res.set("Cache-Control", "no-store").status(publicHealth(report).httpStatus).json(report);
    },
  );
  return router;
}
