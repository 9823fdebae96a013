// HS256 JSON Web Tokens for the /v1 API (detectordag's login), with node:crypto only. The secret is made once
// into the data dir (mode 0600) and kept: changing it logs everyone out.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export const DEFAULT_TOKEN_LIFETIME_MS = 2 * 3_600_000;
export const JWT_ISSUER = "pifog";

export interface TokenClaims {
  /** The account id. */
  sub: string;
  /** detectordag's claim name for the same id. */
  accountId: string;
  iss: string;
  /** Seconds since the epoch. */
  iat: number;
  exp: number;
}

export class TokenError extends Error {}

const b64 = (data: Buffer | string) => Buffer.from(data).toString("base64url");
const HEADER = b64(JSON.stringify({ alg: "HS256", typ: "JWT" }));

function mac(secret: string, data: string): Buffer {
  return crypto.createHmac("sha256", secret).update(data).digest();
}

/** An HS256 token carrying `claims`, issued now and expiring after `lifetimeMs` (at least 1 s). */
export function signJwt(claims: Record<string, unknown>, secret: string, nowMs: number, lifetimeMs: number): string {
  const iat = Math.floor(nowMs / 1000);
  const body = `${HEADER}.${b64(JSON.stringify({ ...claims, iss: JWT_ISSUER, iat, exp: iat + Math.max(1, Math.round(lifetimeMs / 1000)) }))}`;
  return `${body}.${b64(mac(secret, body))}`;
}

export function signToken(accountId: string, secret: string, nowMs: number, lifetimeMs = DEFAULT_TOKEN_LIFETIME_MS): string {
  return signJwt({ sub: accountId, accountId }, secret, nowMs, lifetimeMs);
}

function decodePart(part: string, what: string): Record<string, unknown> {
  if (!/^[A-Za-z0-9_-]*$/.test(part)) throw new TokenError(`malformed ${what}`);
  try {
    const v = JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as unknown;
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error();
    return v as Record<string, unknown>;
  } catch {
    throw new TokenError(`malformed ${what}`);
  }
}

/** A token's claims when it is signed with `secret`, unaltered, has a subject and has not expired; otherwise a TokenError. */
export function verifyJwt(token: string, secret: string, nowMs: number): Record<string, unknown> & { sub: string; exp: number } {
  const parts = token.split(".");
  if (parts.length !== 3) throw new TokenError("malformed token");
  const [header, payload, signature] = parts as [string, string, string];
  // HS256 only: never `none`, never another algorithm the token names for itself
  if (decodePart(header, "header").alg !== "HS256") throw new TokenError("unsupported token algorithm");
  if (!/^[A-Za-z0-9_-]+$/.test(signature)) throw new TokenError("malformed signature");
  const expected = mac(secret, `${header}.${payload}`);
  const given = Buffer.from(signature, "base64url");
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) throw new TokenError("invalid token signature");
  const claims = decodePart(payload, "claims");
  if (typeof claims.sub !== "string" || claims.sub === "") throw new TokenError("token has no subject");
  if (typeof claims.exp !== "number" || !Number.isFinite(claims.exp)) throw new TokenError("token has no expiry");
  if (Math.floor(nowMs / 1000) >= claims.exp) throw new TokenError("token expired");
  return claims as Record<string, unknown> & { sub: string; exp: number };
}

/** A /v1 account token's claims when it is ours, unaltered and not expired; otherwise a TokenError. */
export function verifyToken(token: string, secret: string, nowMs: number): TokenClaims {
  const claims = verifyJwt(token, secret, nowMs);
  // a token made for another API (it names its audience) is never an account's
  if (claims.aud !== undefined) throw new TokenError("token is not for this API");
  return {
    sub: claims.sub,
    accountId: claims.sub,
    iss: typeof claims.iss === "string" ? claims.iss : "",
    iat: typeof claims.iat === "number" ? claims.iat : 0,
    exp: claims.exp,
  };
}

/** `<dataDir>/jwt-secret`, made once with mode 0600. */
export function jwtSecret(dataDir: string): string {
  return secretFile(dataDir, "jwt-secret");
}

/** A random secret kept in `<dataDir>/<name>`, made once with mode 0600 (the first process to make it wins). */
export function secretFile(dataDir: string, name: string): string {
  const file = path.join(dataDir, name);
  fs.mkdirSync(dataDir, { recursive: true });
  try {
    const secret = fs.readFileSync(file, "utf8").trim();
    if (secret) {
      if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
      return secret;
    }
    fs.rmSync(file); // empty (cut short by a power loss): nothing to keep
  } catch {
    // not made yet
  }
  const secret = crypto.randomBytes(32).toString("hex");
  try {
    fs.writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: "wx" });
  } catch (err) {
    // another process made it first: use theirs
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return fs.readFileSync(file, "utf8").trim();
    throw err;
  }
  return secret;
}

/** `2h`, `30m`, `90s`, `1d`, `1h30m` (Go's duration style, as DETECTORDAG_JWT_DURATION), at least 1 s. */
export function parseLifetime(text: string | undefined): number {
  const t = String(text ?? "").trim();
  if (t === "") return DEFAULT_TOKEN_LIFETIME_MS;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(t)) throw new Error(`token lifetime "${t}" is not like 2h, 30m, 90s or 1h30m`);
  let ms = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) ms += Number(m[1]) * units[m[2]!]!;
  if (ms < 1000 || ms > 366 * 86_400_000) throw new Error(`token lifetime "${t}" is not 1 s..366 d`);
  return Math.round(ms);
}
