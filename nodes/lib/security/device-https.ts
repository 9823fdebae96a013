// The hub's device listener (PIFOG_DEVICE_HTTPS_PORT, 8443): HTTPS with the hub's server certificate from the local
// CA, asking every client for its certificate (the broker's TLS listener does the same). Only devices get in
// (device-auth.ts) and only the routes given are served (the camera's uploads): nothing of the dashboard, the editor
// or the API is reachable here. A revocation changes the CRL it presents and drops that device's open connections.
import express, { type Router } from "express";
import https from "node:https";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { AuditEvent } from "../audit/audit";
import { listen } from "../runtime/listen";
import { RefusalRecorder } from "../broker/client-guard";
import { normalSerial } from "../identity/device-certificate";
import type { DeviceRecord, IdentityDirectory } from "../identity/types";
import { deviceAuth } from "./device-auth";
import type { LoginThrottle } from "./throttle";

export interface DeviceHttpsOptions {
  identities: IdentityDirectory;
  host: string;
  /** 0: any free port. */
  port: number;
  audit: { record(event: AuditEvent): void };
  throttle: LoginThrottle | null;
  now: () => number;
  /** What devices may do here. */
  routes: Router;
}

export class DeviceHttps {
  private readonly sockets = new Set<Socket>();
  private unwatch: () => void = () => undefined;

  private constructor(
    private readonly server: https.Server,
    readonly port: number,
  ) {}

  /** https://127.0.0.1:<port>: where this runtime's own (simulated) devices upload. */
  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  static async start(o: DeviceHttpsOptions): Promise<DeviceHttps> {
    const refusals = new RefusalRecorder(o.audit, o.now);
    const app = express();
    app.disable("x-powered-by");
    app.use(deviceAuth({ identities: o.identities, throttle: o.throttle, refusals }));
    app.use(o.routes);
    app.use((_req, res) => void res.status(404).json({ error: "not found: this listener only takes devices' uploads" }));
    const tlsOptions = () => {
      const server = o.identities.serverTls();
      const crl = o.identities.crl();
      return { cert: server.cert, key: server.key, ca: o.identities.caCert, ...(crl ? { crl } : {}), minVersion: "TLSv1.2" as const };
    };
    const server = https.createServer({ ...tlsOptions(), requestCert: true, rejectUnauthorized: false }, app);
    server.requestTimeout = 10 * 60_000;
    server.on("tlsClientError", (err: Error & { code?: string }, socket: TLSSocket) => {
      const address = socket.remoteAddress ?? "unknown";
      const kind = err.message.replace(/^[0-9A-F]+:error:[0-9A-F]+:/, "").split(":").slice(0, 2).join(":");
      refusals.refuse(`device-https:${address}:tls:${err.code ?? ""}:${kind}`, {
        event: "device.https.refused",
        via: "https",
        who: address,
        address,
        code: err.code,
        reason: `TLS handshake failed: ${err.message}`,
      });
    });
    const port = await listen(server, o.port, o.host, "PIFOG_DEVICE_HTTPS_PORT");
    const listener = new DeviceHttps(server, port);
    server.on("secureConnection", (socket: TLSSocket) => {
      listener.sockets.add(socket);
      socket.on("close", () => listener.sockets.delete(socket));
    });
    const refresh = () => {
      try {
        server.setSecureContext(tlsOptions());
      } catch (err) {
        console.error(`PiFog device listener: keeps its old certificates (${(err as Error).message})`);
      }
    };
    const onRevoked = (device: DeviceRecord) => {
      refresh();
      for (const socket of listener.sockets) {
        const peer = (socket as TLSSocket).getPeerCertificate?.();
        if (peer?.subject?.CN === device.id && normalSerial(peer.serialNumber ?? "") === normalSerial(device.serial)) socket.destroy();
      }
    };
    o.identities.on("changed", refresh);
    o.identities.on("revoked", onRevoked);
    listener.unwatch = () => {
      o.identities.off("changed", refresh);
      o.identities.off("revoked", onRevoked);
    };
    return listener;
  }

  async close(): Promise<void> {
    this.unwatch();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
