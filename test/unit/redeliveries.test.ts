// After a lost connection the history stores what comes again once, whatever packet id it carries: a cluster's next
// node numbers its deliveries itself. And it never takes a new message for a repeat the broker did not owe it.
import assert from "node:assert/strict";
import { ACK_GRACE_MS, Redeliveries, redeliveryKey } from "../../nodes/lib/history/redeliveries";
import { REPEAT_WINDOW_MS } from "../../nodes/lib/history/store-shared";
import { FakeClock } from "../support/fake-clock";

const key = (payload: string, topic = "sensors/t") => redeliveryKey(topic, Buffer.from(payload));
const settle = () => new Promise((r) => setImmediate(r));

describe("redeliveries after a lost connection", () => {
  let clock: FakeClock;
  let r: Redeliveries;
  beforeEach(() => {
    clock = new FakeClock();
    r = new Redeliveries(() => clock.now());
    r.connected(false);
  });

  it("takes a stored, unacknowledged message arriving again under a new packet id and without DUP for a repeat, once", async () => {
    r.received(17, key("21.5"), Promise.resolve());
    r.connectionLost();
    await settle();
    r.connected(true);
    assert.equal(r.isRepeat(key("21.5")), true, "the redelivery");
    assert.equal(r.isRepeat(key("21.5")), false, "a new message with the same payload is stored");
  });

  it("stores a message again when its first copy could not be committed", async () => {
    const failed = Promise.reject(new Error("disk full"));
    failed.catch(() => undefined);
    r.received(1, key("a"), failed);
    r.connectionLost();
    await settle();
    r.connected(true);
    assert.equal(r.isRepeat(key("a")), false);
  });

  it("expects nothing once the broker says the session is gone", async () => {
    r.received(1, key("a"), Promise.resolve());
    r.connectionLost();
    r.connected(false); // before the commit settles, even
    await settle();
    r.connected(true);
    assert.equal(r.isRepeat(key("a")), false);
  });

  it("takes a message acknowledged in the last second before the loss for a repeat, once", async () => {
    r.received(1, key("a"), Promise.resolve());
    r.received(2, key("b"), Promise.resolve());
    r.received(3, key("old"), Promise.resolve());
    r.acknowledged(3);
    clock.tick(ACK_GRACE_MS + 1);
    r.acknowledged(1);
    r.acknowledged(2);
    r.connectionLost();
    await settle();
    r.connected(true);
    assert.equal(r.isRepeat(key("a")), true, "the redelivery of a PUBACK the dying node may have lost");
    assert.equal(r.isRepeat(key("a")), false, "then a new message");
    assert.equal(r.isRepeat(key("b")), true);
    assert.equal(r.isRepeat(key("old")), false, "acknowledged long before: the broker had it");
  });

  it("tells topics apart, and forgets after the window", async () => {
    r.received(1, key("1", "a/x"), Promise.resolve());
    r.received(2, key("1", "a/y"), Promise.resolve());
    r.connectionLost();
    await settle();
    r.connected(true);
    assert.equal(r.isRepeat(key("1", "a/z")), false);
    assert.equal(r.isRepeat(key("1", "a/x")), true);
    clock.tick(REPEAT_WINDOW_MS + 1);
    assert.equal(r.isRepeat(key("1", "a/y")), false);
  });
});
