// The one place the environment is written: for the `${VAR}` placeholders of the shipped flows (a device's broker,
// id and hardware, the forwarder's remote broker, the core MQTT nodes' broker and identity) and their function nodes'
// `env.get` (the data dir, the runtime's own HTTP address for the dashboard's history reads). PiFog's nodes themselves
// read the runtime's services, never the environment.
import path from "node:path";
import { bundlePaths } from "../identity/paths";
import { firstBrokerUrl } from "../mqtt/broker-urls";
import type { PifogConfig } from "./config";
import { IDENTITY_VARIABLES, deviceVariable } from "./flows";

/** A device of this runtime and the folder of its identity bundle (null: it has none). */
export interface FlowIdentity {
  device: string;
  dir: string | null;
}

export interface FlowBrokers {
  /** The broker the flows' devices and core MQTT nodes use (the embedded broker's TLS listener when it has one). */
  mqttUrl: string;
  /** Where the camera's forwarder carries faces when PIFOG_FACES_REMOTE_URL is not set (the runtime's own broker). */
  facesUrl?: string;
}

/** The identity variables of one device: its certificate, key and CA files, and the core MQTT nodes' client id. */
function identityValues(identity: FlowIdentity): Record<(typeof IDENTITY_VARIABLES)[number], string> {
  // without an identity: no TLS files, and still a client id of its own that stays the same across restarts (the face
  // writer's persistent session is found again by it)
  if (!identity.dir) return { PIFOG_TLS_CERT: "", PIFOG_TLS_KEY: "", PIFOG_TLS_CA: "", PIFOG_MQTT_CLIENT_ID: `pifog-${identity.device}-flows` };
  const files = bundlePaths(path.resolve(identity.dir));
  return { PIFOG_TLS_CERT: files.cert, PIFOG_TLS_KEY: files.key, PIFOG_TLS_CA: files.ca, PIFOG_MQTT_CLIENT_ID: `${identity.device}:flows` };
}

/** `httpPort`: where the HTTP server listens; `identities`: the runtime's devices (one, or each of `all`'s). */
export function exportFlowEnvironment(
  config: PifogConfig,
  brokers: FlowBrokers,
  httpPort: number,
  identities: readonly FlowIdentity[] = [],
  env: NodeJS.ProcessEnv = process.env,
): void {
  const selfHost = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  // Node-RED's core MQTT nodes take one broker: a cluster's first node (PiFog's device nodes use them all)
  env.PIFOG_MQTT_URL = firstBrokerUrl(brokers.mqttUrl);
  env.PIFOG_FACES_REMOTE_URL = config.facesRemoteUrl ?? brokers.facesUrl ?? firstBrokerUrl(brokers.mqttUrl);
  // `all` sets each tab's own id (nodes/lib/runtime/flows.ts)
  if (config.role !== "all") env.PIFOG_DEVICE_ID = config.deviceId;
  env.PIFOG_HARDWARE = config.hardware;
  env.PIFOG_DATA_DIR = config.dataDir;
  env.PIFOG_HTTP_URL = `http://${selfHost.includes(":") ? `[${selfHost}]` : selfHost}:${httpPort}`;
  // the core MQTT nodes' tls-config and client id: one device's plainly, or (all) each tab's under its own name
  const own = identities.find((i) => i.device === config.deviceId) ?? { device: config.deviceId, dir: null };
  for (const [name, value] of Object.entries(identityValues(own))) env[name] = value;
  if (config.role === "all") {
    for (const identity of identities) {
      for (const [name, value] of Object.entries(identityValues(identity))) env[deviceVariable(name as (typeof IDENTITY_VARIABLES)[number], identity.device)] = value;
    }
  }
}
