// A device's discovery publisher (nodes/lib/homeassistant/publisher.ts) on a link that records what it publishes: what
// goes out retained, what is taken away when, and what it clears of what it finds on the broker.
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { haTopics, type Topic } from "../../nodes/lib/contract";
import { doorEntity, motionEntity, type HaEntity } from "../../nodes/lib/homeassistant/discovery";
import { DiscoveryPublisher, type DiscoveryLink } from "../../nodes/lib/homeassistant/publisher";
import { topicMatches } from "../../nodes/lib/mqtt/topic-filter";
import type { MessageMeta, PublishOptions } from "../../nodes/lib/mqtt/device-link";

class RecordingLink extends EventEmitter implements DiscoveryLink {
  connected = false;
  readonly sent: Array<{ topic: string; payload: string; retain: boolean }> = [];
  readonly handlers = new Map<string, (topic: string, payload: Buffer, meta: MessageMeta) => void>();
  publish<P>(topic: Topic<P>, payload: P, options: PublishOptions = {}): Promise<void> {
    this.sent.push({ topic, payload: typeof payload === "string" ? payload : JSON.stringify(payload), retain: options.retain === true });
    return Promise.resolve();
  }
  subscribe(filter: string, handler: (topic: string, payload: Buffer, meta: MessageMeta) => void): () => void {
    this.handlers.set(filter, handler);
    return () => this.handlers.delete(filter);
  }
  /** A message from the broker (a retained one, as a new subscription gets it). */
  deliver(topic: string, payload: string): void {
    for (const [filter, handler] of this.handlers) if (topicMatches(filter, topic)) handler(topic, Buffer.from(payload), { retain: true, qos: 1 });
  }
  connect(): void {
    this.connected = true;
    this.emit("connection", true);
  }
  /** What was sent since the last take, as "topic=payload|cleared". */
  take(): string[] {
    const out = this.sent.splice(0).map((m) => {
      assert.equal(m.retain, true, `${m.topic} retained`);
      return `${m.topic.split("/").slice(1, 4).join("/")}=${m.payload === "" ? "cleared" : "config"}`;
    });
    return out.sort();
  }
}

const device = { id: "dp", role: "doorpi", version: "1.0.0", hardware: "sim" as const };
const door = (id: string): HaEntity => doorEntity("dp", id, id);

describe("Home Assistant discovery publisher", () => {
  let link: RecordingLink;
  let publisher: DiscoveryPublisher;
  beforeEach(() => {
    link = new RecordingLink();
    publisher = new DiscoveryPublisher(link, { prefix: "homeassistant", device, enabled: true });
  });

  it("publishes each config retained once the link is up, and again on every reconnect", () => {
    publisher.announce("n1", [door("door1"), door("door2")]);
    assert.deepEqual(link.take(), [], "nothing while the link is down");
    link.connect();
    assert.deepEqual(link.take(), ["binary_sensor/dp/door_door1=config", "binary_sensor/dp/door_door2=config"]);
    link.connect();
    assert.equal(link.take().length, 2);
  });

  it("takes away a removed node's entities, and keeps a restarted node's", () => {
    link.connect();
    publisher.announce("n1", [door("door1")]);
    publisher.announce("n2", [motionEntity("dp")]);
    link.take();
    publisher.release("n1", false);
    publisher.announce("n1", [door("door1")]);
    publisher.started();
    assert.deepEqual(link.take(), ["binary_sensor/dp/door_door1=config"], "a restart publishes again, clears nothing");
    publisher.release("n2", true);
    assert.deepEqual(link.take(), ["binary_sensor/dp/motion=cleared"]);
  });

  it("clears what a node no longer names when it comes back, and a node that does not come back", () => {
    link.connect();
    publisher.announce("n1", [door("door1"), door("door2")]);
    publisher.announce("n2", [motionEntity("dp")]);
    link.take();
    publisher.release("n1", false);
    publisher.release("n2", false);
    publisher.announce("n1", [door("door1")]);
    publisher.started();
    assert.deepEqual(link.take(), ["binary_sensor/dp/door_door1=config", "binary_sensor/dp/door_door2=cleared", "binary_sensor/dp/motion=cleared"]);
  });

  it("keeps a config two nodes announce until both are gone", () => {
    link.connect();
    publisher.announce("n1", [motionEntity("dp")]);
    publisher.announce("n2", [motionEntity("dp")]);
    link.take();
    publisher.release("n1", true);
    assert.deepEqual(link.take(), []);
    publisher.release("n2", true);
    assert.deepEqual(link.take(), ["binary_sensor/dp/motion=cleared"]);
  });

  it("clears a config it finds under its node id that none of its nodes announces, once the flows have started", () => {
    link.connect();
    publisher.announce("n1", [door("door1")]);
    link.take();
    const stale = haTopics.config("homeassistant", "sensor", "dp", "old_sensor");
    link.deliver(stale, "{}");
    link.deliver(haTopics.config("homeassistant", "binary_sensor", "dp", "door_door1"), "{}");
    assert.deepEqual(link.take(), [], "not before the flows have started: a node may still announce it");
    publisher.started();
    assert.deepEqual(link.take(), ["sensor/dp/old_sensor=cleared"]);
    link.deliver(haTopics.config("homeassistant", "image", "dp", "late"), "{}");
    assert.deepEqual(link.take(), ["image/dp/late=cleared"], "and one found later too");
    link.deliver(stale, "");
    assert.deepEqual(link.take(), [], "an empty one is gone already");
    // another device's configs are not its business (and its subscription does not reach them)
    assert.deepEqual([...link.handlers.keys()], ["homeassistant/+/dp/+/config"]);
  });

  it("clears what it found before its link was up (an in-process broker) once it is", () => {
    link.deliver(haTopics.config("homeassistant", "sensor", "dp", "old_sensor"), "{}");
    publisher.started();
    assert.deepEqual(link.take(), []);
    link.connect();
    assert.deepEqual(link.take(), ["sensor/dp/old_sensor=cleared"]);
  });

  it("switched off in the device: announces nothing and clears what it finds", () => {
    const off = new DiscoveryPublisher(link, { prefix: "homeassistant", device, enabled: false });
    link.connect();
    off.announce("n1", [door("door1")]);
    link.deliver(haTopics.config("homeassistant", "binary_sensor", "dp", "door_door1"), "{}");
    off.started();
    assert.equal(off.enabled, false);
    assert.deepEqual(link.take().filter((m) => m.endsWith("cleared")), ["binary_sensor/dp/door_door1=cleared"]);
    assert.deepEqual(link.take(), []);
  });

  it("a device removed takes every entity away before its link closes; one that restarts keeps them", async () => {
    link.connect();
    publisher.announce("n1", [door("door1")]);
    link.take();
    await publisher.close(false);
    assert.deepEqual(link.take(), []);
    const again = new DiscoveryPublisher(link, { prefix: "homeassistant", device, enabled: true });
    again.announce("n1", [door("door1")]);
    link.take();
    await again.close(true);
    assert.deepEqual(link.take(), ["binary_sensor/dp/door_door1=cleared"]);
  });
});
