// The fail-safe's registry and its exit: every registered output goes safe (one failing does not stop the others),
// the cause is logged with its stack, and the process exits 1 once what went out has left, or after the grace.
import assert from "node:assert/strict";
import vm from "node:vm";
import { failSafeExit, SafeState } from "../../nodes/lib/runtime/safe-state";

function harness(safe: SafeState) {
  const lines: string[] = [];
  const exits: number[] = [];
  const timers: Array<{ fn: () => void; ms: number }> = [];
  const fatal = failSafeExit(safe, {
    log: (line) => lines.push(line),
    exit: (code) => exits.push(code),
    graceMs: 1000,
    setTimeout: (fn, ms) => timers.push({ fn, ms }),
  });
  return { lines, exits, timers, fatal };
}

const settle = () => new Promise((r) => setImmediate(r));

describe("safe state", () => {
  it("runs every registered go-safe, past one that throws, and forgets a deregistered one", () => {
    const safe = new SafeState();
    const ran: string[] = [];
    safe.register("a", () => void ran.push("a"));
    safe.register("broken", () => {
      throw new Error("relay driver gone");
    });
    const off = safe.register("closed", () => void ran.push("closed"));
    safe.register("b", () => void ran.push("b"));
    off();
    assert.equal(safe.size, 3);
    const errors: Array<[string, string]> = [];
    const pending = safe.goSafe((name, err) => errors.push([name, (err as Error).message]));
    assert.deepEqual(ran, ["a", "b"]);
    assert.deepEqual(errors, [["broken", "relay driver gone"]]);
    assert.deepEqual(pending, []);
  });

  it("hands back what is still in flight, settled even when it fails", async () => {
    const safe = new SafeState();
    safe.register("publishes", () => Promise.resolve("sent"));
    safe.register("fails later", () => Promise.reject(new Error("broker gone")));
    const errors: string[] = [];
    const pending = safe.goSafe((name, err) => errors.push(`${name}: ${(err as Error).message}`));
    assert.equal(pending.length, 2);
    await Promise.all(pending);
    assert.deepEqual(errors, ["fails later: broker gone"]);
  });

  it("on an escaped error: logs the cause with its stack, goes safe, exits 1 once the publishes are out", async () => {
    const safe = new SafeState();
    let release!: () => void;
    let wentSafe = 0;
    safe.register("door", () => {
      wentSafe++;
      return new Promise<void>((r) => (release = r));
    });
    const h = harness(safe);
    h.fatal("unhandled rejection", new Error("boom"));
    assert.equal(wentSafe, 1, "synchronously, before anything else runs");
    assert.match(h.lines[0]!, /^PiFog: unhandled rejection, every output goes to its safe level and the process exits: Error: boom\n\s+at /);
    await settle();
    assert.deepEqual(h.exits, [], "waits for the level to get out");
    release();
    await settle();
    assert.deepEqual(h.exits, [1]);
    h.timers[0]!.fn();
    assert.deepEqual(h.exits, [1], "exits once");
  });

  it("never hangs: exits after the grace when a publish never completes; a second error is only logged", async () => {
    const safe = new SafeState();
    let wentSafe = 0;
    safe.register("door", () => {
      wentSafe++;
      return new Promise(() => undefined);
    });
    const h = harness(safe);
    h.fatal("uncaught exception", "a string, not an Error");
    h.fatal("uncaught exception", new Error("second"));
    assert.equal(wentSafe, 1);
    assert.match(h.lines[0]!, /a string, not an Error$/);
    assert.match(h.lines[1]!, /^PiFog: uncaught exception while going safe: Error: second/);
    assert.deepEqual(h.timers.map((t) => t.ms), [1000]);
    await settle();
    assert.deepEqual(h.exits, []);
    h.timers[0]!.fn();
    assert.deepEqual(h.exits, [1]);
  });

  it("names an error from another realm (a function node's sandbox) by its stack", () => {
    const h = harness(new SafeState());
    const foreign = vm.runInNewContext(`new Error("from the sandbox")`) as unknown;
    assert.ok(!(foreign instanceof Error));
    h.fatal("unhandled rejection", foreign);
    assert.match(h.lines[0]!, /Error: from the sandbox\n\s+at /);
  });
});
