// The one place the environment is written: for the `${VAR}` placeholders of the shipped flows (a device's broker,
// id and hardware, the forwarder's remote broker, the core MQTT nodes' broker) and their function nodes' `env.get`
// (the data dir, the runtime's own HTTP address for the dashboard's history reads). PiFog's nodes themselves read
// the runtime's services, never the environment.
import type { PifogConfig } from "./config";

/** `mqttUrl`: the runtime's broker; `httpPort`: where its HTTP server listens. */
export function exportFlowEnvironment(config: PifogConfig, mqttUrl: string, httpPort: number, env: NodeJS.ProcessEnv = process.env): void {
  const selfHost = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  env.PIFOG_MQTT_URL = mqttUrl;
  env.PIFOG_FACES_REMOTE_URL = config.facesRemoteUrl ?? mqttUrl;
  // `all` sets each tab's own id (nodes/lib/runtime/flows.ts)
  if (config.role !== "all") env.PIFOG_DEVICE_ID = config.deviceId;
  env.PIFOG_HARDWARE = config.hardware;
  env.PIFOG_DATA_DIR = config.dataDir;
  env.PIFOG_HTTP_URL = `http://${selfHost.includes(":") ? `[${selfHost}]` : selfHost}:${httpPort}`;
}
