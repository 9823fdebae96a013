// What a starting runtime trusts and signs with (services.trust), by its role:
// - the hub (and the all-in-one fog): the identity store in the data dir (the CA made on the first start), with the
//   hub's own identity (device `hub` in `all`, PIFOG_DEVICE_ID otherwise, role hub) issued when it has none;
// - a Pi: its bundle (PIFOG_IDENTITY, or <data dir>/identity/devices/<device id>/), or nothing when it was never
//   enrolled (then every signed command is refused, saying how to enrol it).
// And the hub's half of the revocation list's journey: it publishes the CA-signed list, retained, on
// `trustTopics.crl` from the broker itself, again on every change, so each Pi follows revocations without a restart.
import fs from "node:fs";
import path from "node:path";
import type { Clock } from "../clock";
import { trustTopics } from "../contract";
import type { PifogConfig } from "../runtime/config";
import { ensureCa, ensureDevice } from "./admin";
import { writeFileAtomic } from "./files";
import { identityPaths, ownBundleDir, readBundle } from "./paths";
import { IdentityStore } from "./store";
import { bundleTrust, directoryTrust, noTrust, type Trust } from "./trust";
import type { IdentityDirectory } from "./types";

export interface RuntimeTrust {
  trust: Trust;
  /** The identity store, on a hub (the broker may share it). */
  directory: IdentityStore | null;
  close(): void;
}

/** The hub's own identity's id: `hub` in the all-in-one fog (its hub tab's device), else the runtime's device id. */
export function hubIdentityId(config: Pick<PifogConfig, "role" | "deviceId">): string {
  return config.role === "all" ? "hub" : config.deviceId;
}

/** The runtime's trust for its role (see above). `log`: one line for what a person should know. */
export async function openRuntimeTrust(
  config: Pick<PifogConfig, "role" | "deviceId" | "dataDir">,
  clock: Pick<Clock, "now">,
  options: { env?: NodeJS.ProcessEnv; hubUrl?: string; log?: (line: string) => void } = {},
): Promise<RuntimeTrust> {
  const log = options.log ?? ((line: string) => console.warn(line));
  if (config.role === "all" || config.role === "hub") {
    const now = new Date(clock.now());
    await ensureCa(config.dataDir, { now });
    let signer: { cert: string; key: string } | null = null;
    try {
      signer = await ensureDevice(config.dataDir, hubIdentityId(config), "hub", { hubUrl: options.hubUrl ?? "mqtts://127.0.0.1:8883", now });
    } catch (err) {
      // a revoked hub identity stays revoked: the hub runs, and its door commands are refused until it is re-enrolled
      log(`PiFog: the hub has no identity to sign door commands with: ${(err as Error).message}`);
    }
    const directory = await IdentityStore.open(config.dataDir, { watch: true, onError: (err) => log(`PiFog: identities not reloaded: ${err.message}`) });
    return { trust: directoryTrust(directory, signer, clock), directory, close: () => directory.close() };
  }
  const bundle = readBundle(ownBundleDir(config.dataDir, config.deviceId, options.env ?? process.env));
  if (!bundle) return { trust: noTrust(), directory: null, close: () => undefined };
  // the last revocation list taken is kept, so a restarted Pi honours it before the hub's retained one arrives
  const kept = keptCrlFile(config.dataDir);
  const trust = bundleTrust(bundle, clock, (pem) => {
    try {
      writeFileAtomic(kept, pem);
    } catch (err) {
      log(`PiFog: the revocation list could not be kept in ${kept}: ${(err as Error).message}`);
    }
  });
  if (fs.existsSync(kept)) {
    const r = await trust.acceptCrl(fs.readFileSync(kept, "utf8"));
    if (!r.taken) log(`PiFog: the kept revocation list ${kept} was not taken: ${r.detail}`);
  }
  return { trust, directory: null, close: () => undefined };
}

/** Where a Pi keeps the last revocation list it took (its own; the hub's list is the store's crl.pem). */
export function keptCrlFile(dataDir: string): string {
  return path.join(identityPaths(dataDir).dir, "hub-crl.pem");
}

/** Anything that publishes as the broker itself (aedes' in-process publish: no client, so no client's ACL). */
export type BrokerPublish = (topic: string, payload: Buffer, options: { qos: 1; retain: true }) => void;

/**
 * Publishes the directory's revocation list retained on `trustTopics.crl` now and after every change of the
 * identities (a `pifog device revoke` included). Returns the function that stops it.
 */
export function publishRevocations(publish: BrokerPublish, directory: Pick<IdentityDirectory, "crl" | "on" | "off">): () => void {
  let last = "";
  const send = () => {
    const crl = directory.crl();
    if (crl === "" || crl === last) return;
    last = crl;
    publish(trustTopics.crl(), Buffer.from(crl, "utf8"), { qos: 1, retain: true });
  };
  send();
  directory.on("changed", send);
  return () => directory.off("changed", send);
}
