// Whatever arrives, the logger stores it or records why not, and keeps going: a property test over payloads
// and topics, through the real broker.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { SqliteHistoryStore } from "../../nodes/lib/history/sqlite-store";
import history from "../../nodes/history/history";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import { TestClient } from "../support/mqtt";
import { deviceNode, helper, startHarness, type Harness } from "../support/node-harness";

const nested = (depth: number): string => "[".repeat(depth) + "1" + "]".repeat(depth);

const payloads = fc.oneof(
  fc.string(),
  fc.double().map(String), // NaN, Infinity, -0, 1e308 …
  fc.constantFrom("NaN", "Infinity", "-Infinity", "1e999", "0x10", "", " 23.1 ", "true", "null", '{"value":"x"}'),
  fc.uint8Array({ minLength: 0, maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.integer({ min: 1, max: 5000 }).map(nested),
  fc.jsonValue().map((v) => JSON.stringify(v) ?? "null"),
  fc.constant("x".repeat(1024 * 1024 + 10)), // large (a still), under the broker's packet limit: stored whole
);
const level = fc.string({ minLength: 1, maxLength: 12 }).filter((l) => !/[+#/\u0000]/.test(l));
const topics = fc.array(level, { minLength: 1, maxLength: 5 }).map((l) => `fuzz/${l.join("/")}`);

describe("history node with bad input", function () {
  this.timeout(120_000);
  let h: Harness;
  before(async () => {
    h = await startHarness();
    h.useServices({ embedded: true });
  });
  after(async () => {
    await h.close();
  });

  it("stores every payload byte for byte, or dead-letters it with the reason, and never stops", async () => {
    await helper.load([pifogDevice, history], [
      deviceNode("hub", h.url),
      { id: "hist", type: "history", z: "tab", device: "cfg-hub", filters: "fuzz/#", backend: "sqlite", ingest: "auto" },
      { id: "tab", type: "tab" },
    ]);
    const publisher = await TestClient.connect(h.url, h.auth);
    const sent: Array<{ topic: string; payload: Buffer }> = [];
    await fc.assert(
      fc.asyncProperty(topics, payloads, async (topic, payload) => {
        const bytes = typeof payload === "string" ? Buffer.from(payload) : payload;
        await publisher.client.publishAsync(topic, bytes, { qos: 1 });
        sent.push({ topic, payload: bytes });
      }),
      { numRuns: 150, seed: 20261122 },
    );
    await publisher.end();

    const store = new SqliteHistoryStore(h.dataDir);
    const rows = await store.messages({ topic: "fuzz/#", from: 0, to: Date.now() + 1, limit: 10_000 });
    await store.close();
    const letters = fs.existsSync(path.join(h.dataDir, "dead-letter.jsonl"))
      ? fs.readFileSync(path.join(h.dataDir, "dead-letter.jsonl"), "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { error: string; topic: string })
      : [];
    // the broker takes nothing bigger than its packet limit, and the history stores whatever the broker took
    const limit = h.broker.maxPacketBytes;
    const tooBig = sent.filter((m) => m.payload.length > limit);
    assert.equal(rows.length + letters.length, sent.length, "each message stored or dead-lettered, once");
    assert.equal(letters.length, tooBig.length);
    for (const l of letters) assert.match(l.error, new RegExp(`over the ${limit}-byte limit`));
    // byte for byte, in order
    const kept = sent.filter((m) => m.payload.length <= limit);
    rows.forEach((row, i) => {
      const m = kept[i]!;
      assert.equal(row.topic, m.topic);
      const text = m.payload.toString("utf8");
      assert.equal(row.payload, text.includes("\uFFFD") ? `base64:${m.payload.toString("base64")}` : text);
      if (row.value !== null) assert.ok(Number.isFinite(row.value), "a stored value is always a finite number");
    });
  });
});
