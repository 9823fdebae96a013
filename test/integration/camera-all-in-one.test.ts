// The all-in-one fog records real clips: its simulated camera plays a person crossing, its motion detection starts
// an event, the clip (pre-roll, motion, post-roll) goes through the spool and the device listener to the hub's clip
// store, and a signed-in viewer finds it with its thumbnail. Nothing here is a fake: the runtime's own flows do it.
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { skycamTopics, topics } from "../../nodes/lib/contract";
import type { ClipRecord, MotionEvent } from "../../nodes/lib/camera/types";
import { MQTT_ADMIN, startRuntime, type TestRuntime } from "../support/runtime";
import { until } from "../support/until";

describe("the all-in-one fog's simulated camera", function () {
  this.timeout(180_000);
  let fog: TestRuntime;

  before(async () => {
    fog = await startRuntime({ role: "all" });
  });
  after(async () => {
    await fog?.stop();
  });

  it("records a clip of a person crossing, with its pre-roll, and the hub stores it for signed-in people", async () => {
    const client = await mqtt.connectAsync(fog.info.mqtt, { ...MQTT_ADMIN, reconnectPeriod: 0 });
    const events: MotionEvent[] = [];
    try {
      client.on("message", (topic, payload) => {
        if (topic === skycamTopics.motion("camerapi")) events.push(JSON.parse(payload.toString()) as MotionEvent);
      });
      await client.subscribeAsync(skycamTopics.motion("camerapi"), { qos: 1 });
      await client.publishAsync(topics.simSet("camerapi", "motion"), "person", { qos: 1 });

      const clips = async (): Promise<ClipRecord[]> => {
        const res = await fetch(`${fog.info.http}/api/clips?camera=camerapi&kind=clip`, { headers: { cookie: fog.cookies.viewer } });
        assert.equal(res.status, 200);
        const body = (await res.json()) as { clips?: ClipRecord[] } | ClipRecord[];
        return Array.isArray(body) ? body : (body.clips ?? []);
      };
      await until(async () => (await clips()).some((c) => c.status === "stored"), "a stored clip from the simulated camera", 150_000);
      const clip = (await clips()).find((c) => c.status === "stored")!;

      const start = events.find((e) => e.kind === "start");
      assert.ok(start, "motion started (published on pifog/camerapi/motion)");
      assert.equal(clip.device, "camerapi");
      // the default settings: 5 s of pre-roll before the motion
      assert.ok(start.at - clip.start >= 4_000, `the clip starts ${start.at - clip.start} ms before the motion: its pre-roll`);
      assert.ok(clip.frames > 50 && clip.bytes > 10_000, `a real clip: ${clip.frames} frames, ${clip.bytes} bytes`);

      const thumbnail = await fetch(`${fog.info.http}/api/clips/camerapi/${clip.id}/thumbnail`, { headers: { cookie: fog.cookies.viewer } });
      assert.equal(thumbnail.status, 200);
      assert.match(thumbnail.headers.get("content-type") ?? "", /image\/jpeg/);
      const anonymous = await fetch(`${fog.info.http}/api/clips/camerapi/${clip.id}/thumbnail`);
      assert.equal(anonymous.status, 401, "nobody signed in sees it");
    } finally {
      await client.endAsync();
    }
  });
});
