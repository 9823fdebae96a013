// The camera role's resident memory while it records and streams, beside a bare Node-RED with an empty flow, started
// side by side. The camera runs its shipped flow (flows/camerapi.json) with the front door's "Pictures and faces"
// nodes disabled, as on a camera that is not the door's (so the face model is never loaded), its simulated camera
// playing a person crossing every 30 s (clips recorded) and the hub's live-video request retained (frames streamed).
import fs from "node:fs";
import path from "node:path";
import mqtt from "mqtt";
import { skycamTopics, topics } from "../nodes/lib/contract";
import { composeFlow } from "../nodes/lib/runtime/flows";
import { MQTT_ADMIN, startRuntime } from "../test/support/runtime";
import { idleBareNodeRed, type IdleMemory } from "./doors";
import type { BenchContext } from "./run";
import { killChildSync, memoryOf, mib, sleep, stopChild, table, tempDir } from "./support";

/** The camera may use this many times a bare Node-RED's resident memory (issue 13). */
const RSS_RATIO = 1.6;
/** When the camera is read: long enough for two crossings (two clips) and a live stream. */
const RECORDING_MS = 45_000;
const FACES_GROUP = "camerapi-group-pictures";

export interface CameraMemory {
  rss: number;
  hwm: number;
  clips: number;
  liveFrames: number;
}

async function cameraWhileRecording(ctx: BenchContext): Promise<CameraMemory> {
  const scope = ctx.scope();
  try {
    const dataDir = tempDir(scope, "pifog-bench-camerapi-");
    const flow = composeFlow("camerapi").map((n) => (n.g === FACES_GROUP && n.type !== "comment" ? { ...n, d: true } : n));
    fs.writeFileSync(path.join(dataDir, "flows-camerapi.json"), JSON.stringify(flow, null, 2));
    const rt = await startRuntime({ role: "camerapi", dataDir, env: { PIFOG_HARDWARE: "sim" }, timeoutMs: 60_000 });
    scope.defer(`stop PiFog camerapi (pid ${rt.child.pid})`, () => stopChild(rt.child), () => killChildSync(rt.child));
    const client = await mqtt.connectAsync(rt.info.mqtt, { ...MQTT_ADMIN, reconnectPeriod: 0 });
    let liveFrames = 0;
    let clips = 0;
    client.on("message", (topic) => {
      if (topic === skycamTopics.liveFrame("camerapi")) liveFrames++;
      else if (topic === skycamTopics.motion("camerapi")) clips++;
    });
    await client.subscribeAsync([skycamTopics.liveFrame("camerapi"), skycamTopics.motion("camerapi")], { qos: 0 });
    await client.publishAsync(topics.simSet("camerapi", "motion"), "person", { qos: 1 });
    await client.publishAsync(skycamTopics.liveControl("camerapi"), JSON.stringify({ stream: true, at: Date.now(), leaseMs: 10 * RECORDING_MS }), { qos: 1, retain: true });
    await sleep(RECORDING_MS);
    const memory = memoryOf(rt.info.pid);
    await client.endAsync();
    const spool = path.join(dataDir, "spool", "camerapi");
    const recorded = fs.existsSync(spool) ? fs.readdirSync(spool).filter((f) => f.startsWith("clip-") && f.endsWith(".json")).length : 0;
    return { rss: memory.rss, hwm: memory.hwm, clips: Math.max(recorded, Math.floor(clips / 2)), liveFrames };
  } finally {
    await scope.close();
  }
}

export async function measureCameraMemory(ctx: BenchContext): Promise<void> {
  const bareScope = ctx.scope();
  let bare: IdleMemory;
  let camera: CameraMemory;
  try {
    [bare, camera] = await Promise.all([idleBareNodeRed(ctx.root, bareScope, false), cameraWhileRecording(ctx)]);
  } finally {
    await bareScope.close();
  }
  const ratio = camera.rss / bare.settled.rss;
  console.log(
    `\n-- the camera role's RSS while it records and streams (${RECORDING_MS / 1000} s of a person crossing every 30 s, live video on; ` +
      `the front door's face nodes disabled), beside a bare Node-RED with an empty flow (read 45 s after ready)\n` +
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
