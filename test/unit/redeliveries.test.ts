// After a lost connection the history stores what comes again once, whatever packet id it carries: a cluster's next
// node numbers its deliveries itself. And it never takes a new message for a repeat the broker did not owe it.
import assert from "node:assert/strict";
import { ACK_GRACE_MS, ACK_STALE_MS, POSSIBLE_WINDOW_MS, Redeliveries, redeliveryKey } from "../../nodes/lib/history/redeliveries";
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

  it("decides on a redelivery that comes before its first copy's commit settled (a slow store) once it settles", async () => {
    let commitA!: () => void;
    let failB!: (err: Error) => void;
    r.received(1, key("a"), new Promise<void>((resolve) => (commitA = resolve)));
    r.received(2, key("b"), new Promise<void>((_, reject) => (failB = reject)));
    r.connectionLost();
    r.connected(true);
    const a = r.isRepeat(key("a"));
    const b = r.isRepeat(key("b"));
    assert.ok(a instanceof Promise && b instanceof Promise, "undecided while the first copies are being committed");
    commitA();
    failB(new Error("disk full"));
    assert.equal(await a, true, "stored by its first copy: a repeat");
    assert.equal(await b, false, "its first copy was not stored: this one is");
    await settle();
    assert.equal(r.isRepeat(key("a")), false, "counted off once");
    assert.equal(r.isRepeat(key("b")), false);
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

  it("measures that second back from the last PUBACK when the loss is noticed late (a loaded machine)", async () => {
    r.received(1, key("early"), Promise.resolve());
    r.acknowledged(1);
    clock.tick(ACK_GRACE_MS + 1);
    r.received(2, key("last"), Promise.resolve());
    r.acknowledged(2);
    clock.tick(ACK_STALE_MS - 1); // the dying node's close comes in seconds later
    r.connectionLost();
    await settle();
    r.connected(true);
    assert.equal(r.isRepeat(key("last")), true, "the last PUBACK before the loss may not have reached the broker");
    assert.equal(r.isRepeat(key("early")), false, "a second before it: the broker had it");
  });

  it("takes nothing acknowledged for a repeat when the last PUBACK went long before the loss (a quiet stream)", async () => {
    r.received(1, key("closed", "doors/front"), Promise.resolve());
    r.acknowledged(1);
    clock.tick(ACK_STALE_MS + 1);
    r.connectionLost();
    await settle();
    r.connected(true);
    assert.equal(r.isRepeat(key("closed", "doors/front")), false, "the door closing again is a new message");
  });

  it("looks for a possible repeat a minute after the reconnect, for a certain one ten minutes", async () => {
    r.received(1, key("acked"), Promise.resolve());
    r.acknowledged(1);
    r.received(2, key("stored, not acked"), Promise.resolve());
    r.connectionLost();
    await settle();
    r.connected(true);
    clock.tick(POSSIBLE_WINDOW_MS + 1);
    assert.equal(r.isRepeat(key("acked")), false, "a minute later the same payload is a new message");
    assert.equal(r.isRepeat(key("stored, not acked")), true, "the broker owes this one until it comes");
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
