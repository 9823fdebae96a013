// A 3-node NATS cluster with its MQTT listener (JetStream, every MQTT stream on three replicas) on free loopback
// ports, each node its own process and store dir: started, awaited, killed one node at a time, stopped. The machine's
// own NATS on 127.0.0.1:4222 is never used. CI installs Debian's `nats-server`; a missing binary is a failure.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import mqtt from "mqtt";
import { freePorts } from "./ports";

export const NATS_BIN = ["/usr/bin/nats-server", "/usr/sbin/nats-server", "/usr/local/bin/nats-server"].find((p) => fs.existsSync(p));

export interface NatsNode {
  name: string;
  /** The node's MQTT listener, mqtt://127.0.0.1:<port>. */
  mqttUrl: string;
  mqttPort: number;
  clientPort: number;
  clusterPort: number;
  monitorPort: number;
  /** Whether its process runs. */
  running(): boolean;
  /** SIGKILL (a crash: nothing flushed, no goodbye to the routes) and wait for its exit. */
  kill(): Promise<void>;
  output(): string;
}

export interface NatsCluster {
  nodes: NatsNode[];
  /** Every node's MQTT listener, comma separated: what PIFOG_MQTT_URL takes for a cluster. */
  urls: string;
  /** The running node an MQTT client whose client id passes `test` is connected to (null: none). */
  nodeOfClient(test: (clientId: string) => boolean): Promise<NatsNode | null>;
  stop(): Promise<void>;
}

interface Ports {
  client: number;
  cluster: number;
  mqtt: number;
  monitor: number;
}

/** One node's config (NATS config syntax): all three routes (its own is ignored), MQTT on its port. */
export function natsNodeConfig(name: string, ports: Ports, routes: number[], storeDir: string): string {
  return [
    `server_name: ${name}`,
    `listen: 127.0.0.1:${ports.client}`,
    `http: 127.0.0.1:${ports.monitor}`,
    `jetstream { store_dir: "${storeDir}" }`,
    `cluster {`,
    `  name: pifog-test`,
    `  listen: 127.0.0.1:${ports.cluster}`,
    `  routes: [${routes.map((p) => `nats-route://127.0.0.1:${p}`).join(", ")}]`,
    `}`,
    // sessions, retained messages and QoS 1 messages on all three nodes: any one may die
    `mqtt { listen: 127.0.0.1:${ports.mqtt}, stream_replicas: 3, ack_wait: "5s" }`,
    "",
  ].join("\n");
}

function getJson(port: number, pathAndQuery: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: pathAndQuery, timeout: 2000 }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch {
          resolve({ status: res.statusCode ?? 0, body: text });
        }
      });
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve({ status: 0, body: null }));
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

/** Whether an MQTT client gets its CONNACK from `port` within `ms` (the first one on a node makes the account's
 * MQTT streams, which needs the JetStream meta leader). */
async function mqttAnswers(port: number, ms: number): Promise<boolean> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: `pifog-ready-${port}`, clean: true, reconnectPeriod: 0, connectTimeout: ms });
  try {
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      client.once("connect", () => {
        clearTimeout(timer);
        resolve(true);
      });
      client.once("error", () => {
        clearTimeout(timer);
        resolve(false);
      });
      client.once("close", () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
  } finally {
    client.end(true);
  }
}

/** Ready: JetStream answers healthy with a meta leader the node knows, and its MQTT listener answers a CONNECT. */
async function waitReady(node: { name: string; monitorPort: number; mqttPort: number; child: ChildProcess; output(): string }, size: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (node.child.exitCode !== null) throw new Error(`nats-server ${node.name} exited with ${node.child.exitCode}:\n${node.output().slice(-2000)}`);
    const health = await getJson(node.monitorPort, "/healthz");
    const meta = (await getJson(node.monitorPort, "/jsz")).body as { meta_cluster?: { leader?: string; cluster_size?: number } } | null;
    const led = !!meta?.meta_cluster?.leader && (meta.meta_cluster.cluster_size ?? 0) >= size;
    if (health.status === 200 && led && (await portOpen(node.mqttPort)) && (await mqttAnswers(node.mqttPort, 3000))) return;
    if (Date.now() > deadline) throw new Error(`nats-server ${node.name} was not ready in ${timeoutMs} ms:\n${node.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  if (!NATS_BIN) throw new Error("nats-server is not installed (apt-get install nats-server); .ci/run installs it");
  const bin = NATS_BIN;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-nats-"));
  const ports: Ports[] = [];
  const picked = await freePorts(4 * size);
  for (let i = 0; i < size; i++) {
    const [client, cluster, mqttPort, monitor] = picked.slice(4 * i, 4 * i + 4);
    ports.push({ client, cluster, mqtt: mqttPort, monitor });
  }
  const started: Array<NatsNode & { child: ChildProcess }> = [];
  for (let i = 0; i < size; i++) {
    const name = `n${i + 1}`;
    const dir = path.join(root, name);
    fs.mkdirSync(path.join(dir, "js"), { recursive: true });
    const conf = path.join(dir, "nats.conf");
    fs.writeFileSync(conf, natsNodeConfig(name, ports[i], ports.map((p) => p.cluster), path.join(dir, "js")));
    const child = spawn(bin, ["-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const keep = (d: Buffer) => {
      output = (output + d.toString()).slice(-20_000);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    started.push({
      name,
      child,
      mqttUrl: `mqtt://127.0.0.1:${ports[i].mqtt}`,
      mqttPort: ports[i].mqtt,
      clientPort: ports[i].client,
      clusterPort: ports[i].cluster,
      monitorPort: ports[i].monitor,
      running: () => child.exitCode === null && child.signalCode === null,
      kill: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
        await exited;
      },
      output: () => output,
    });
  }
  const stop = async () => {
    await Promise.all(
      started.map(async (n) => {
        if (!n.running()) return;
        const exited = new Promise<void>((resolve) => n.child.once("exit", () => resolve()));
        n.child.kill("SIGTERM");
        await exited;
      }),
    );
    fs.rmSync(root, { recursive: true, force: true });
  };
  try {
    // one after the other: the first MQTT client makes the account's MQTT streams, the others find them
    for (const n of started) await waitReady(n, size, 30_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    nodes: started,
    urls: started.map((n) => n.mqttUrl).join(","),
    nodeOfClient: async (test) => {
      for (const n of started) {
        if (!n.running()) continue;
        // MQTT clients are among the node's client connections, with their MQTT client id
        const { body } = await getJson(n.monitorPort, "/connz?limit=10000");
        const conns = (body as { connections?: Array<{ mqtt_client?: string }> } | null)?.connections ?? [];
        if (conns.some((c) => c.mqtt_client !== undefined && test(c.mqtt_client))) return n;
      }
      return null;
    },
    stop,
  };
}
