// Who a request on the hub's device listener is: a device by its client certificate (signed by the local CA,
// current, not revoked — asked of the identity store on every request, so a revocation is honoured at once, as the
// broker does), or, for a Pi paired with a password, HTTP Basic with its device id and password. Users, anonymous
// callers and everyone else are refused: 401 (no credentials, a wrong password) or 403 (a certificate that is not a
// device's now), with the reason in the answer and in the audit record.
import type { RequestHandler, Request, Response } from "express";
import type { TLSSocket } from "node:tls";
import type { AuditEvent } from "../audit/audit";
import { RefusalRecorder } from "../broker/client-guard";
import { CertificateRefused, deviceOfCertificate, tlsRefusalReason } from "../identity/device-certificate";
import type { Identity, IdentityDirectory } from "../identity/types";
import { clientAddress, retryAfterSeconds, type LoginThrottle } from "./throttle";

export interface DeviceAuthParts {
  identities: IdentityDirectory;
  /** Wrong device passwords per address (the broker's device logins share it). */
  throttle: LoginThrottle | null;
  refusals: RefusalRecorder;
}

export const DEVICE_REALM = 'Basic realm="pifog-devices", charset="UTF-8"';

function refuse(req: Request, res: Response, parts: DeviceAuthParts, status: 401 | 403 | 429, key: string, reason: string, who?: string): void {
  const address = clientAddress(req.socket.remoteAddress);
  parts.refusals.refuse(`device-https:${address}:${key}:${who ?? ""}`, {
    event: "device.https.refused",
    via: "https",
    who: who ?? address,
    address,
    reason,
    status,
    path: req.originalUrl.slice(0, 200),
  } satisfies AuditEvent);
  if (status === 401) res.set("WWW-Authenticate", DEVICE_REALM);
  res.status(status).json({ error: reason });
}

function basicCredentials(header: string | undefined): { name: string; password: string } | null {
  const m = /^Basic\s+([A-Za-z0-9+/=]{1,1024})\s*$/i.exec(header ?? "");
  if (!m) return null;
  const text = Buffer.from(m[1]!, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon <= 0) return null;
  return { name: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** Puts the device in `res.locals.pifogDevice`, or answers the refusal. */
export function deviceAuth(parts: DeviceAuthParts): RequestHandler {
  return (req, res, next) => {
    const socket = req.socket as TLSSocket;
    const peer = typeof socket.getPeerCertificate === "function" ? socket.getPeerCertificate() : null;
    const hasCertificate = !!peer && Object.keys(peer).length > 0;
    if (hasCertificate) {
      const cn = typeof peer.subject?.CN === "string" ? peer.subject.CN : "";
      const who = `certificate CN "${cn.slice(0, 64)}" from ${clientAddress(socket.remoteAddress)}`;
      if (!socket.authorized) {
        const code = String(socket.authorizationError ?? "UNVERIFIED");
        return refuse(req, res, parts, 403, code, `TLS client refused: ${tlsRefusalReason(code)} (${code})`, who);
      }
      try {
        res.locals.pifogDevice = deviceOfCertificate(parts.identities, cn, peer.serialNumber ?? "");
      } catch (err) {
        if (!(err instanceof CertificateRefused)) throw err;
        return refuse(req, res, parts, 403, err.key, err.message, who);
      }
      return next();
    }
    const creds = basicCredentials(req.get("authorization"));
    if (!creds) {
      return refuse(req, res, parts, 401, "none", "a device signs in with its client certificate from the hub's CA, or (paired with a password) HTTP Basic with its device id and password");
    }
    const address = clientAddress(req.socket.remoteAddress);
    const admission = parts.throttle?.admit(address, creds.name);
    if (admission && !admission.allowed) {
      res.set("Retry-After", String(retryAfterSeconds(admission.retryAfterMs)));
      return refuse(req, res, parts, 429, "throttled", `too many wrong passwords from this address: refused for ${retryAfterSeconds(admission.retryAfterMs)} s`, `device "${creds.name.slice(0, 64)}" from ${address}`);
    }
    const attempt = admission?.allowed ? admission.attempt : null;
    parts.identities.checkPassword(creds.name, creds.password).then(
      (identity: Identity | null) => {
        const who = `device "${creds.name.slice(0, 64)}" from ${address}`;
        if (!identity) {
          attempt?.wrong();
          return refuse(req, res, parts, 401, "password", `wrong device id or password (device "${creds.name.slice(0, 64)}")`, who);
        }
        attempt?.right();
        if (identity.kind !== "device") return refuse(req, res, parts, 403, "user", `"${creds.name.slice(0, 64)}" is a user, not a device: only devices upload here`, who);
        const record = parts.identities.device(identity.id);
        if (!record || record.revokedAt) return refuse(req, res, parts, 403, "revoked", `device "${identity.id}" is revoked`, who);
        res.locals.pifogDevice = identity;
        next();
      },
      (err: Error) => {
        attempt?.abandon();
        res.status(500).json({ error: err.message });
      },
    );
  };
}
