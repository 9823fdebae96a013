import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Audit } from "../../nodes/lib/audit/audit";
import { boundedValue, JsonlLog } from "../../nodes/lib/audit/jsonl-log";
import { DeadLetterFile } from "../../nodes/lib/dead-letter";
import { DoorAudit } from "../../nodes/lib/door-audit";

describe("bounded JSON-lines records (dead letters, door audit, audit)", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-jsonl-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("cuts every string, deep and wide structures, so one record stays small", () => {
    const v = boundedValue({ id: "x".repeat(100_000), nested: { list: Array.from({ length: 500 }, (_, i) => i) } }, 100) as {
      id: string;
      nested: { list: unknown[] };
    };
    assert.equal(v.id, `${"x".repeat(100)}…`);
    assert.equal(v.nested.list.length, 65);
    assert.ok(JSON.stringify(v).length < 1000);
  });

  it("rotates at the cap and keeps only the given number of old files", () => {
    const log = new JsonlLog<{ n: number; pad: string }>(path.join(dir, "x.jsonl"), { maxBytes: 1000, keep: 2, maxString: 200, fsync: false });
    for (let n = 0; n < 100; n++) log.append({ n, pad: "p".repeat(90) });
    const files = fs.readdirSync(dir).sort();
    assert.deepEqual(files, ["x.jsonl", "x.jsonl.1", "x.jsonl.2"]);
    for (const f of files) assert.ok(fs.statSync(path.join(dir, f)).size <= 1000, f);
    const kept = log.read().map((r) => r.n);
    assert.equal(kept.at(-1), 99, "the newest is kept");
    assert.deepEqual(kept, [...kept].sort((a, b) => a - b), "oldest first across the files");
    assert.ok(kept.length < 40, "the oldest were dropped");
  });

  it("writes files 0600 in a 0700 folder", () => {
    const log = new JsonlLog<{ a: number }>(path.join(dir, "sub", "y.jsonl"), { maxBytes: 1000, keep: 1, maxString: 10, fsync: true });
    log.append({ a: 1 });
    assert.equal(fs.statSync(path.join(dir, "sub", "y.jsonl")).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.join(dir, "sub")).mode & 0o777, 0o700);
  });

  it("an open-door id of 100 kB is written cut, 2,000 bad messages stay within the dead letters' cap", () => {
    const audit = new DoorAudit(dir);
    audit.append({ at: new Date().toISOString(), node: "n", device: "d", command: "open-door", id: "i".repeat(100_000), by: null, via: "native", result: "refused", reason: "busy", pulseMs: 5000, requestedAt: new Date().toISOString() });
    assert.ok(fs.statSync(audit.file).size < 1000);
    const letters = new DeadLetterFile(dir);
    for (let i = 0; i < 2000; i++) letters.append({ node: "n", type: "t", error: "e".repeat(5000), topic: "t".repeat(5000), payload: "p".repeat(50_000) });
    const total = fs.readdirSync(dir).filter((f) => f.startsWith("dead-letter")).reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0);
    assert.ok(total <= 5 * 1024 * 1024, `dead letters take ${total} bytes`);
    assert.ok(letters.read().length > 0);
  });

  it("the audit record never throws, even when it cannot write", () => {
    fs.writeFileSync(path.join(dir, "blocker"), "");
    const audit = new Audit(path.join(dir, "blocker", "inside"));
    const errors: unknown[] = [];
    const original = console.error;
    console.error = (...a: unknown[]) => errors.push(a);
    try {
      audit.record({ event: "auth.refused", via: "http", reason: "wrong password" });
    } finally {
      console.error = original;
    }
    assert.equal(errors.length, 1);
  });
});
