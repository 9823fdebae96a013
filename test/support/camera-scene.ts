// Puts a simulated camera in front of a kind of scene and waits until it says so (retrying: just after a runtime
// starts, its device link may still be subscribing to the sim topics).
import { topics } from "../../nodes/lib/contract";
import type { TestClient } from "./mqtt";

export async function showScene(client: TestClient, device: string, kind: "visitor" | "empty"): Promise<void> {
  const sceneTopic = topics.simState(device, "scene");
  await client.subscribe(sceneTopic);
  for (let attempt = 1; ; attempt++) {
    const confirmed = client.waitFor(sceneTopic, (m) => m.payload.toString().startsWith(`${kind}-`), 1500, false);
    await client.publish(topics.simSet(device, "scene"), kind);
    try {
      await confirmed;
      return;
    } catch (err) {
      if (attempt >= 10) throw err;
    }
  }
}
