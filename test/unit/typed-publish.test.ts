// Publishing is typed: a topic from the contract carries its payload's type, so a wrong payload does not compile.
// The `@ts-expect-error` lines are the test: `npm run build` fails if any of them compiles.
import assert from "node:assert/strict";
import {
  compatTopics,
  encodePayload,
  iotitanTopics,
  powerTopics,
  topics,
  type DoorsState,
  type Topic,
} from "../../nodes/lib/contract";
import type { DeviceLink } from "../../nodes/lib/mqtt/device-link";

const doors: DoorsState = { device: "d1", doors: { door1: { label: "F", state: "open", changedAt: "2026-01-01T00:00:00.000Z" } }, timestamp: "2026-01-01T00:00:00.000Z" };

/** Only compiled, never called: what `publish` takes and refuses. */
export function publishes(link: DeviceLink): void {
  void link.publish(topics.doors("d1"), doors);
  void link.publish(topics.environmentValue("d1", "humidity"), 41.5);
  void link.publish(iotitanTopics.average("home/t"), "21.0");
  void link.publish(powerTopics.request("d1"), {});
  // @ts-expect-error a string where the contract says DoorsState (what the nodes did: JSON.stringify(...))
  void link.publish(topics.doors("d1"), JSON.stringify(doors));
  // @ts-expect-error the doors state on a door's topic
  void link.publish(topics.door("d1", "door1"), doors);
  // @ts-expect-error a topic written by hand is not a topic of the contract
  void link.publish("pifog/d1/doors", doors);
  // @ts-expect-error a filter cannot be published to
  void link.publish(topics.anyStatus(), { state: "offline", device: "d1" });
  // @ts-expect-error a DoorPi's event is not a ButtonPi's
  void link.publish(compatTopics.event("ButtonPi"), { state: { door1: "open", door2: "closed", timestamp: "" } });
  // @ts-expect-error a number on a JSON topic
  void link.publish(topics.occupancy("d1"), 3);
}

describe("typed publish", () => {
  it("encodes JSON payloads as JSON and plain ones (text, bytes, a number) as they are", () => {
    assert.equal(encodePayload(doors), JSON.stringify(doors));
    assert.equal(encodePayload("21.0"), "21.0");
    assert.equal(encodePayload(41.5), "41.5");
    const bytes = Buffer.from([1, 2, 3]);
    assert.equal(encodePayload(bytes), bytes);
  });

  it("a topic of the contract is still the plain string on the wire", () => {
    const t: Topic<DoorsState> = topics.doors("d1");
    assert.equal(t, "pifog/d1/doors");
    assert.equal(typeof t, "string");
  });
});
