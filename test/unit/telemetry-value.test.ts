import assert from "node:assert/strict";
import fc from "fast-check";
import {
  MAX_MAGNITUDE,
  MAX_PAYLOAD_BYTES,
  expectedNumeric,
  formatPath,
  numericValue,
  parseValuePath,
  readValue,
  type ValueReason,
  type ValueResult,
} from "../../nodes/lib/telemetry-value";

const REASONS: ValueReason[] = ["empty", "binary", "too-large", "not-numeric", "no-value", "not-finite", "out-of-range", "not-number-at-path"];

function value(r: ValueResult): number {
  assert.ok(r.ok, `expected a value, got ${r.ok ? "" : `${r.reason}: ${r.message}`}`);
  return r.value;
}

function failure(r: ValueResult, reason: ValueReason, reading: boolean): string {
  assert.ok(!r.ok, `expected ${reason}, got the value ${r.ok ? r.value : ""}`);
  assert.equal(r.reason, reason, r.message);
  assert.equal(r.reading, reading, `${reason} should${reading ? "" : " not"} look like a reading`);
  return r.message;
}

describe("telemetry value parser", () => {
  describe("plain numbers, as ESPEasy sends them", () => {
    for (const [text, expected] of [
      ["23.1", 23.1],
      ["-4", -4],
      [" 21.50 \n", 21.5],
      ["+1", 1],
      [".5", 0.5],
      ["7.", 7],
      ["1e3", 1000],
      ["-2.5E-2", -0.025],
      ["0", 0],
    ] as const) {
      it(`reads ${JSON.stringify(text)} as ${expected}`, () => {
        const r = readValue(Buffer.from(text));
        assert.equal(value(r), expected);
        assert.equal(r.ok && r.plain, true);
        assert.equal(value(readValue(text)), expected);
      });
    }

    it("takes a plain number whatever the value path, so one node serves plain and JSON sensors", () => {
      assert.equal(value(readValue(Buffer.from("23.1"), parseValuePath("state.temperature"))), 23.1);
    });
  });

  describe("JSON", () => {
    it("reads a JSON number, a numeric string and booleans (1/0)", () => {
      assert.equal(value(readValue(Buffer.from('"23.1"'))), 23.1);
      assert.equal(value(readValue(Buffer.from("true"))), 1);
      assert.equal(value(readValue(Buffer.from("false"))), 0);
      assert.equal(readValue(Buffer.from('"23.1"')).ok && (readValue(Buffer.from('"23.1"')) as { plain: boolean }).plain, false);
    });

    it("follows a value path through objects and arrays", () => {
      const payload = Buffer.from(JSON.stringify({ temperature: 21.5, state: { humidity: 48 }, values: [1, [2, 3]] }));
      assert.equal(value(readValue(payload, parseValuePath("temperature"))), 21.5);
      assert.equal(value(readValue(payload, parseValuePath("state.humidity"))), 48);
      assert.equal(value(readValue(payload, parseValuePath("values[1][0]"))), 2);
      assert.equal(value(readValue(payload, parseValuePath("values.1.1"))), 3);
    });

    it("without a path, takes an object's value field", () => {
      assert.equal(value(readValue(Buffer.from('{"value": 3.5, "unit": "°C"}'))), 3.5);
      assert.equal(numericValue(Buffer.from('{"value": "4"}')), 4);
    });

    it("reads objects a flow put in msg.payload, and numbers", () => {
      assert.equal(value(readValue({ a: { b: 7 } }, parseValuePath("a.b"))), 7);
      assert.equal(value(readValue(12.25)), 12.25);
    });

    it("does not follow inherited properties", () => {
      failure(readValue(Buffer.from("{}"), parseValuePath("constructor")), "no-value", false);
      failure(readValue(Buffer.from('{"a":1}'), parseValuePath("__proto__")), "no-value", false);
      failure(readValue(Buffer.from("[1,2]"), parseValuePath("length")), "no-value", false);
    });
  });

  describe("what is not a reading, and why", () => {
    it("skips text, empty payloads and JSON without the value, as not readings", () => {
      assert.match(failure(readValue(Buffer.from("online")), "not-numeric", false), /online/);
      failure(readValue(Buffer.from("23.1 °C")), "not-numeric", false);
      failure(readValue(Buffer.from("1,5")), "not-numeric", false);
      failure(readValue(Buffer.from("0x10")), "not-numeric", false);
      failure(readValue(Buffer.from("")), "empty", false);
      failure(readValue(Buffer.from("   ")), "empty", false);
      failure(readValue(undefined), "empty", false);
      failure(readValue(Buffer.from('{"state":"online"}')), "no-value", false);
      assert.match(failure(readValue(Buffer.from('{"x":1}'), parseValuePath("state.humidity")), "no-value", false), /state/);
      failure(readValue(Buffer.from("{truncated")), "not-numeric", false);
      failure(readValue(Buffer.from("null")), "not-numeric", false);
      failure(readValue(Buffer.from("[1,2,3]")), "no-value", false);
    });

    it("treats NaN, infinities and numbers too large as broken readings", () => {
      for (const t of ["NaN", "nan", "-nan", "inf", "Infinity", "-Infinity", "1e999", "-1e400", "9".repeat(400)]) {
        failure(readValue(Buffer.from(t)), "not-finite", true);
      }
      assert.match(failure(readValue(Buffer.from("1e300")), "out-of-range", true), /out of range/);
      failure(readValue(Buffer.from(String(MAX_MAGNITUDE * 4))), "out-of-range", true);
      assert.equal(value(readValue(Buffer.from(String(MAX_MAGNITUDE)))), MAX_MAGNITUDE);
      failure(readValue(Number.NaN), "not-finite", true);
      failure(readValue(Buffer.from('{"t":"NaN"}'), parseValuePath("t")), "not-finite", true);
    });

    it("treats a value path holding something else as a broken reading", () => {
      assert.match(failure(readValue(Buffer.from('{"temperature":"n/a"}'), parseValuePath("temperature")), "not-number-at-path", true), /temperature.*n\/a/);
      failure(readValue(Buffer.from('{"temperature":null}'), parseValuePath("temperature")), "not-number-at-path", true);
      failure(readValue(Buffer.from('{"temperature":{"c":1}}'), parseValuePath("temperature")), "not-number-at-path", true);
      failure(readValue(Buffer.from('{"value":"x"}')), "not-number-at-path", true);
    });

    it("skips binary data, oversized and deeply nested payloads without trouble", () => {
      failure(readValue(Buffer.from([0xff, 0xfe, 0x00, 0x9c])), "binary", false);
      failure(readValue(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), "binary", false);
      failure(readValue(Buffer.from("12\u00003")), "binary", false);
      assert.match(failure(readValue(Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 0x31)), "too-large", false), /too large/);
      const deep = "[".repeat(20_000) + "]".repeat(20_000);
      failure(readValue(Buffer.from(deep)), "no-value", false);
      const deepObject = '{"a":'.repeat(5000) + "1" + "}".repeat(5000);
      failure(readValue(Buffer.from(deepObject), parseValuePath("a.a")), "not-number-at-path", true);
      let nested: unknown = 5;
      for (let i = 0; i < 100_000; i++) nested = { a: nested };
      failure(readValue(nested, parseValuePath("a")), "not-number-at-path", true);
    });

    it("never throws on a hostile object from a flow", () => {
      const hostile = new Proxy({}, { getOwnPropertyDescriptor: () => { throw new Error("boom"); }, has: () => { throw new Error("boom"); } });
      const r = readValue(hostile, parseValuePath("x"));
      assert.equal(r.ok, false);
    });
  });

  describe("expected to be numeric", () => {
    it("is a failure on a topic named exactly, or one that looked like a reading", () => {
      const text = readValue(Buffer.from("online"));
      const nan = readValue(Buffer.from("NaN"));
      assert.equal(expectedNumeric(text, "home/+/status"), false);
      assert.equal(expectedNumeric(text, "#"), false);
      assert.equal(expectedNumeric(text, "home/kitchen/temperature"), true);
      assert.equal(expectedNumeric(text, undefined), true, "a message a flow sends in is expected to be a reading");
      assert.equal(expectedNumeric(nan, "#"), true);
      assert.equal(expectedNumeric(readValue(Buffer.from("1")), "x"), false);
    });
  });

  describe("value paths", () => {
    it("parses keys, dotted keys and indexes", () => {
      assert.deepEqual(parseValuePath(""), []);
      assert.deepEqual(parseValuePath(undefined), []);
      assert.deepEqual(parseValuePath(" temperature "), ["temperature"]);
      assert.deepEqual(parseValuePath("state.humidity"), ["state", "humidity"]);
      assert.deepEqual(parseValuePath("values[0][2].x"), ["values", 0, 2, "x"]);
      assert.deepEqual(parseValuePath("values.0"), ["values", 0]);
      assert.deepEqual(parseValuePath("a.00.007"), ["a", "00", "007"], "not canonical indexes: keys");
      assert.equal(value(readValue(Buffer.from('{"a":{"00":5,"0":6}}'), parseValuePath("a.00"))), 5);
      assert.equal(value(readValue(Buffer.from('{"a":{"00":5,"0":6}}'), parseValuePath("a.0"))), 6);
      assert.equal(formatPath(parseValuePath("values[0].x")), "values[0].x");
    });

    it("rejects paths that cannot be followed", () => {
      for (const bad of ["a..b", ".a", "a.", "a[x]", "a[0", "a]"]) assert.throws(() => parseValuePath(bad), /value path/, bad);
      assert.throws(() => parseValuePath(Array.from({ length: 40 }, () => "a").join(".")), /deeper/);
    });
  });

  describe("properties (fast-check)", () => {
    const anyPayload = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
      fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)),
      fc.string({ unit: "binary", maxLength: 100 }).map((s) => Buffer.from(s)),
      fc.jsonValue({ maxDepth: 6 }).map((v) => Buffer.from(JSON.stringify(v) ?? "")),
      fc.double().map((d) => Buffer.from(String(d))),
      fc.constantFrom("NaN", "Infinity", "-inf", "1e999", "1e308", "", " ", "{", "[[[[", "null").map((s) => Buffer.from(s)),
      fc.integer({ min: 1, max: 3000 }).map((n) => Buffer.from("[".repeat(n) + "]".repeat(n))),
      fc.jsonValue({ maxDepth: 4 }),
      fc.anything(),
    );
    const anyPath = fc.oneof(fc.constant(""), fc.constantFrom("value", "temperature", "state.humidity", "a[0]", "0"));

    it("never throws, and answers a finite in-range number or a known reason with a message", () => {
      fc.assert(
        fc.property(anyPayload, anyPath, (payload, path) => {
          const r = readValue(payload, parseValuePath(path));
          if (r.ok) {
            assert.ok(Number.isFinite(r.value) && Math.abs(r.value) <= MAX_MAGNITUDE);
          } else {
            assert.ok(REASONS.includes(r.reason));
            assert.ok(r.message.length > 0 && r.message.length < 300);
          }
          assert.equal(numericValue(payload, parseValuePath(path)), r.ok ? r.value : null);
        }),
        { numRuns: 2000 },
      );
    });

    it("reads back every finite number written as text or at a JSON path", () => {
      const finite = fc.double({ noNaN: true, noDefaultInfinity: true, min: -MAX_MAGNITUDE, max: MAX_MAGNITUDE });
      const key = fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !/[.[\]]/.test(k) && k.trim() === k && k !== "__proto__");
      fc.assert(
        fc.property(finite, fc.array(key, { minLength: 1, maxLength: 4 }), (x, keys) => {
          assert.equal(value(readValue(Buffer.from(String(x)))), x === 0 ? 0 : x);
          let obj: unknown = x;
          for (const k of [...keys].reverse()) obj = { [k]: obj };
          assert.equal(value(readValue(Buffer.from(JSON.stringify(obj)), parseValuePath(keys.join(".")))), x === 0 ? 0 : x);
        }),
        { numRuns: 1000 },
      );
    });
  });
});
