// OpenID Connect sign-in (issue 12), the protocol half: the authorization code flow with PKCE (S256), a random state
// and nonce per sign-in (oidc-states.ts), and the ID token verified by openid-client (signature, issuer, audience,
// expiry, nonce). The provider's metadata is fetched once and kept for a day; a provider that cannot be reached is
// said plainly and tried again on the next sign-in. Time comes from the runtime's clock: openid-client's checks
// are told how far that clock is from the system's, so a test's fake clock is the clock the ID token is checked by.
// What a person sees and what the audit says is oidc-routes.ts's job; this module says what happened and why.
import type * as oidc from "openid-client";

/** openid-client, loaded on the first sign-in (a runtime without OpenID Connect never loads it). */
function openidClient(): typeof oidc {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("openid-client") as typeof oidc;
}
import type { Clock } from "../clock";
import { OIDC_CALLBACK_PATH, OIDC_SCOPES, type OidcConfig } from "./oidc-config";
import { OidcStates, type PendingSignIn } from "./oidc-states";
import { claimAt, type Claims } from "./oidc-role";

/** How long the provider's metadata is kept before it is fetched again. */
const METADATA_MS = 24 * 60 * 60_000;
/** Seconds to wait for the provider. */
const PROVIDER_TIMEOUT_S = 10;

export type OidcFailureKind =
  /** The provider cannot be reached or answered nonsense (discovery, token request): 502/503. */
  | "provider-down"
  /** The state is missing, altered, expired, reused or from another browser: 400. */
  | "state"
  /** The provider refused to sign the person in (access_denied…), or the token request was refused: 400/403. */
  | "provider-refused"
  /** The ID token failed verification (audience, issuer, expiry, nonce, signature): 401. */
  | "id-token";

export class OidcFailure extends Error {
  constructor(
    readonly kind: OidcFailureKind,
    readonly status: number,
    /** What the person is told (also written to the audit). */
    message: string,
  ) {
    super(message);
    this.name = "OidcFailure";
  }
}

export interface BeginResult {
  authorizationUrl: string;
  state: string;
}

export interface FinishResult {
  claims: Claims;
  next: string;
}

/** The redirect URL: PIFOG_PUBLIC_URL's, or built from the request (its scheme and Host header). */
export function redirectUriFor(config: Pick<OidcConfig, "publicUrl">, request: { protocol: string; host: string | undefined }): string {
  if (config.publicUrl) return `${config.publicUrl.origin}${config.publicUrl.pathname.replace(/\/+$/, "")}${OIDC_CALLBACK_PATH}`;
  return `${request.protocol}://${request.host ?? "localhost"}${OIDC_CALLBACK_PATH}`;
}

/** `next` if it is a path of this PiFog (never another site, `//host` or `/\host`), else the dashboard. */
export function safeNext(next: unknown, fallback = "/ui/"): string {
  if (typeof next !== "string" || next.length > 2000 || !next.startsWith("/") || /[\\\x00-\x1f\x7f]/.test(next) || next.startsWith("//")) return fallback;
  const base = "http://pifog.invalid";
  let url: URL;
  try {
    url = new URL(next, base);
  } catch {
    return fallback;
  }
  if (url.origin !== base) return fallback;
  return `${url.pathname}${url.search}${url.hash}`;
}

function describe(err: unknown): string {
  const e = err as Error & { cause?: unknown; code?: string };
  const cause = e.cause instanceof Error ? `: ${e.cause.message}` : "";
  return `${e.message || String(err)}${cause}`;
}

export class OidcSignIn {
  readonly states: OidcStates;
  private metadata: { config: oidc.Configuration; at: number } | null = null;
  private fetching: Promise<oidc.Configuration> | null = null;

  constructor(
    readonly config: OidcConfig,
    private readonly clock: Pick<Clock, "now">,
    states?: OidcStates,
  ) {
    this.states = states ?? new OidcStates(clock);
  }

  /** The provider's configuration (discovery), kept; a failure is not kept, so the next sign-in tries again. */
  private async provider(): Promise<oidc.Configuration> {
    const now = this.clock.now();
    if (this.metadata && now - this.metadata.at < METADATA_MS) return this.metadata.config;
    this.fetching ??= (async () => {
      const client = openidClient();
      try {
        const config = await client.discovery(this.config.issuer, this.config.clientId, undefined, client.ClientSecretBasic(this.config.clientSecret()), {
          timeout: PROVIDER_TIMEOUT_S,
          ...(this.config.issuer.protocol === "http:" ? { execute: [client.allowInsecureRequests] } : {}),
        });
        this.metadata = { config, at: this.clock.now() };
        return config;
      } catch (err) {
        throw new OidcFailure("provider-down", 503, `the sign-in provider ${this.config.issuer.href} cannot be reached or did not answer as an OpenID Connect provider (${describe(err)})`);
      } finally {
        this.fetching = null;
      }
    })();
    return this.fetching;
  }

  /** A configuration for one token request: the kept metadata and keys, checked by the runtime's clock. */
  private forThisRequest(discovered: oidc.Configuration): oidc.Configuration {
    const client = openidClient();
    const skewSeconds = Math.round((this.clock.now() - Date.now()) / 1000);
    const config = new client.Configuration(
      discovered.serverMetadata(),
      this.config.clientId,
      { [client.clockSkew]: skewSeconds },
      client.ClientSecretBasic(this.config.clientSecret()),
    );
    config.timeout = PROVIDER_TIMEOUT_S;
    if (this.config.issuer.protocol === "http:") client.allowInsecureRequests(config);
    const jwks = client.getJwksCache(discovered);
    if (jwks) client.setJwksCache(config, jwks);
    return config;
  }

  /** Starts a sign-in: where to send the browser. `browserKey` is the value of the browser's own cookie. */
  async begin(o: { redirectUri: string; next: string; address: string; browserKey: string }): Promise<BeginResult> {
    const discovered = await this.provider();
    const client = openidClient();
    const codeVerifier = client.randomPKCECodeVerifier();
    const nonce = client.randomNonce();
    const pending: PendingSignIn = { codeVerifier, nonce, redirectUri: o.redirectUri, next: o.next, address: o.address };
    const state = this.states.put(pending, o.browserKey);
    const url = client.buildAuthorizationUrl(discovered, {
      redirect_uri: o.redirectUri,
      scope: OIDC_SCOPES,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: "S256",
      state,
      nonce,
    });
    return { authorizationUrl: url.href, state };
  }

  /** Finishes a sign-in from the provider's redirect back (its query string): the person's verified claims. */
  async finish(query: URLSearchParams, browserKey: string | undefined): Promise<FinishResult> {
    const state = query.get("state") ?? "";
    const taken = this.states.take(state, browserKey);
    if (!taken.ok) throw new OidcFailure("state", 400, taken.reason);
    const { pending } = taken;
    const error = query.get("error");
    if (error) {
      const description = query.get("error_description");
      throw new OidcFailure("provider-refused", 403, `the provider did not sign you in: ${error}${description ? ` (${description})` : ""}`);
    }
    const discovered = await this.provider();
    const config = this.forThisRequest(discovered);
    const client = openidClient();
    // the URL the provider sent the browser to: the redirect URL this sign-in used, with the provider's answer
    const current = new URL(pending.redirectUri);
    current.search = query.toString();
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
    } catch (err) {
      throw classify(err);
    } finally {
      // keys the provider rotated in are kept for the next sign-in
      const jwks = client.getJwksCache(config);
      if (jwks) client.setJwksCache(discovered, jwks);
    }
    let claims: Claims = { ...(tokens.claims() ?? {}) };
    if (this.needsUserInfo(claims) && tokens.access_token && discovered.serverMetadata().userinfo_endpoint) {
      // some providers put the e-mail or the role only in the UserInfo answer; the ID token's own claims win
      try {
        const info = await client.fetchUserInfo(config, tokens.access_token, String(claims.sub));
        claims = { ...info, ...claims };
      } catch (err) {
        throw new OidcFailure("provider-down", 502, `the provider's UserInfo answer could not be used (${describe(err)})`);
      }
    }
    return { claims, next: pending.next };
  }

  private needsUserInfo(claims: Claims): boolean {
    const wantsEmail = this.config.allow.size > 0 && typeof claims.email !== "string";
    const wantsRole = this.config.roleClaim !== undefined && claimAt(claims, this.config.roleClaim) === undefined;
    return wantsEmail || wantsRole;
  }
}

/** What an openid-client failure of the token request means for the person. */
function classify(err: unknown): OidcFailure {
  if (err instanceof OidcFailure) return err;
  const client = openidClient();
  if (err instanceof client.ResponseBodyError) {
    return new OidcFailure("provider-refused", 400, `the provider refused the sign-in: ${err.error}${err.error_description ? ` (${err.error_description})` : ""}`);
  }
  if (err instanceof client.AuthorizationResponseError) {
    return new OidcFailure("provider-refused", 403, `the provider did not sign you in: ${err.error}${err.error_description ? ` (${err.error_description})` : ""}`);
  }
  const { code, message } = err as { code?: unknown; message?: unknown };
  // oauth4webapi's JWT checks: claims (iss, aud, nonce, azp), timestamps (exp, iat, nbf), keys, the signature
  const jwtCheck = typeof code === "string" && /^OAUTH_(JWT_|KEY_SELECTION)/.test(code);
  if (jwtCheck || (code === "OAUTH_INVALID_RESPONSE" && typeof message === "string" && /JWT|ID Token|signature/i.test(message))) {
    return new OidcFailure("id-token", 401, `the provider's ID token was not accepted: ${describe(err)}`);
  }
  return new OidcFailure("provider-down", 502, `the sign-in could not be completed with the provider (${describe(err)})`);
}
