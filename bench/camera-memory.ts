// The camera role's resident memory while it records and streams, beside a bare Node-RED with an empty flow, started
// side by side. The camera runs its shipped flow (flows/camerapi.json) with the front door's "Pictures and faces"
// nodes disabled, as on a camera that is not the door's (so the face model is never loaded), on the hub's broker as
// a paired camera Pi does, its simulated camera playing a person crossing every 30 s (clips recorded) and the hub's
// live-video request retained (frames streamed).
//
// V8 sizes its young generation from the machine's memory: 16 MiB semi-spaces on this 24 GiB machine, about 1 MiB
// on a Pi Zero W's 512 MB. Both processes run with the Pi's (`--max-semi-space-size=1`), or a camera streaming
// frames would be measured with a nursery no Pi gives it.
import fs from "node:fs";
import path from "node:path";
import mqtt from "mqtt";
import { skycamTopics, topics } from "../nodes/lib/contract";
import { composeFlow } from "../nodes/lib/runtime/flows";
import { EmbeddedBroker } from "../nodes/lib/broker/embedded-broker";
import { startRuntime } from "../test/support/runtime";
import { until } from "../test/support/until";
import { idleBareNodeRed, type IdleMemory } from "./doors";
import type { BenchContext } from "./run";
import { killChildSync, memoryOf, mib, sleep, stopChild, table, tempDir } from "./support";

/** The camera may use this many times a bare Node-RED's resident memory (issue 13). */
const RSS_RATIO = 1.6;
/** When the camera is read: long enough for two crossings (two clips) and a live stream. */
const RECORDING_MS = 45_000;
const FACES_GROUP = "camerapi-group-pictures";
/** A Pi Zero W's V8 young generation (see above). */
const PI_NODE_OPTIONS = "--max-semi-space-size=1";

export interface CameraMemory {
  rss: number;
  hwm: number;
  clips: number;
  liveFrames: number;
}

async function cameraWhileRecording(ctx: BenchContext): Promise<CameraMemory> {
  const scope = ctx.scope();
  // the hub's broker, in this process; the camera logs in as its runtime user (this measures memory, not pairing)
  const hub = await EmbeddedBroker.start({ port: 0, host: "127.0.0.1" });
  scope.defer("stop the hub's broker", () => hub.close());
  try {
    const login = new URL(`mqtt://127.0.0.1:${hub.port}`);
    login.username = encodeURIComponent(hub.runtimeCredentials.username);
    login.password = encodeURIComponent(hub.runtimeCredentials.password);
    const dataDir = tempDir(scope, "pifog-bench-camerapi-");
    const flow = composeFlow("camerapi").map((n) => (n.g === FACES_GROUP && n.type !== "comment" ? { ...n, d: true } : n));
    fs.writeFileSync(path.join(dataDir, "flows-camerapi.json"), JSON.stringify(flow, null, 2));
    const env = { PIFOG_HARDWARE: "sim", PIFOG_MQTT_URL: login.toString().replace(/\/$/, ""), NODE_OPTIONS: PI_NODE_OPTIONS };
    const rt = await startRuntime({ role: "camerapi", dataDir, env, timeoutMs: 60_000 });
    scope.defer(`stop PiFog camerapi (pid ${rt.child.pid})`, () => stopChild(rt.child), () => killChildSync(rt.child));
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${hub.port}`, { ...hub.runtimeCredentials, reconnectPeriod: 0 });
    let liveFrames = 0;
    let events = 0;
    let script = "";
    client.on("message", (topic, payload) => {
      if (topic === skycamTopics.liveFrame("camerapi")) liveFrames++;
      else if (topic === skycamTopics.motion("camerapi")) events++;
      else if (topic === topics.simState("camerapi", "motion")) script = payload.toString();
    });
    await client.subscribeAsync([skycamTopics.liveFrame("camerapi"), skycamTopics.motion("camerapi"), topics.simState("camerapi", "motion")], { qos: 0 });
    // the simulated camera says which script it plays once it listens (retained): then it takes a new one
    await until(() => script !== "", "the simulated camera on the hub's broker", 30_000);
    await client.publishAsync(topics.simSet("camerapi", "motion"), "person", { qos: 1 });
    await until(() => script === "person", "the simulated camera playing a person crossing", 10_000);
    await client.publishAsync(skycamTopics.liveControl("camerapi"), JSON.stringify({ stream: true, at: Date.now(), leaseMs: 10 * RECORDING_MS }), { qos: 1, retain: true });
    await sleep(RECORDING_MS);
    const memory = memoryOf(rt.info.pid);
    await client.endAsync();
    const spool = path.join(dataDir, "spool", "camerapi");
    const recorded = fs.existsSync(spool) ? fs.readdirSync(spool).filter((f) => f.startsWith("clip-") && f.endsWith(".json")).length : 0;
    return { rss: memory.rss, hwm: memory.hwm, clips: Math.max(recorded, Math.floor(events / 2)), liveFrames };
  } finally {
    await scope.close();
  }
}

export async function measureCameraMemory(ctx: BenchContext): Promise<void> {
  const bareScope = ctx.scope();
  let bare: IdleMemory;
  let camera: CameraMemory;
  const nodeOptions = process.env.NODE_OPTIONS;
  // the bare node-red inherits this process's environment: the Pi's young generation too
  process.env.NODE_OPTIONS = [nodeOptions, PI_NODE_OPTIONS].filter(Boolean).join(" ");
  try {
    [bare, camera] = await Promise.all([idleBareNodeRed(ctx.root, bareScope, false), cameraWhileRecording(ctx)]);
  } finally {
    if (nodeOptions === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = nodeOptions;
    await bareScope.close();
  }
  const ratio = camera.rss / bare.settled.rss;
  console.log(
    `\n-- the camera role's RSS while it records and streams (${RECORDING_MS / 1000} s of a person crossing every 30 s, live video on; ` +
      `the front door's face nodes disabled, on the hub's broker; both with a Pi Zero's young generation, ${PI_NODE_OPTIONS}), beside a bare Node-RED with an empty flow (read 45 s after ready)\n` +
      table(
        ["process", "VmRSS", "VmHWM", "ratio", "note"],
        [
          ["bare node-red", mib(bare.settled.rss), mib(bare.settled.hwm), "1.00×", ""],
          ["PiFog camerapi", mib(camera.rss), mib(camera.hwm), `${ratio.toFixed(2)}×`, `${camera.clips} clip(s) recorded, ${camera.liveFrames} live frames streamed`],
        ],
      ),
  );
  ctx.target({
    target: `camera role RSS while recording and streaming ≤ ${RSS_RATIO}× a bare Node-RED`,
    measured: `${ratio.toFixed(2)}× (${mib(camera.rss)} vs ${mib(bare.settled.rss)}; ${camera.clips} clip(s), ${camera.liveFrames} live frames)`,
    pass: ratio <= RSS_RATIO && camera.liveFrames > 0 && camera.clips > 0,
  });
}
