// Signed payloads (issue 11): the one format every signer and verifier of the fog agrees on. A payload (a JSON
// object) gets a `signature` field: ECDSA P-256 over SHA-256 (ES256) by an identity of the local CA, over a
// canonical encoding of the payload (without `signature`, and without `from` and `sender`, which the embedded broker overwrites on
// every command), a timestamp, a nonce and, when the signer names it, the topic it is meant for (so a command signed
// for one door cannot be replayed on another). The verifier checks the certificate against the CA and the revocation
// list, the signature, the time (±60 s) and that the nonce was not seen. Certificates are read with node:crypto only
// (cert-subject.ts reads their names): signing and verifying load no ASN.1 library, so a Pi stays small.
import crypto from "node:crypto";
import type { Clock } from "../clock";
import { subjectField } from "./cert-subject";

export const SIGNATURE_FIELD = "signature";
/** Fields the signature never covers: the signature itself, and the broker's sender stamp (nodes/lib/broker). */
export const UNSIGNED_FIELDS: readonly string[] = [SIGNATURE_FIELD, "from", "sender"];
export const SIGNATURE_ALG = "ES256";
/** How far a signature's time may be from the verifier's clock, either way. */
export const DEFAULT_WINDOW_MS = 60_000;
/** The most nonces a verifier remembers (a flood of valid signatures beyond it raises its floor, see NonceCache). */
export const DEFAULT_NONCE_CAPACITY = 10_000;

/** What a signed payload carries in its `signature` field. */
export interface Signature {
  alg: typeof SIGNATURE_ALG;
  /** The signer's certificate CN (its device id): for a person reading the payload; the certificate is what counts. */
  by: string;
  /** The signer's certificate, base64 DER. */
  cert: string;
  /** When it was signed, ISO. */
  ts: string;
  /** 16 random bytes, hex. */
  nonce: string;
  /** The topic it was signed for, when the signer named one. */
  topic?: string;
  /** ECDSA P-256 SHA-256, r‖s (IEEE P1363), base64. */
  sig: string;
}

export type SignedPayload<P extends object = Record<string, unknown>> = P & { signature: Signature };

/** An identity that signs: its certificate and private key (PEM), as in its bundle. */
export interface SigningIdentity {
  cert: string;
  key: string;
}

/** Who signed, once the signature checked out. */
export interface SignerInfo {
  /** The certificate's CN: the device id. */
  cn: string;
  /** The certificate's serial, lower-case hex without separators. */
  serial: string;
  /** The role the certificate states (its subject's OU), when it states one. */
  role: string | null;
}

export type VerifyRefusal = "unsigned" | "tampered" | "replayed" | "stale" | "revoked" | "untrusted" | "not-allowed";
export const VERIFY_REFUSALS: readonly VerifyRefusal[] = ["unsigned", "tampered", "replayed", "stale", "revoked", "untrusted", "not-allowed"];

export type VerifyResult = { ok: true; signer: SignerInfo } | { ok: false; reason: VerifyRefusal; detail: string; signer?: SignerInfo };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** JSON with every object's keys sorted, so signer and verifier encode the same value to the same bytes. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(",")}]`;
  if (isRecord(value)) {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`;
  }
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`cannot sign a ${typeof value}`);
  return text;
}

/** The payload as signed: without the fields the signature does not cover. */
export function signedContent(payload: Record<string, unknown>): Record<string, unknown> {
  const content: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(payload)) if (!UNSIGNED_FIELDS.includes(k)) content[k] = v;
  return content;
}

/** The bytes the signature is over. */
export function signedBytes(payload: Record<string, unknown>, s: { ts: string; nonce: string; topic?: string }): Buffer {
  const what = { v: 1, alg: SIGNATURE_ALG, ts: s.ts, nonce: s.nonce, topic: s.topic ?? null, payload: signedContent(payload) };
  return Buffer.from(`pifog-signature\n${canonicalJson(what)}`, "utf8");
}

/** The CN of a certificate's subject ("" when it has none). */
function commonName(cert: crypto.X509Certificate): string {
  return subjectField(cert, "CN") ?? "";
}

/** A certificate's serial as the identity store writes it: lower-case hex, no separators. */
export function serialOf(cert: crypto.X509Certificate): string {
  return cert.serialNumber.replace(/[^0-9a-fA-F]/g, "").toLowerCase();
}

/**
 * `payload` with a `signature` by `signer` (its certificate and P-256 key, PEM) at `now`; `topic`, when given, is
 * signed too and the verifier then takes the payload only on that topic. Throws when the key is not P-256.
 */
export function signPayload<P extends object>(payload: P, signer: SigningIdentity, now: number, options: { topic?: string; nonce?: Buffer } = {}): SignedPayload<P> {
  if (!isRecord(payload)) throw new TypeError("only an object payload can be signed");
  const key = crypto.createPrivateKey(signer.key);
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new Error("the signing key is not an ECDSA P-256 key");
  }
  const cert = new crypto.X509Certificate(signer.cert);
  const ts = new Date(now).toISOString();
  const nonce = (options.nonce ?? crypto.randomBytes(16)).toString("hex");
  const topic = options.topic;
  const data = signedBytes(payload, { ts, nonce, ...(topic !== undefined ? { topic } : {}) });
  const sig = crypto.sign("sha256", data, { key, dsaEncoding: "ieee-p1363" }).toString("base64");
  const signature: Signature = {
    alg: SIGNATURE_ALG,
    by: commonName(cert),
    cert: cert.raw.toString("base64"),
    ts,
    nonce,
    ...(topic !== undefined ? { topic } : {}),
    sig,
  };
  const out = { ...signedContent(payload), signature } as Record<string, unknown>;
  return out as SignedPayload<P>;
}

/** The `signature` field's shape, checked; null when it is not one. */
function parseSignature(v: unknown): Signature | string {
  if (!isRecord(v)) return "the signature is not an object";
  const { alg, by, cert, ts, nonce, topic, sig } = v;
  if (alg !== SIGNATURE_ALG) return `algorithm ${String(alg).slice(0, 20)} is not ${SIGNATURE_ALG}`;
  for (const [name, value, max] of [["by", by, 128], ["cert", cert, 8192], ["ts", ts, 40], ["nonce", nonce, 64], ["sig", sig, 200]] as const) {
    if (typeof value !== "string" || value.length === 0 || value.length > max) return `signature ${name} is missing or too long`;
  }
  if (topic !== undefined && (typeof topic !== "string" || topic.length > 1024)) return "signature topic is not text";
  if (!/^[0-9a-f]{32}$/.test(nonce as string)) return "the nonce is not 16 bytes of hex";
  return v as unknown as Signature;
}

/**
 * The nonces seen in the window: each is kept until its signature would be stale anyway (its ts + the window), then
 * forgotten. Bounded: when full of nonces that are all still fresh (a flood of valid signatures), the one signed
 * earliest is forgotten and the floor rises to its time: nothing signed at or before the floor is taken again, so a
 * forgotten nonce can never be replayed.
 */
export class NonceCache {
  private readonly seen = new Map<string, number>();
  private floorMs = -Infinity;

  constructor(
    private readonly windowMs = DEFAULT_WINDOW_MS,
    readonly capacity = DEFAULT_NONCE_CAPACITY,
  ) {
    if (!(capacity >= 1)) throw new RangeError("a nonce cache needs room for one nonce");
  }

  get size(): number {
    return this.seen.size;
  }

  /** Signatures at or before this time are refused: nonces that old may have been forgotten. */
  get floor(): number {
    return this.floorMs;
  }

  has(nonce: string): boolean {
    return this.seen.has(nonce);
  }

  /** Remembers a nonce signed at `ts` (ms); forgets what is out of the window at `now` and, when still full, the earliest. */
  add(nonce: string, ts: number, now: number): void {
    if (this.seen.size >= this.capacity) this.forget(now);
    if (this.seen.size >= this.capacity) {
      let earliest: [string, number] | null = null;
      for (const entry of this.seen) if (!earliest || entry[1] < earliest[1]) earliest = entry;
      this.seen.delete(earliest![0]);
      this.floorMs = Math.max(this.floorMs, earliest![1]);
    }
    this.seen.set(nonce, ts);
  }

  /** Drops the nonces whose signatures are out of the window at `now`. */
  forget(now: number): void {
    for (const [nonce, ts] of this.seen) if (ts + this.windowMs < now) this.seen.delete(nonce);
  }
}

export interface VerifierOptions {
  /** The local CA's certificate (PEM): what a signer's certificate must be issued by. */
  caCert: string;
  /** Whether a certificate serial (lower-case hex) is revoked: asked at every verification. */
  isRevoked: (serial: string) => boolean;
  clock: Pick<Clock, "now">;
  windowMs?: number;
  /** Whether this signer may sign what is verified here: true, or why not. */
  allowed?: (signer: SignerInfo) => true | string;
  /** The signer's role as this runtime knows it (the identity store's record); default: the certificate's OU. */
  roleOf?: (signer: { cn: string; serial: string }) => string | null;
  /** Shared between the verifiers of one runtime, so a redeployed node still knows what it has seen. */
  nonces?: NonceCache;
}

/** Verifies signed payloads; one per purpose (its `allowed`), sharing the runtime's nonce cache. */
export class Verifier {
  private readonly ca: crypto.X509Certificate;
  private readonly windowMs: number;
  private readonly nonces: NonceCache;

  constructor(private readonly options: VerifierOptions) {
    this.ca = new crypto.X509Certificate(options.caCert);
    this.windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
    this.nonces = options.nonces ?? new NonceCache(this.windowMs);
  }

  /**
   * Checks a payload as it arrived. `topic`: where it arrived; a signature naming another topic is refused. Only an
   * accepted payload's nonce is remembered (a refused one may be retried within the window once it is right).
   */
  verify(payload: unknown, options: { topic?: string } = {}): VerifyResult {
    const refuse = (reason: VerifyRefusal, detail: string, signer?: SignerInfo): VerifyResult => ({ ok: false, reason, detail, ...(signer ? { signer } : {}) });
    if (!isRecord(payload) || payload[SIGNATURE_FIELD] === undefined) return refuse("unsigned", "the payload carries no signature");
    const s = parseSignature(payload[SIGNATURE_FIELD]);
    if (typeof s === "string") return refuse("tampered", s);

    let cert: crypto.X509Certificate;
    try {
      cert = new crypto.X509Certificate(Buffer.from(s.cert, "base64"));
    } catch (err) {
      return refuse("tampered", `the signer's certificate does not parse: ${(err as Error).message}`);
    }
    const identity = { cn: commonName(cert), serial: serialOf(cert) };
    const signer: SignerInfo = { ...identity, role: this.options.roleOf ? this.options.roleOf(identity) : subjectField(cert, "OU") };
    const now = this.options.clock.now();

    // the certificate: issued by our CA (its signature checks out with the CA's key), valid now, not revoked
    if (!cert.checkIssued(this.ca) || !cert.verify(this.ca.publicKey)) {
      return refuse("untrusted", `the certificate of "${signer.cn}" is not issued by this fog's CA`, signer);
    }
    if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) {
      return refuse("untrusted", `the certificate of "${signer.cn}" is not valid now (${cert.validFrom} to ${cert.validTo})`, signer);
    }
    if (cert.publicKey.asymmetricKeyType !== "ec" || cert.publicKey.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
      return refuse("untrusted", `the certificate of "${signer.cn}" has no P-256 key`, signer);
    }
    if (this.options.isRevoked(signer.serial)) return refuse("revoked", `the certificate of "${signer.cn}" (serial ${signer.serial}) is revoked`, signer);

    // the signature over the payload, its time, nonce and topic
    const sig = Buffer.from(s.sig, "base64");
    const data = signedBytes(payload, { ts: s.ts, nonce: s.nonce, ...(s.topic !== undefined ? { topic: s.topic } : {}) });
    let good = false;
    try {
      good = sig.length === 64 && crypto.verify("sha256", data, { key: cert.publicKey, dsaEncoding: "ieee-p1363" }, sig);
    } catch {
      good = false;
    }
    if (!good) return refuse("tampered", `the signature of "${signer.cn}" does not match the payload`, signer);
    if (options.topic !== undefined && s.topic !== options.topic) {
      return refuse("tampered", `signed for ${s.topic === undefined ? "no topic" : s.topic.slice(0, 120)}, arrived on ${options.topic.slice(0, 120)}`, signer);
    }

    const ts = Date.parse(s.ts);
    if (!Number.isFinite(ts)) return refuse("tampered", "the signature's time is not a time", signer);
    if (Math.abs(now - ts) > this.windowMs) {
      return refuse("stale", `signed at ${s.ts}, ${Math.round((now - ts) / 1000)} s from now (at most ±${this.windowMs / 1000} s)`, signer);
    }
    if (this.nonces.has(s.nonce)) return refuse("replayed", `nonce ${s.nonce} was seen already`, signer);
    if (ts <= this.nonces.floor) {
      return refuse("stale", `signed at ${s.ts}, before the earliest signature this verifier still remembers`, signer);
    }
    const allowed = this.options.allowed?.(signer) ?? true;
    if (allowed !== true) return refuse("not-allowed", allowed, signer);
    this.nonces.add(s.nonce, ts, now);
    return { ok: true, signer };
  }
}
