// Pairing a Pi by a code (issue 12), the Pi's side: a Pi started with PIFOG_HUB_URL and no identity makes its own key
// pair, asks the hub for a code, prints the code and the hub CA's fingerprint for the person to compare, and polls
// until an admin approved it (a new code when one expires). It pins the CA it first received: an answer signed by
// another CA is refused loudly, now and on every later pairing. The identity is stored 0600 in its own bundle dir.
import { generateKeyPairSync } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Clock } from "../clock";
import { isTopicLevel } from "../contract";
import type * as CaModule from "./ca";
import { writeFileAtomic } from "./files";
import type { PairLogin, PairingTicket, PollAnswer } from "./pairing";
import { bundlePaths, identityPaths, readBundle, type HubFile } from "./paths";
import type { DeviceRole } from "./types";

/** ca.ts, loaded when a Pi pairs (see admin.ts). */
function x509(): typeof CaModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("./ca") as typeof CaModule;
}

/** A pairing that cannot go on: the hub answered with another CA, refused the request, or sent something wrong. */
export class PairClientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PairClientError";
  }
}

export interface PairClientOptions {
  /** The hub's HTTP base URL (PIFOG_HUB_URL), e.g. http://hub.local:1880. */
  hubUrl: string;
  role: DeviceRole;
  /** The id the Pi suggests (its PIFOG_DEVICE_ID). */
  deviceId: string;
  version: string;
  login: PairLogin;
  /** Where the identity goes (ownBundleDir). */
  bundleDir: string;
  /** The data dir: the pinned CA lives in its identity folder. */
  dataDir: string;
  /** PIFOG_MQTT_URL when set: written to hub.json instead of the URL derived from the hub's address. */
  mqttUrl?: string;
  /** Between polls, and the first wait after the hub cannot be reached, ms. */
  pollMs: number;
  clock: Pick<Clock, "setTimeout">;
  /** Where the person reads what to do (the console). */
  log: (text: string) => void;
  /** Each new code, for a Pi that can also show it (a StatusPi scrolls it on its Sense HAT). */
  onCode?: (code: string) => void;
}

/** A Pi that cannot do TLS: its login, beside hub.json in the bundle dir (0600). */
export interface LoginFile {
  username: string;
  password: string;
}

export interface PairedIdentity {
  hub: HubFile;
  dir: string;
  login?: LoginFile;
}

/** Where a Pi keeps the hub's CA as it first received it. */
export function pinnedCaFile(dataDir: string): string {
  return path.join(identityPaths(dataDir).dir, "pinned-ca.pem");
}

export function loginFile(bundleDir: string): string {
  return path.join(bundleDir, "login.json");
}

/** The identity a paired Pi stored (a certificate bundle, or hub.json and login.json), or null when it has none. */
export function readPairedIdentity(bundleDir: string): PairedIdentity | null {
  const bundle = readBundle(bundleDir);
  if (bundle) return { hub: { url: bundle.url, device: bundle.device, role: bundle.role }, dir: bundleDir };
  const file = loginFile(bundleDir);
  if (!fs.existsSync(file)) return null;
  try {
    const login = JSON.parse(fs.readFileSync(file, "utf8")) as LoginFile;
    const hub = JSON.parse(fs.readFileSync(bundlePaths(bundleDir).hub, "utf8")) as HubFile;
    if (typeof login.username !== "string" || typeof login.password !== "string" || typeof hub.url !== "string" || !isTopicLevel(String(hub.device))) throw new Error("fields missing");
    return { hub, dir: bundleDir, login };
  } catch (err) {
    throw new PairClientError(`the paired login in ${bundleDir} is damaged (${(err as Error).message}): remove the folder to pair again`);
  }
}

function sleep(clock: Pick<Clock, "setTimeout">, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

async function answer(res: Response): Promise<Record<string, unknown>> {
  try {
    return (await res.json()) as Record<string, unknown>;
  } catch {
    return { error: `HTTP ${res.status}` };
  }
}

function banner(o: PairClientOptions, ticket: PairingTicket & { pairUrl?: string }): string {
  const until = new Date(ticket.expiresAt).toISOString().slice(11, 16);
  return [
    "",
    "================================================================================",
    ` PiFog: this ${o.role} has no identity yet. Pair it with the hub:`,
    `   1. open           ${ticket.pairUrl ?? `${o.hubUrl}/ui/`}  (Devices tab, as an admin)`,
    `   2. enter the code ${ticket.code}  (until ${until} UTC; it works once)`,
    `   3. check that the hub shows the same CA fingerprint:`,
    `        ${ticket.caFingerprint}`,
    "   Waiting for the approval…",
    "================================================================================",
    "",
  ].join("\n");
}

/** Checks the hub's CA against the one pinned (pins it the first time). Throws loudly on a different one. */
function checkPin(dataDir: string, caCert: string, said: string): void {
  const actual = x509().fingerprint(caCert);
  if (actual !== said) throw new PairClientError(`the hub sent a CA whose fingerprint (${actual}) is not the one it announced (${said}): not pairing`);
  const file = pinnedCaFile(dataDir);
  if (fs.existsSync(file)) {
    const pinned = x509().fingerprint(fs.readFileSync(file, "utf8"));
    if (pinned !== actual) {
      throw new PairClientError(
        `THE HUB'S CA CHANGED: this Pi pinned CA ${pinned}, the hub at the address given now shows ${actual}. Not pairing. ` +
          `If the hub's CA was really replaced, remove ${file} and start again; otherwise something is impersonating the hub.`,
      );
    }
    return;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileAtomic(file, caCert, 0o600);
}

function checkedTicket(body: Record<string, unknown>): PairingTicket & { pairUrl?: string } {
  const ok =
    typeof body.id === "string" &&
    typeof body.code === "string" &&
    typeof body.pollToken === "string" &&
    typeof body.expiresAt === "number" &&
    typeof body.caCert === "string" &&
    typeof body.caFingerprint === "string";
  if (!ok) throw new PairClientError("the hub's answer to the pairing request is not one PiFog gives (is PIFOG_HUB_URL the hub's HTTP address?)");
  return body as unknown as PairingTicket & { pairUrl?: string };
}

function hubHost(hubUrl: string): string {
  return new URL(hubUrl).hostname;
}

/** Writes the approved identity (every file 0600; cert.pem last, since its presence means "paired"). */
function store(o: PairClientOptions, approved: Extract<PollAnswer, { state: "approved" }>, privateKey: string | null): PairedIdentity {
  const host = hubHost(o.hubUrl);
  const certificate = approved.login === "certificate";
  const port = certificate ? approved.mqttsPort : approved.mqttPort;
  const url = o.mqttUrl ?? (port ? `${certificate ? "mqtts" : "mqtt"}://${host}:${port}` : undefined);
  if (!url) throw new PairClientError("the hub did not say which port its broker listens on: set PIFOG_MQTT_URL");
  const hub: HubFile = {
    url,
    device: approved.device.id,
    role: approved.device.role,
    ...(approved.deviceHttpsPort ? { deviceUrl: `https://${host}:${approved.deviceHttpsPort}` } : {}),
  };
  const p = bundlePaths(o.bundleDir);
  fs.mkdirSync(o.bundleDir, { recursive: true, mode: 0o700 });
  writeFileAtomic(p.ca, approved.ca, 0o600);
  writeFileAtomic(p.hub, `${JSON.stringify(hub, null, 2)}\n`, 0o600);
  if (certificate) {
    writeFileAtomic(p.key, privateKey!, 0o600);
    writeFileAtomic(p.cert, approved.cert!, 0o600);
    return { hub, dir: o.bundleDir };
  }
  const login = { username: approved.username!, password: approved.password! };
  writeFileAtomic(loginFile(o.bundleDir), `${JSON.stringify(login)}\n`, 0o600);
  return { hub, dir: o.bundleDir, login };
}

function checkApproved(o: PairClientOptions, body: Record<string, unknown>, publicKey: string | null): Extract<PollAnswer, { state: "approved" }> {
  const a = body as unknown as Extract<PollAnswer, { state: "approved" }>;
  if (typeof a.ca !== "string" || typeof a.device !== "object" || a.device === null || !isTopicLevel(String(a.device.id))) {
    throw new PairClientError("the hub's approval is not one PiFog gives");
  }
  // the pin: the identity must come from the CA this Pi first met (and whose fingerprint the person compared)
  const pinned = fs.readFileSync(pinnedCaFile(o.dataDir), "utf8");
  if (x509().fingerprint(a.ca) !== x509().fingerprint(pinned)) {
    throw new PairClientError(`THE HUB'S CA CHANGED during pairing: pinned ${x509().fingerprint(pinned)}, the approval comes with ${x509().fingerprint(a.ca)}. Not storing it.`);
  }
  if (a.login === "certificate") {
    if (typeof a.cert !== "string" || !publicKey) throw new PairClientError("the hub's approval has no certificate");
    const info = x509().certificateInfo(a.cert);
    if (!info.issuerMatches(pinned)) throw new PairClientError("the certificate the hub sent is not signed by the pinned CA: not storing it");
    if (!x509().certificateHasKey(a.cert, publicKey)) throw new PairClientError("the certificate the hub sent is not for this Pi's key: not storing it");
    if (info.cn !== a.device.id) throw new PairClientError(`the certificate names "${info.cn}", the approval "${a.device.id}": not storing it`);
  } else if (typeof a.username !== "string" || typeof a.password !== "string") {
    throw new PairClientError("the hub's approval has no login");
  }
  return a;
}

/**
 * Pairs this Pi with the hub (see the top of the file); resolves with the stored identity. Rejects with a
 * PairClientError when pairing cannot go on (another CA, a refused request); waits and tries again while the hub
 * cannot be reached.
 */
export async function pairWithHub(o: PairClientOptions): Promise<PairedIdentity> {
  const base = o.hubUrl.replace(/\/+$/, "");
  let publicKey: string | null = null;
  let privateKey: string | null = null;
  if (o.login === "certificate") {
    // made here, and only the public half is ever sent
    const keys = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    publicKey = keys.publicKey.export({ type: "spki", format: "pem" }).toString();
    privateKey = keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  }
  const unreachable = async (err: unknown) => {
    o.log(`PiFog: the hub at ${base} cannot be reached (${(err as Error).message}); trying again in ${Math.round(o.pollMs / 100) / 10} s`);
    await sleep(o.clock, o.pollMs);
  };
  for (;;) {
    let res: Response;
    try {
      res = await fetch(`${base}/api/pairing`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ role: o.role, suggestedId: o.deviceId, version: o.version, login: o.login, ...(publicKey ? { publicKey } : {}) }),
      });
    } catch (err) {
      await unreachable(err);
      continue;
    }
    const body = await answer(res);
    if (res.status === 429) {
      const wait = Math.max(1, Number(res.headers.get("retry-after")) || 60) * 1000;
      o.log(`PiFog: the hub refused the pairing request for now: ${String(body.error)}`);
      await sleep(o.clock, wait);
      continue;
    }
    if (res.status >= 500) {
      o.log(`PiFog: the hub could not take the pairing request (${String(body.error)}); trying again`);
      await sleep(o.clock, o.pollMs);
      continue;
    }
    if (res.status !== 201) throw new PairClientError(`the hub refused to pair this Pi: ${String(body.error ?? `HTTP ${res.status}`)}`);
    const ticket = checkedTicket(body);
    checkPin(o.dataDir, ticket.caCert, ticket.caFingerprint);
    o.log(banner(o, ticket));
    o.onCode?.(ticket.code);
    // poll until approved, or until the code is gone (then a new one)
    for (;;) {
      await sleep(o.clock, o.pollMs);
      let poll: Response;
      try {
        poll = await fetch(`${base}/api/pairing/${encodeURIComponent(ticket.id)}`, { headers: { authorization: `Bearer ${ticket.pollToken}` } });
      } catch (err) {
        o.log(`PiFog: the hub at ${base} cannot be reached (${(err as Error).message}); still waiting`);
        continue;
      }
      const state = await answer(poll);
      if (poll.status === 200 && state.state === "pending") continue;
      if (poll.status === 200 && state.state === "approved") {
        const approved = checkApproved(o, state, publicKey);
        const identity = store(o, approved, privateKey);
        o.log(`PiFog: paired as "${identity.hub.device}" (owner ${approved.device.owner}); identity stored in ${o.bundleDir}; connecting to ${identity.hub.url}`);
        return identity;
      }
      if (poll.status === 410 || poll.status === 404) {
        o.log(`PiFog: ${String(state.error ?? "the code is no longer valid")}. Asking the hub for a new code.`);
        break;
      }
      if (poll.status === 429 || poll.status >= 500) continue;
      throw new PairClientError(`the hub refused this Pi's pairing: ${String(state.error ?? `HTTP ${poll.status}`)}`);
    }
  }
}
