// The sign-in throttle: wrong passwords limited per address and per (address, user name), a wait that grows with
// each further lock, the right person at another address never refused, and bounded memory.
import assert from "node:assert/strict";
import { clientAddress, LoginThrottle, retryAfterSeconds, type Admission, type ThrottleLimits } from "../../nodes/lib/security/throttle";

const MIN = 60_000;
const limits = (maxFailures: number): ThrottleLimits => ({ maxFailures, windowMs: 15 * MIN, lockMs: MIN, maxLockMs: 4 * MIN });

function throttle(maxEntries = 1000) {
  const clock = { t: Date.UTC(2026, 0, 1) };
  const t = new LoginThrottle({ perAddress: limits(20), perUser: limits(5), maxEntries, now: () => clock.t });
  return { t, clock };
}

function wrong(t: LoginThrottle, address: string, user: string): Admission {
  const a = t.admit(address, user);
  if (a.allowed) a.attempt.wrong();
  return a;
}

describe("sign-in throttle", () => {
  it("locks a user name from one address after 5 wrong passwords, for a minute, not the same name from another", () => {
    const { t, clock } = throttle();
    for (let i = 0; i < 5; i++) assert.equal(wrong(t, "10.0.0.9", "admin").allowed, true, `attempt ${i + 1}`);
    const refused = t.admit("10.0.0.9", "admin");
    assert.deepEqual(refused, { allowed: false, retryAfterMs: MIN, limit: "user" });
    const elsewhere = t.admit("10.0.0.1", "admin");
    assert.equal(elsewhere.allowed, true, "the right person at another address signs in");
    if (elsewhere.allowed) elsewhere.attempt.right();
    assert.equal(t.admit("10.0.0.9", "kim").allowed, true, "other names from that address are not locked yet");
    clock.t += MIN;
    assert.equal(t.admit("10.0.0.9", "admin").allowed, true, "after the minute");
  });

  it("limits an address over all names (20), and a right password does not reset the address's count", () => {
    const { t } = throttle();
    for (let i = 0; i < 19; i++) wrong(t, "10.0.0.9", `user${i}`);
    const ok = t.admit("10.0.0.9", "mine");
    assert.ok(ok.allowed);
    ok.attempt.right();
    assert.equal(wrong(t, "10.0.0.9", "user19").allowed, true);
    const refused = t.admit("10.0.0.9", "anyone");
    assert.equal(refused.allowed, false);
    assert.equal(!refused.allowed && refused.limit, "address");
    assert.equal(t.admit("10.0.0.8", "anyone").allowed, true);
  });

  it("doubles the wait with each further lock, up to the cap, and forgets after a quiet window", () => {
    const { t, clock } = throttle();
    const waits: number[] = [];
    for (let lock = 0; lock < 4; lock++) {
      for (let i = 0; i < 5; i++) wrong(t, "10.0.0.9", "admin");
      const r = t.admit("10.0.0.9", "admin");
      assert.equal(r.allowed, false);
      if (!r.allowed) {
        waits.push(r.retryAfterMs);
        clock.t += r.retryAfterMs;
      }
    }
    assert.deepEqual(waits, [MIN, 2 * MIN, 4 * MIN, 4 * MIN]);
    clock.t += 15 * MIN;
    for (let i = 0; i < 5; i++) wrong(t, "10.0.0.9", "admin");
    const again = t.admit("10.0.0.9", "admin");
    assert.equal(!again.allowed && again.retryAfterMs, MIN, "a fresh start after a quiet window");
  });

  it("a right password clears the user's failures from that address", () => {
    const { t } = throttle();
    for (let i = 0; i < 4; i++) wrong(t, "10.0.0.1", "admin");
    const ok = t.admit("10.0.0.1", "admin");
    assert.ok(ok.allowed);
    ok.attempt.right();
    for (let i = 0; i < 4; i++) assert.equal(wrong(t, "10.0.0.1", "admin").allowed, true);
    assert.equal(t.admit("10.0.0.1", "admin").allowed, true);
  });

  it("counts attempts still being checked, so a burst cannot overshoot the limit", () => {
    const { t } = throttle();
    const inFlight = Array.from({ length: 10 }, () => t.admit("10.0.0.9", "admin"));
    assert.equal(inFlight.filter((a) => a.allowed).length, 5);
    const refused = inFlight.find((a) => !a.allowed);
    assert.equal(refused && !refused.allowed && refused.retryAfterMs, 1000);
    for (const a of inFlight) if (a.allowed) a.attempt.wrong();
    const locked = t.admit("10.0.0.9", "admin");
    assert.equal(!locked.allowed && locked.retryAfterMs, MIN);
  });

  it("an attempt ends once: later calls and abandoned attempts count nothing", () => {
    const { t } = throttle();
    for (let i = 0; i < 10; i++) {
      const a = t.admit("10.0.0.9", "admin");
      assert.ok(a.allowed);
      a.attempt.abandon();
      a.attempt.wrong();
    }
    assert.deepEqual(t.size, { addresses: 0, users: 0 }, "nothing is kept for nothing");
    const a = t.admit("10.0.0.9", "admin");
    assert.ok(a.allowed);
    a.attempt.wrong();
    a.attempt.wrong();
    a.attempt.wrong();
    for (let i = 0; i < 4; i++) assert.equal(wrong(t, "10.0.0.9", "admin").allowed, true);
  });

  it("keeps bounded memory: old entries expire, and a full table drops the least recently used", () => {
    const { t, clock } = throttle(100);
    for (let i = 0; i < 1000; i++) wrong(t, `10.1.${i >> 8}.${i & 255}`, `user${i}`);
    assert.deepEqual(t.size, { addresses: 100, users: 100 });
    clock.t += 16 * MIN;
    wrong(t, "10.9.9.9", "x");
    assert.ok(t.size.addresses <= 100 && t.size.users <= 100);
    // the address that keeps trying stays remembered while others come and go
    const { t: t2 } = throttle(50);
    for (let i = 0; i < 500; i++) {
      if (i % 10 === 0) wrong(t2, "10.0.0.9", `guess${i}`);
      wrong(t2, `10.2.${i >> 8}.${i & 255}`, "x");
    }
    assert.equal(t2.admit("10.0.0.9", "another").allowed, false, "the busy address is still locked");
  });

  it("names the address as the TCP peer, IPv4-mapped as IPv4, IPv6 by its /64", () => {
    assert.equal(clientAddress("::ffff:127.0.0.2"), "127.0.0.2");
    assert.equal(clientAddress("127.0.0.1"), "127.0.0.1");
    assert.equal(clientAddress("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
    assert.equal(clientAddress("2001:db8:1:2::7"), clientAddress("2001:db8:1:2:ffff::1"));
    assert.equal(clientAddress("::1"), "0:0:0:0::/64");
    assert.equal(clientAddress("fe80::1"), "fe80:0:0:0::/64");
    assert.equal(clientAddress(undefined), "unknown");
    assert.equal(retryAfterSeconds(1), 1);
    assert.equal(retryAfterSeconds(60_000), 60);
    assert.equal(retryAfterSeconds(60_001), 61);
  });

  describe("per user name from anywhere (the people's sign-in)", () => {
    function withNames() {
      const clock = { t: Date.UTC(2026, 0, 1) };
      const t = new LoginThrottle({ perAddress: limits(20), perUser: limits(5), perName: limits(10), maxEntries: 1000, now: () => clock.t });
      return { t, clock };
    }

    it("locks a name guessed from many addresses once 10 wrong passwords came in, from every address, and frees it after the wait", () => {
      const { t, clock } = withNames();
      // four addresses, each below its own limits
      for (let i = 0; i < 10; i++) assert.equal(wrong(t, `10.0.0.${i % 4}`, "admin").allowed, true, `attempt ${i + 1}`);
      assert.deepEqual(t.admit("10.0.0.77", "admin"), { allowed: false, retryAfterMs: MIN, limit: "name" }, "a new address waits too");
      assert.equal(t.admit("10.0.0.77", "kim").allowed, true, "other names are not locked");
      clock.t += MIN;
      const after = t.admit("10.0.0.77", "admin");
      assert.equal(after.allowed, true);
      if (after.allowed) after.attempt.right();
    });

    it("one address alone reaches its own limit long before the name's", () => {
      const { t } = withNames();
      for (let i = 0; i < 5; i++) wrong(t, "10.0.0.9", "admin");
      assert.equal(t.admit("10.0.0.9", "admin").allowed, false);
      assert.equal(t.admit("10.0.0.1", "admin").allowed, true, "5 wrong from one address do not lock the name");
    });

    it("a right password from one address does not forgive the name's wrong ones from others", () => {
      const { t } = withNames();
      for (let i = 0; i < 9; i++) wrong(t, `10.0.1.${i}`, "admin");
      const right = t.admit("10.0.0.1", "admin");
      assert.ok(right.allowed);
      right.attempt.right();
      assert.equal(wrong(t, "10.0.2.1", "admin").allowed, true);
      assert.equal(t.admit("10.0.0.1", "admin").allowed, false, "the tenth wrong one locks the name");
    });
  });
});
