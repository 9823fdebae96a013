// When one hub is not enough: the broker is a 3-node NATS cluster (MQTT on JetStream, every stream on three
// replicas), the hub is given all three nodes (PIFOG_MQTT_URL as a comma list). A publisher on another node sends
// numbered QoS 1 messages; the node the hub's history is connected to is killed with SIGKILL mid-burst. The history
// carries on on another node, and every message the publisher had acknowledged is stored exactly once, although
// the next node redelivers what was in flight under packet ids of its own.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startNatsCluster, type NatsCluster } from "../support/nats-cluster";
import { TestClient } from "../support/mqtt";
import { startRuntime, type TestRuntime } from "../support/runtime";
import { until } from "../support/until";
import { assertExactlyOnce, startPublisher, storedCounts, storedRows } from "../support/zero-loss";

const COUNT = 3000;

describe("zero loss on a NATS cluster when the hub's node dies", function () {
  this.timeout(120_000);
  let cluster: NatsCluster | null = null;
  let hub: TestRuntime | null = null;
  let dataDir = "";

  afterEach(async () => {
    await hub?.stop();
    hub = null;
    await cluster?.stop();
    cluster = null;
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("moves to another node and stores every acknowledged message exactly once", async () => {
    cluster = await startNatsCluster();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-zeroloss-nats-"));
    hub = await startRuntime({ role: "sensorhub", dataDir, env: { PIFOG_MQTT_URL: cluster.urls } });
    const c = cluster;
    // the history's persistent session is subscribed once a probe message is stored (before: NATS keeps nothing for it)
    await until(() => fs.existsSync(path.join(dataDir, "history.db")), "the history's store", 15_000);
    const probe = await TestClient.connect(c.nodes[1].mqttUrl);
    try {
      await until(
        async () => {
          if (storedRows(dataDir, "reliability/ready") > 0) return true;
          await probe.publish("reliability/ready", "1", { qos: 1 });
          return false;
        },
        "the history's subscription",
        20_000,
      );
    } finally {
      await probe.end();
    }
    const historyNode = await c.nodeOfClient((id) => id.startsWith("pifog-history-"));
    assert.ok(historyNode, "the history is connected to a node of the cluster");
    const other = c.nodes.find((n) => n !== historyNode)!;
    const prefix = "reliability/nats";
    const publisher = startPublisher(other.mqttUrl, prefix, COUNT, 100);
    await until(() => publisher.progress() >= 1000, "1,000 acknowledgements", 30_000);
    await historyNode.kill();
    const acked = await publisher.done;
    assert.equal(acked.length, COUNT, "the publisher got every message acknowledged in the end");
    await until(() => storedCounts(dataDir, prefix).size >= COUNT, "the history to store every message", 60_000, () => storedCounts(dataDir, prefix).size);
    const now = await c.nodeOfClient((id) => id.startsWith("pifog-history-"));
    assert.ok(now && now !== historyNode, "the history carries on on another node");
    await hub.stop();
    hub = null;
    assertExactlyOnce(acked, storedCounts(dataDir, prefix));
  });
});
