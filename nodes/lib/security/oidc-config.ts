// OpenID Connect sign-in's settings (issue 12), from the environment: which provider, this PiFog's client there,
// and how a person's role is decided. Unset PIFOG_OIDC_ISSUER: no OIDC sign-in at all. Everything is checked at
// start, so a bad setting stops the runtime with a clear message instead of failing a person at the door.
// The client secret is a secret: it is kept behind a function, so printing or serialising the configuration never
// shows it.
import fs from "node:fs";
import path from "node:path";
import { USER_ROLES, type UserRole } from "../identity/types";

/** The file in the data dir that may hold the client secret (mode 0600), when PIFOG_OIDC_CLIENT_SECRET is unset. */
export const OIDC_SECRET_FILE = "oidc-client-secret";
/** What PiFog asks the provider for. */
export const OIDC_SCOPES = "openid email profile";
/** The callback path; the redirect URL registered at the provider is `<public URL>/signin/oidc/callback`. */
export const OIDC_CALLBACK_PATH = "/signin/oidc/callback";

export interface OidcConfig {
  /** The provider's issuer URL (discovery at `<issuer>/.well-known/openid-configuration`). */
  issuer: URL;
  clientId: string;
  /** The client secret (PIFOG_OIDC_CLIENT_SECRET or `<data dir>/oidc-client-secret`); a function so it never
   * shows in a log or a dump of the configuration. */
  clientSecret: () => string;
  /** Where the secret came from, for messages (never the secret itself). */
  clientSecretFrom: string;
  /** PIFOG_PUBLIC_URL: the address people use to reach this PiFog (the redirect URL is built on it); unset: the
   * request's own scheme and Host header. */
  publicUrl?: URL;
  /** A claim of the ID token (a dotted path for a nested one, e.g. `realm_access.roles`) whose value is a role, or a
   * list holding one or more (the highest counts). */
  roleClaim?: string;
  /** E-mail address (lower case) → role. */
  allow: ReadonlyMap<string, UserRole>;
  /** Whether an e-mail the provider has not verified (`email_verified` not true) may still match the allow list. */
  trustUnverifiedEmail: boolean;
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);
const EMAIL = /^[^\s@,=]+@[^\s@,=]+$/;
const CLAIM_PATH = /^[A-Za-z0-9_:/.-]{1,200}$/;

function httpUrl(raw: string, name: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${name} must be ${what}, not "${raw}"`);
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && LOOPBACK.has(url.hostname))) {
    throw new Error(`${name} must be an https:// URL (http:// only for a provider on this machine: localhost, 127.0.0.1, [::1]), not "${raw}"`);
  }
  if (url.search || url.hash || url.username || url.password) throw new Error(`${name} must have no query, fragment or user name, not "${raw}"`);
  return url;
}

function publicUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`PIFOG_PUBLIC_URL must be the http:// or https:// address people open PiFog at, not "${raw}"`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error(`PIFOG_PUBLIC_URL must start with http:// or https://, not "${raw}"`);
  if (url.search || url.hash || url.username || url.password) throw new Error(`PIFOG_PUBLIC_URL must have no query, fragment or user name, not "${raw}"`);
  return url;
}

/** `alice@example.com=admin, bob@example.com=viewer` → a map; every entry checked. */
export function parseAllowList(raw: string): Map<string, UserRole> {
  const allow = new Map<string, UserRole>();
  for (const item of raw.split(",").map((s) => s.trim()).filter(Boolean)) {
    const eq = item.lastIndexOf("=");
    const email = (eq < 0 ? item : item.slice(0, eq)).trim().toLowerCase();
    const role = eq < 0 ? "" : item.slice(eq + 1).trim();
    if (!EMAIL.test(email)) throw new Error(`PIFOG_OIDC_ALLOW: "${item}" is not e-mail=role (e.g. alice@example.com=operator)`);
    if (!(USER_ROLES as readonly string[]).includes(role)) {
      throw new Error(`PIFOG_OIDC_ALLOW: "${item}" must end in =${USER_ROLES.join(", =")}`);
    }
    if (allow.has(email)) throw new Error(`PIFOG_OIDC_ALLOW names ${email} twice`);
    allow.set(email, role as UserRole);
  }
  return allow;
}

function flag(raw: string | undefined, name: string): boolean {
  const v = (raw ?? "").trim().toLowerCase();
  if (v === "" || v === "false" || v === "no" || v === "0") return false;
  if (v === "true" || v === "yes" || v === "1") return true;
  throw new Error(`${name} must be true or false, not "${raw}"`);
}

function readSecretFile(file: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`${file} cannot be read: ${(err as Error).message}`);
  }
  // a secret other users may read is made private (the data dir's other secrets are kept the same way)
  try {
    if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
  } catch {
    // read-only data dir: the secret still works
  }
  return text.trim() || undefined;
}

/** The OIDC settings, or undefined when PIFOG_OIDC_ISSUER is unset; throws an Error saying what is wrong. */
export function parseOidcConfig(env: NodeJS.ProcessEnv, dataDir: string): OidcConfig | undefined {
  const rawIssuer = (env.PIFOG_OIDC_ISSUER ?? "").trim();
  if (!rawIssuer) return undefined;
  const issuer = httpUrl(rawIssuer, "PIFOG_OIDC_ISSUER", "the provider's issuer URL (e.g. https://accounts.example.com)");
  const clientId = (env.PIFOG_OIDC_CLIENT_ID ?? "").trim();
  if (!clientId) throw new Error("PIFOG_OIDC_ISSUER is set, so PIFOG_OIDC_CLIENT_ID must be too: the client id this PiFog has at the provider");
  if (clientId.length > 200 || /[\s\x00-\x1f]/.test(clientId)) throw new Error("PIFOG_OIDC_CLIENT_ID must be one word of at most 200 characters");
  const secretFile = path.join(dataDir, OIDC_SECRET_FILE);
  const fromEnv = (env.PIFOG_OIDC_CLIENT_SECRET ?? "").trim();
  const secret = fromEnv || readSecretFile(secretFile);
  if (!secret) {
    throw new Error(`OpenID Connect needs the client secret: set PIFOG_OIDC_CLIENT_SECRET or write it to ${secretFile} (mode 0600)`);
  }
  const rawPublic = (env.PIFOG_PUBLIC_URL ?? "").trim();
  const roleClaim = (env.PIFOG_OIDC_ROLE_CLAIM ?? "").trim() || undefined;
  if (roleClaim !== undefined && (!CLAIM_PATH.test(roleClaim) || roleClaim.split(".").some((p) => !p))) {
    throw new Error(`PIFOG_OIDC_ROLE_CLAIM must be a claim name or a dotted path to one (e.g. pifog_role, realm_access.roles), not "${roleClaim}"`);
  }
  const allow = parseAllowList(env.PIFOG_OIDC_ALLOW ?? "");
  if (!roleClaim && allow.size === 0) {
    throw new Error("OpenID Connect is set up but nobody could sign in with it: set PIFOG_OIDC_ROLE_CLAIM (a claim holding viewer, operator or admin) and/or PIFOG_OIDC_ALLOW (alice@example.com=admin,…)");
  }
  return {
    issuer,
    clientId,
    clientSecret: () => secret,
    clientSecretFrom: fromEnv ? "PIFOG_OIDC_CLIENT_SECRET" : secretFile,
    publicUrl: rawPublic ? publicUrl(rawPublic) : undefined,
    roleClaim,
    allow,
    trustUnverifiedEmail: flag(env.PIFOG_OIDC_TRUST_UNVERIFIED_EMAIL, "PIFOG_OIDC_TRUST_UNVERIFIED_EMAIL"),
  };
}
