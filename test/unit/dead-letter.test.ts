import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DeadLetterFile, payloadText } from "../../nodes/lib/dead-letter";

describe("dead letters", () => {
  let root: string;
  let n = 0;
  const freshDir = () => path.join(root, `data-${n++}`);
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-unit-dead-"));
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  describe("payloadText", () => {
    it("keeps text and UTF-8 buffers as text", () => {
      assert.equal(payloadText("open"), "open");
      assert.equal(payloadText(Buffer.from("Tür offen ✓", "utf8")), "Tür offen ✓");
      assert.equal(payloadText(""), "");
    });

    it("stores a binary payload as base64 that gives back the same bytes", () => {
      const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x9c, 0x80, 0x01, 0x7b]);
      const text = payloadText(bytes)!;
      assert.ok(text.startsWith("base64:"), text);
      assert.deepEqual(Buffer.from(text.slice("base64:".length), "base64"), bytes);
    });

    it("writes objects and numbers as JSON, and nothing for no payload", () => {
      assert.equal(payloadText({ state: "ajar", n: 1 }), '{"state":"ajar","n":1}');
      assert.equal(payloadText(42), "42");
      assert.equal(payloadText(null), "null");
      assert.equal(payloadText(undefined), undefined);
    });

    it("does not throw on a payload JSON cannot write", () => {
      const circular: Record<string, unknown> = { a: 1 };
      circular.self = circular;
      assert.equal(typeof payloadText(circular), "string");
      assert.equal(payloadText(10n), "10");
    });

    it("cuts a long payload to 4 KiB and marks the cut", () => {
      const long = "x".repeat(10_000);
      const text = payloadText(long)!;
      assert.equal(text, `${"x".repeat(4096)}…`);
      assert.equal(payloadText("y".repeat(4096)), "y".repeat(4096), "exactly 4 KiB is kept whole");
      const bigBinary = Buffer.alloc(10_000, 0xff);
      const cut = payloadText(bigBinary)!;
      assert.ok(cut.startsWith("base64:") && cut.endsWith("…"));
      assert.equal(cut.length, 4097);
    });
  });

  describe("DeadLetterFile", () => {
    it("lives at <data dir>/dead-letter.jsonl", () => {
      const dir = freshDir();
      assert.equal(new DeadLetterFile(dir).file, path.join(dir, "dead-letter.jsonl"));
    });

    it("reads nothing before anything was written", () => {
      assert.deepEqual(new DeadLetterFile(freshDir()).read(), []);
    });

    it("appends one JSON line per letter, with the time, and reads them back in order", () => {
      const dir = freshDir();
      const letters = new DeadLetterFile(dir);
      letters.append(
        { node: "n1", type: "door-sensor", error: "not JSON: {", topic: "pifog/dp/command", payload: payloadText("{") },
        new Date("2026-01-01T10:00:00.000Z"),
      );
      letters.append({ node: "n2", type: "status-matrix", error: "bad doors" }, new Date("2026-01-01T10:00:01.000Z"));

      const lines = fs.readFileSync(letters.file, "utf8").split("\n");
      assert.equal(lines.length, 3, "two lines and the final newline");
      assert.equal(lines[2], "");
      for (const line of lines.slice(0, 2)) JSON.parse(line);

      assert.deepEqual(letters.read(), [
        { at: "2026-01-01T10:00:00.000Z", node: "n1", type: "door-sensor", error: "not JSON: {", topic: "pifog/dp/command", payload: "{" },
        { at: "2026-01-01T10:00:01.000Z", node: "n2", type: "status-matrix", error: "bad doors" },
      ]);
      // another reader of the same file sees the same letters
      assert.equal(new DeadLetterFile(dir).read().length, 2);
    });

    it("keeps a binary payload as base64 and a multi-line payload on one line", () => {
      const dir = freshDir();
      const letters = new DeadLetterFile(dir);
      const bytes = Buffer.from([0x00, 0xff, 0x10, 0xc3]);
      letters.append({ node: "n", type: "t", error: "binary", payload: payloadText(bytes) });
      letters.append({ node: "n", type: "t", error: "two lines", payload: payloadText("line 1\nline 2") });
      const read = letters.read();
      assert.equal(read.length, 2);
      assert.equal(read[0]!.payload, `base64:${bytes.toString("base64")}`);
      assert.equal(read[1]!.payload, "line 1\nline 2");
      assert.equal(fs.readFileSync(letters.file, "utf8").trim().split("\n").length, 2);
    });

    it("stores a long payload cut", () => {
      const letters = new DeadLetterFile(freshDir());
      letters.append({ node: "n", type: "t", error: "too long", payload: payloadText("z".repeat(100_000)) });
      const [letter] = letters.read();
      assert.equal(letter!.payload!.length, 4097);
      assert.ok(fs.statSync(letters.file).size < 5000);
    });

    it("makes the data dir when it does not exist yet", () => {
      const dir = path.join(freshDir(), "a", "b");
      new DeadLetterFile(dir).append({ node: "n", type: "t", error: "e" });
      assert.equal(new DeadLetterFile(dir).read().length, 1);
    });

    it("stamps the current time when none is given", () => {
      const letters = new DeadLetterFile(freshDir());
      const before = Date.now();
      letters.append({ node: "n", type: "t", error: "e" });
      const at = Date.parse(letters.read()[0]!.at);
      assert.ok(at >= before - 1000 && at <= Date.now() + 1000);
    });
  });
});
