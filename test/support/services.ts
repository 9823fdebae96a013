// The runtime's services as a test builds them: the configuration a runtime with this data dir (and `env`) would
// read, the test's clock, and, when the test says so, its in-process broker as the runtime's embedded one.
import type { EmbeddedBroker } from "../../nodes/lib/broker/embedded-broker";
import { readConfig } from "../../nodes/lib/runtime/config";
import { createServices, type PifogServices, type ServiceParts } from "../../nodes/lib/services";

export interface TestServiceOptions extends Partial<Omit<ServiceParts, "config" | "broker">> {
  dataDir: string;
  /** The runtime's broker: where a device node with no broker of its own connects. */
  brokerUrl?: string;
  /** That broker runs in this process as the runtime's own (the history logger stores before it acknowledges). */
  embedded?: EmbeddedBroker;
  /** How the runtime's own connections log in to that broker (its runtime user). */
  brokerAuth?: { username: string; password: string };
  /** More of the runtime's environment (PIFOG_DEVICE_ID, PIFOG_MQTT_MAX_PACKET…). */
  env?: NodeJS.ProcessEnv;
}

export function testServices(options: TestServiceOptions): PifogServices {
  const { dataDir, brokerUrl, embedded, brokerAuth, env, ...parts } = options;
  const config = readConfig({ PIFOG_DATA_DIR: dataDir, ...(brokerUrl ? { PIFOG_MQTT_URL: brokerUrl } : {}), ...env });
  return createServices({ ...parts, config, ...(brokerUrl ? { broker: { url: brokerUrl, embedded: embedded ?? null, ...(brokerAuth ? { auth: brokerAuth } : {}) } } : {}) });
}
