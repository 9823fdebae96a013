// The `device-admin` node: the dashboard's Devices tab (issue 12). Admins see the Pis waiting to be paired (their
// codes), approve one by its code with a name and an owner picked from the users, see every device (role, owner,
// online, last seen, identity expiry, version) and revoke one; the hub CA's fingerprint is shown so the person can
// compare it with the one the Pi prints. It all goes through the runtime's pairing service (services.pairing), which
// audits every outcome with who and from where; a runtime without one (no CA, or pairing not built in) says pairing
// is unavailable. Who asks is the signed-in person of the dashboard socket (msg.socketid), never the payload: anyone
// but an admin is refused, answered and audited. On a browser's connect or tab change (a ui_control node's message)
// output 2 shows the Devices tab to an admin and hides it from everyone else.
import type { NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { answerTo, browserEvent, mayAct, refuseAction, senderOf, type DashboardSender } from "../lib/dashboard/dashboard-person";
import { listUsers } from "../lib/identity/admin";
import { PairingError, type DeviceOverview, type PairingService, type PendingPairing } from "../lib/identity/pairing-types";
import { given } from "../lib/node-red/config-value";
import { settingsFor } from "../lib/node-red/device";
import { showStatus } from "../lib/node-red/status";
import { servicesOf, type PifogServices } from "../lib/services";

export interface DeviceAdminDef extends NodeDef {
  tab?: string;
}

export interface DeviceAdminSettings {
  /** The dashboard tab shown to admins only. */
  tab: string;
}

export function normaliseDeviceAdmin(config: Partial<DeviceAdminDef>): DeviceAdminSettings {
  return { tab: given(config.tab) ?? "Devices" };
}

export interface DevicesView {
  admin: boolean;
  /** Whether this runtime can pair (it has a pairing service). */
  available: boolean;
  /** The hub CA's SHA-256 fingerprint ("AB:CD:…"), for the person to compare with the Pi's. */
  fingerprint: string | null;
  pending: PendingPairing[];
  devices: DeviceOverview[];
  /** Who a device may belong to: the user store's names. */
  owners: string[];
  /** Every device's health as the hub's health-monitor judges it (issue 13). */
  health: HealthRow[];
  message?: string;
  error?: string;
}

/** One device's health on the Devices tab: the judgement, how old its last report is, and what it said. */
export interface HealthRow {
  device: string;
  state: "healthy" | "unhealthy" | "unknown";
  since: number | null;
  lastReportAt: number | null;
  /** Seconds since the last report, on the runtime's clock. */
  ageSeconds: number | null;
  cpuTemperatureC: number | null;
  load: number | null;
  /** Percent of memory in use. */
  memoryPercent: number | null;
  /** Percent of the data dir's disk in use. */
  diskPercent: number | null;
  version: string | null;
  lastError: string | null;
}

const used = (p: { totalBytes: number; availableBytes: number } | undefined) =>
  p && p.totalBytes > 0 ? Math.round((1 - p.availableBytes / p.totalBytes) * 1000) / 10 : null;

export function healthRows(services: PifogServices): HealthRow[] {
  const now = services.clock.now();
  return services.health.devices().map((d) => ({
    device: d.device,
    state: d.state ?? "unknown",
    since: d.since,
    lastReportAt: d.lastReportAt,
    ageSeconds: d.lastReportAt === null ? null : Math.max(0, Math.round((now - d.lastReportAt) / 1000)),
    cpuTemperatureC: d.report?.cpuTemperatureC ?? null,
    load: d.report?.load[0] ?? null,
    memoryPercent: used(d.report?.memory),
    diskPercent: used(d.report?.disk),
    version: d.report?.version ?? null,
    lastError: d.report?.lastError ? d.report.lastError.message : null,
  }));
}

/** The runtime's pairing service, when it has one (the hub's, with the embedded broker and a CA). */
export function pairingOf(services: PifogServices): PairingService | null {
  return services.pairing;
}

type AdminMsg = NodeMessageInFlow & { socketid?: unknown; payload?: unknown };

class InputError extends Error {}

function field(payload: unknown, name: string, max: number): string {
  const v = payload && typeof payload === "object" ? (payload as Record<string, unknown>)[name] : undefined;
  if (typeof v !== "string" || v.trim() === "") throw new InputError(`${name} is missing`);
  if (v.trim().length > max) throw new InputError(`${name} is longer than ${max} characters`);
  return v.trim();
}

function devicesView(services: PifogServices, sender: DashboardSender, extra: Pick<DevicesView, "message" | "error"> = {}): DevicesView {
  const admin = mayAct(sender, "admin");
  const pairing = pairingOf(services);
  const empty: DevicesView = { admin, available: pairing !== null, fingerprint: null, pending: [], devices: [], owners: [], health: [], ...extra };
  if (!admin) return empty;
  if (!pairing) return { ...empty, health: healthRows(services) };
  return {
    ...empty,
    fingerprint: pairing.caFingerprint(),
    pending: pairing.pending(),
    devices: pairing.devices(),
    owners: listUsers(services.dataDir).map((u) => u.name).sort(),
    health: healthRows(services),
  };
}

function defineDeviceAdmin(RED: NodeAPI) {
  return class DeviceAdmin extends Node {
    constructor(config: DeviceAdminDef) {
      super(RED);
      this.createNode(config);
      const s = settingsFor(this, () => normaliseDeviceAdmin(config));
      if (!s) return;
      const services = servicesOf(RED);
      if (pairingOf(services)) showStatus(this, "off", RED._("device-admin.status.ready"));
      else showStatus(this, "warn", RED._("device-admin.status.unavailable"));

      this.on("input", (msg: AdminMsg, send, done) => {
        const sender = senderOf(services.dashboardSockets, msg);
        const admin = mayAct(sender, "admin");
        const answer = (extra: Pick<DevicesView, "message" | "error"> = {}) => answerTo(msg, "devices", devicesView(services, sender, extra));
        const happened = browserEvent(msg);
        if (happened === "connect" || happened === "change") {
          send([admin ? answer() : null, answerTo(msg, "tabs", { tabs: admin ? { show: [s.tab] } : { hide: [s.tab] } })]);
          done();
          return;
        }
        if (happened) {
          done();
          return;
        }
        const topic = typeof msg.topic === "string" ? msg.topic.slice(0, 64) : "";
        if (!admin) {
          const why = refuseAction(RED, this, services.audit, sender, { messages: "device-admin", lacking: "not-admin", logKey: "log.refused", action: `devices:${topic || "?"}` });
          send([answer({ error: why }), null]);
          done();
          return;
        }
        if (topic === "list") {
          send([answer(), null]);
          done();
          return;
        }
        if (topic !== "approve" && topic !== "revoke") {
          send([answer({ error: RED._("device-admin.errors.unknown", { action: topic || "?" }) }), null]);
          done();
          return;
        }
        const pairing = pairingOf(services);
        if (!pairing) {
          send([answer({ error: RED._("device-admin.status.unavailable") }), null]);
          done();
          return;
        }
        const by = sender.person!.name;
        let work: Promise<string>;
        try {
          if (topic === "approve") {
            const code = field(msg.payload, "code", 32);
            const id = field(msg.payload, "id", 64);
            const owner = field(msg.payload, "owner", 64);
            if (!listUsers(services.dataDir).some((u) => u.name === owner)) throw new InputError(`no user ${owner} to own it`);
            work = pairing.approve(code, { id, owner, by, address: sender.address }).then((d) => `paired ${d.id} (${d.role}), owned by ${owner}`);
          } else {
            const id = field(msg.payload, "id", 64);
            work = pairing.revoke(id, { by, address: sender.address }).then((d) => `revoked ${d.id}`);
          }
        } catch (err) {
          work = Promise.reject(err as Error);
        }
        work.then(
          (message) => {
            showStatus(this, "ok", message);
            send([answer({ message }), null]);
            done();
          },
          (err: Error) => {
            if (err instanceof InputError || err instanceof PairingError) {
              // the pairing service audits its own refusals; a form filled in wrong is the person's to fix
              if (err instanceof InputError) services.audit.record({ event: `device.${topic}.refused`, via: "dashboard", who: sender.who, reason: err.message, by });
              showStatus(this, "warn", err.message);
              send([answer({ error: err.message }), null]);
              done();
            } else {
              send([answer({ error: RED._("device-admin.errors.failed", { error: err.message }) }), null]);
              done(err);
            }
          },
        );
      });
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineDeviceAdmin(RED).registerType(RED, "device-admin");
}
