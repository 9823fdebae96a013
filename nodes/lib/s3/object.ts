// Pure helpers of the S3 writer: the object key template, the content type from the bytes, the metadata
// (x-amz-meta-*) from a message, and which S3 errors are worth retrying soon.
//
// Key template placeholders (all times UTC, from msg.timestamp or the clock's now):
//   <device>  msg.device or the node's device setting ("/" and unsafe characters become "_")
//   <yyyy> <mm> <dd> <hh>   year, month, day, hour (zero-padded)
//   <time>    hhmmss-SSS (e.g. 193012-123)      <ts>  ms since the epoch
//   <n>       the spool sequence number: increasing and never reused in the data dir, so two objects of the
//             same millisecond never share a key and a retried upload writes the same key again (no duplicate)
//   <ext>     png, jpg or bin after the content type
export const DEFAULT_KEY_TEMPLATE = "faces/<device>/<yyyy>/<mm>/<dd>/<time>-<n>.png";

/** Uploads larger than this go as a multipart upload (lib-storage Upload); smaller as one PutObject. */
export const MULTIPART_THRESHOLD = 5 * 1024 * 1024;

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

export function safeSegment(value: string): string {
  const s = value.replace(/[^A-Za-z0-9._-]/g, "_");
  return s === "" || s === "." || s === ".." ? "_" : s;
}

/** Renders everything but `<n>` (filled in at delivery with the spool id). */
export function renderKey(template: string, parts: { device: string; timestamp: number; contentType: string }): string {
  const d = new Date(parts.timestamp);
  const values: Record<string, string> = {
    device: safeSegment(parts.device),
    yyyy: pad(d.getUTCFullYear(), 4),
    mm: pad(d.getUTCMonth() + 1),
    dd: pad(d.getUTCDate()),
    hh: pad(d.getUTCHours()),
    time: `${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}-${pad(d.getUTCMilliseconds(), 3)}`,
    ts: String(parts.timestamp),
    ext: extensionOf(parts.contentType),
  };
  return template.replace(/<([a-z]+)>/g, (all, name: string) => values[name] ?? all).replace(/^\/+/, "");
}

export function withSequence(key: string, n: number): string {
  return key.replace(/<n>/g, String(n));
}

/** Unknown placeholders in a template (a typo would otherwise end up in every key). */
export function unknownPlaceholders(template: string): string[] {
  const known = new Set(["device", "yyyy", "mm", "dd", "hh", "time", "ts", "n", "ext"]);
  return [...template.matchAll(/<([^>]*)>/g)].map((m) => m[1]).filter((p) => !known.has(p));
}

export function sniffContentType(bytes: Buffer): string | undefined {
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    return "image/png";
  }
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "image/jpeg";
  return undefined;
}

export function extensionOf(contentType: string): string {
  if (contentType === "image/png") return "png";
  if (contentType === "image/jpeg") return "jpg";
  return "bin";
}

/** The msg.timestamp (ms, seconds, ISO string or Date) as ms, or undefined. */
export function timestampOf(value: unknown): number | undefined {
  if (value instanceof Date) return Number.isFinite(value.getTime()) ? value.getTime() : undefined;
  if (typeof value === "number" && Number.isFinite(value) && value > 0) return value < 1e11 ? value * 1000 : value;
  if (typeof value === "string" && value.trim() !== "") {
    const n = Number(value);
    if (Number.isFinite(n)) return timestampOf(n);
    const t = Date.parse(value);
    return Number.isFinite(t) ? t : undefined;
  }
  return undefined;
}

function metaKey(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9-]/g, "-");
}

/** S3 user metadata travels as HTTP headers: printable ASCII stays as is, anything else is percent-encoded. */
function metaValue(value: unknown): string {
  const s = typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
  return /^[\x20-\x7e]*$/.test(s) ? s : encodeURIComponent(s);
}

/** x-amz-meta-* from msg.metadata (flat object) and msg.face ({box:{x,y,width,height}, score} or flat). */
export function metadataOf(metadata: unknown, face: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (metadata && typeof metadata === "object" && !Array.isArray(metadata)) {
    for (const [k, v] of Object.entries(metadata as Record<string, unknown>)) {
      if (v === undefined || v === null || metaKey(k) === "") continue;
      out[metaKey(k)] = metaValue(v);
    }
  }
  if (face && typeof face === "object") {
    const f = face as Record<string, unknown>;
    const box = (f.box && typeof f.box === "object" ? f.box : f) as Record<string, unknown>;
    const nums = ["x", "y", "width", "height"].map((k) => Number(box[k]));
    if (nums.every((n) => Number.isFinite(n))) out["face-box"] = nums.map((n) => Math.round(n)).join(",");
    const score = Number(f.score);
    if (f.score !== undefined && Number.isFinite(score)) out["face-score"] = score.toFixed(3);
  }
  return out;
}

/** A permanent failure (4xx other than a timeout or throttling) will not heal by itself: a wrong bucket,
 * wrong credentials, no permission. Network errors, 5xx and throttling are transient. */
export function isPermanent(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  const transientNames = ["SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed"];
  if (e?.name && transientNames.includes(e.name)) return false;
  return typeof status === "number" && status >= 400 && status < 500 && status !== 408 && status !== 429;
}
