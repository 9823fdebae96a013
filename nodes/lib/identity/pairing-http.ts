// The pairing routes (issue 12), mounted by the launcher on a hub:
//   POST /api/pairing            anyone on the network (a Pi without an identity); limited per address
//   GET  /api/pairing/:id        the Pi that asked, with its poll token (Authorization: Bearer <pollToken>)
//   GET  /api/pairing            admin: the Pis waiting
//   POST /api/pairing/approve    admin: {code, id, owner}
//   GET  /api/devices            admin: every device (role, owner, online, last seen, expiry, version, revoked)
//   POST /api/devices/:id/revoke admin
// Every refusal is a status and {error, code}, and is audited (the service audits its own; this module the rest).
import express, { type NextFunction, type Request, type Response } from "express";
import { principalOf, requireRole, type ApiAuthParts } from "../security/api-auth";
import { clientAddress, retryAfterSeconds } from "../security/throttle";
import { PairingRateLimited, type HubPairing } from "./pairing";
import { PairingError } from "./pairing-types";

/** Where the person approving a Pi goes: the dashboard (its Devices tab). */
export const PAIRING_PAGE = "/ui/";

export interface PairingRouteParts extends ApiAuthParts {
  /** The hub's pairing service; null: this runtime pairs no Pis. */
  pairing: () => HubPairing | null;
}

const addressOf = (req: Request) => clientAddress(req.socket.remoteAddress);

function answerError(res: Response, err: unknown): void {
  if (err instanceof PairingRateLimited) res.set("Retry-After", String(retryAfterSeconds(err.retryAfterMs)));
  if (err instanceof PairingError) return void res.status(err.status).json({ error: err.message, code: err.code });
  res.status(500).json({ error: `pairing failed: ${(err as Error).message}` });
}

export function pairingRoutes(parts: PairingRouteParts): express.Router {
  const router = express.Router();
  const admin = requireRole("admin", parts);
  const body = express.json({ limit: "8kb" });
  const service = (req: Request, res: Response): HubPairing | null => {
    const pairing = parts.pairing();
    if (!pairing) {
      parts.audit.record({ event: "pairing.refused", via: "http", who: addressOf(req), reason: "this runtime pairs no Pis", path: req.originalUrl.slice(0, 200) });
      res.status(404).json({ error: "this runtime pairs no Pis: pair with the hub (the runtime with the broker)", code: "no-pairing" });
    }
    return pairing;
  };
  const who = (res: Response) => principalOf(res)?.name ?? "unknown";

  router.post("/api/pairing", body, (req, res) => {
    const pairing = service(req, res);
    if (!pairing) return;
    pairing.request(req.body, addressOf(req)).then(
      (ticket) => {
        const host = (req.get("host") ?? "").slice(0, 255);
        res.status(201).json({ ...ticket, pairUrl: `${req.protocol}://${host}${PAIRING_PAGE}` });
      },
      (err: unknown) => answerError(res, err),
    );
  });

  router.get("/api/pairing/:id", (req, res) => {
    const pairing = service(req, res);
    if (!pairing) return;
    const m = /^Bearer\s+(\S{1,200})\s*$/i.exec(req.get("authorization") ?? "");
    if (!m) {
      parts.audit.record({ event: "pairing.poll.refused", via: "http", who: addressOf(req), reason: "no poll token" });
      return void res.status(401).json({ error: "send the poll token POST /api/pairing gave: Authorization: Bearer <pollToken>", code: "bad-token" });
    }
    try {
      res.json(pairing.poll(String(req.params.id).slice(0, 64), m[1]!, addressOf(req)));
    } catch (err) {
      answerError(res, err);
    }
  });

  router.get("/api/pairing", admin, (req, res) => {
    const pairing = service(req, res);
    if (pairing) res.json({ pending: pairing.pending(), caFingerprint: pairing.caFingerprint() });
  });

  router.post("/api/pairing/approve", admin, body, (req, res) => {
    const pairing = service(req, res);
    if (!pairing) return;
    const b = (typeof req.body === "object" && req.body !== null ? req.body : {}) as Record<string, unknown>;
    const text = (v: unknown) => (typeof v === "string" ? v.slice(0, 200) : "");
    pairing.approve(text(b.code), { id: text(b.id), owner: text(b.owner), by: who(res), address: addressOf(req) }).then(
      (device) => res.json({ device }),
      (err: unknown) => answerError(res, err),
    );
  });

  router.get("/api/devices", admin, (req, res) => {
    const pairing = service(req, res);
    if (pairing) res.json({ devices: pairing.devices() });
  });

  router.post("/api/devices/:id/revoke", admin, (req, res) => {
    const pairing = service(req, res);
    if (!pairing) return;
    pairing.revoke(String(req.params.id).slice(0, 64), { by: who(res), address: addressOf(req) }).then(
      (device) => res.json({ device }),
      (err: unknown) => answerError(res, err),
    );
  });

  // a body that is not JSON or too large: a clear answer, not express's HTML page
  router.use((err: Error & { status?: number; type?: string }, req: Request, res: Response, next: NextFunction) => {
    if (!req.originalUrl.startsWith("/api/pairing") && !req.originalUrl.startsWith("/api/devices")) return next(err);
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 400;
    const reason = err.type === "entity.too.large" ? "the body is too large (8 kB at most)" : `the body is not JSON: ${err.message}`;
    parts.audit.record({ event: "pairing.request.refused", via: "http", who: addressOf(req), reason, path: req.originalUrl.slice(0, 200) });
    res.status(status).json({ error: reason, code: "bad-request" });
  });
  return router;
}
