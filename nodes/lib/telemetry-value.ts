// The number in a telemetry message, shared by the stats, alert and history nodes: a plain numeric payload as
// ESPEasy sends it (`23.1`), or JSON (a number, or an object with a value path such as `state.humidity`).
// It never throws on a payload: it answers with the value, or with why there is none and whether the message
// looked like a reading at all (so a `#` subscription does not dead-letter every status message it sees).
import { PayloadError } from "./contract";

/** A path into a JSON payload: object keys and array indexes. Empty: the payload itself (or its `value`). */
export type ValuePath = readonly (string | number)[];

/** Payloads above this size are not parsed (they are not sensor readings). */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
/** Beyond ±(2^53 − 1) a double no longer holds every integer; no sensor reads that, so it is a broken value. */
export const MAX_MAGNITUDE = Number.MAX_SAFE_INTEGER;

export type ValueReason =
  | "empty" // nothing in the payload
  | "binary" // bytes that are not UTF-8 text
  | "too-large" // more than MAX_PAYLOAD_BYTES
  | "not-numeric" // text or JSON that is not a number (`online`, `{"state":"ok"}` without a path…)
  | "no-value" // JSON without the value path (or, with no path, an object without `value`)
  | "not-finite" // NaN, Infinity, `1e999`
  | "out-of-range" // finite but beyond ±MAX_MAGNITUDE
  | "not-number-at-path"; // the value path is there, but holds no number

export type ValueResult =
  | { ok: true; value: number; /** the payload was a plain number (not JSON) */ plain: boolean }
  | {
      ok: false;
      reason: ValueReason;
      message: string;
      /** It looked like a reading (a broken number, or the value path holding something else): worth a
       * dead-letter record even on a wildcard subscription. */
      reading: boolean;
    };

const PLAIN_NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const NOT_FINITE_WORD = /^[+-]?(?:nan|inf|infinity)$/i;
const JSON_WORD = /^(?:true|false|null)$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** `temperature`, `state.humidity`, `values[0]`, `values.0`; throws on a path that cannot be followed. */
export function parseValuePath(text: string | undefined): ValuePath {
  const t = (text ?? "").trim();
  if (t === "") return [];
  const steps: (string | number)[] = [];
  for (const part of t.split(".")) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!m || (m[1] === "" && m[2] === "")) throw new Error(`value path "${t}": empty or malformed step "${part}"`);
    // `values.0` indexes an array (or takes an object's "0"); `00` is a key, not an index
    if (m[1] !== "") steps.push(/^(?:0|[1-9]\d{0,8})$/.test(m[1]!) ? Number(m[1]) : m[1]!);
    for (const idx of m[2]!.matchAll(/\[(\d+)\]/g)) steps.push(Number(idx[1]));
  }
  if (steps.length > 32) throw new Error(`value path "${t}" is deeper than 32 steps`);
  return steps;
}

export function formatPath(path: ValuePath): string {
  return path.map((s, i) => (typeof s === "number" ? `[${s}]` : i === 0 ? s : `.${s}`)).join("");
}

const clip = (text: string, n = 40) => (text.length > n ? `${text.slice(0, n)}…` : text);
const fail = (reason: ValueReason, message: string, reading: boolean): ValueResult => ({ ok: false, reason, message, reading });

function checkNumber(n: number, shown: string, plain: boolean): ValueResult {
  if (!Number.isFinite(n)) return fail("not-finite", `not a finite number: ${clip(shown)}`, true);
  if (Math.abs(n) > MAX_MAGNITUDE) return fail("out-of-range", `number out of range (beyond ±${MAX_MAGNITUDE}): ${clip(shown)}`, true);
  return { ok: true, value: n, plain };
}

/** A number written as text: `23.1`, ` -4 `, `1e3`, `.5`; `NaN`/`inf` are numbers that are broken. */
function numberFromText(text: string, plain: boolean): ValueResult | null {
  const t = text.trim();
  if (PLAIN_NUMBER.test(t)) return checkNumber(Number(t), t, plain);
  if (NOT_FINITE_WORD.test(t)) return fail("not-finite", `not a finite number: ${clip(t)}`, true);
  return null;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `text ${JSON.stringify(clip(v))}`;
  return typeof v === "object" ? "an object" : `${typeof v} ${String(v)}`;
}

/** The value found at the end of a path (or a JSON payload that is a scalar): it should be a number. */
function leafValue(v: unknown, where: string): ValueResult {
  if (typeof v === "number") return checkNumber(v, String(v), false);
  if (typeof v === "boolean") return { ok: true, value: v ? 1 : 0, plain: false };
  if (typeof v === "string") {
    const n = numberFromText(v, false);
    if (n) return n;
  }
  return fail("not-number-at-path", `no number ${where}: found ${describe(v)}`, true);
}

function fromJsonValue(v: unknown, path: ValuePath): ValueResult {
  if (path.length === 0) {
    if (typeof v === "number" || typeof v === "boolean") return leafValue(v, "in the payload");
    if (typeof v === "string") return numberFromText(v, false) ?? fail("not-numeric", `not a number: ${describe(v)}`, false);
    if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.prototype.hasOwnProperty.call(v, "value")) {
      return leafValue((v as Record<string, unknown>).value, 'at "value"');
    }
    if (v === null) return fail("not-numeric", "not a number: null", false);
    return fail("no-value", `${describe(v)} with no value path (and no "value" field)`, false);
  }
  // a scalar payload is its own value, whatever the path: one node can take plain and JSON sensors alike
  if (typeof v === "number" || typeof v === "boolean") return leafValue(v, "in the payload");
  if (typeof v === "string") return numberFromText(v, false) ?? fail("not-numeric", `not a number: ${describe(v)}`, false);
  let at: unknown = v;
  for (let i = 0; i < path.length; i++) {
    const step = path[i]!;
    const container = at as Record<string | number, unknown> | null;
    const found =
      container !== null &&
      typeof container === "object" &&
      (Array.isArray(container) ? typeof step === "number" && step < container.length : Object.prototype.hasOwnProperty.call(container, step));
    if (!found) return fail("no-value", `no "${formatPath(path.slice(0, i + 1))}" in the payload`, false);
    at = container[step];
  }
  return leafValue(at, `at "${formatPath(path)}"`);
}

function fromText(text: string, path: ValuePath, bytes: number): ValueResult {
  const t = text.trim();
  if (t === "") return fail("empty", "empty payload", false);
  const n = numberFromText(t, true);
  if (n) return n;
  const c = t[0];
  if (c === "{" || c === "[" || c === '"' || JSON_WORD.test(t)) {
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch {
      return fail("not-numeric", `not a number and not JSON (${bytes} bytes): ${clip(t)}`, false);
    }
    return fromJsonValue(v, path);
  }
  return fail("not-numeric", `not a number: ${clip(t)}`, false);
}

function hasControlBytes(text: string): boolean {
  // NUL and the other C0 controls (tab, LF, CR excepted) never occur in text a sensor sends
  return /[\u0000-\u0008\u000e-\u001f]/.test(text);
}

/**
 * The number in a payload (a Buffer as it came over MQTT, or whatever a flow put in msg.payload), or why
 * there is none. Never throws.
 */
export function readValue(payload: unknown, path: ValuePath = []): ValueResult {
  try {
    if (Buffer.isBuffer(payload) || payload instanceof Uint8Array) {
      const bytes = payload.length;
      if (bytes > MAX_PAYLOAD_BYTES) return fail("too-large", `payload too large (${bytes} bytes > ${MAX_PAYLOAD_BYTES})`, false);
      let text: string;
      try {
        text = utf8.decode(payload);
      } catch {
        return fail("binary", `binary payload (${bytes} bytes, not UTF-8)`, false);
      }
      if (hasControlBytes(text)) return fail("binary", `binary payload (${bytes} bytes with control bytes)`, false);
      return fromText(text, path, bytes);
    }
    if (typeof payload === "string") {
      if (payload.length > MAX_PAYLOAD_BYTES) return fail("too-large", `payload too large (${payload.length} characters > ${MAX_PAYLOAD_BYTES})`, false);
      if (hasControlBytes(payload)) return fail("binary", `binary payload (${payload.length} characters with control bytes)`, false);
      return fromText(payload, path, Buffer.byteLength(payload));
    }
    if (payload === undefined) return fail("empty", "no payload", false);
    return fromJsonValue(payload, path);
  } catch (err) {
    // a getter or proxy in a flow's object: still never a crash
    return fail("not-numeric", `unreadable payload: ${(err as Error).message}`, false);
  }
}

/** The value or null: what the history logger stores beside the raw payload. */
export function numericValue(payload: unknown, path: ValuePath = []): number | null {
  const r = readValue(payload, path);
  return r.ok ? r.value : null;
}

export function hasWildcard(filter: string): boolean {
  return filter.split("/").some((level) => level === "+" || level === "#");
}

/**
 * Whether a failed value deserves a dead-letter record: the message was expected to be numeric, because it
 * came on a filter without wildcards (one sensor's topic), or because it looked like a reading (a broken
 * number such as `NaN`, or the value path holding something else).
 */
export function expectedNumeric(result: ValueResult, filter: string | undefined): boolean {
  if (result.ok) return false;
  return result.reading || filter === undefined || !hasWildcard(filter);
}

/** The Error a node fails a message with when its value cannot be used. */
export function valueError(result: Extract<ValueResult, { ok: false }>): PayloadError {
  return new PayloadError(result.message);
}
