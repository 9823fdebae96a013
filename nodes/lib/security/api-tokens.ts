// Bearer tokens for PiFog's own HTTP API (GET /api/history...): HS256 JWTs naming a user and their role, issued by
// POST /api/auth to the users of the identity store (`pifog user add`), and to the runtime's own flows. Their secret
// is not the /v1 accounts' (`<dataDir>/api-token-secret`), and they name their audience, so neither kind of token
// ever passes for the other.
import type { Clock } from "../clock";
import { TokenError, secretFile, signJwt, verifyJwt } from "../accounts/jwt";
import { USER_ROLES, type UserRole } from "../identity/types";

export const API_AUDIENCE = "pifog-api";
export const DEFAULT_API_TOKEN_LIFETIME_MS = 60 * 60_000;

export interface ApiPrincipal {
  name: string;
  role: UserRole;
}

/** Whether `role` has at least what `needed` has (viewer < operator < admin). */
export function roleAtLeast(role: UserRole, needed: UserRole): boolean {
  return USER_ROLES.indexOf(role) >= USER_ROLES.indexOf(needed);
}

export class ApiTokens {
  constructor(
    private readonly secret: string,
    private readonly clock: Pick<Clock, "now">,
    readonly lifetimeMs = DEFAULT_API_TOKEN_LIFETIME_MS,
  ) {}

  /** The tokens of the runtime whose data dir this is (the secret is made there once, mode 0600). */
  static forDataDir(dataDir: string, clock: Pick<Clock, "now">): ApiTokens {
    return new ApiTokens(secretFile(dataDir, "api-token-secret"), clock);
  }

  issue(principal: ApiPrincipal, lifetimeMs = this.lifetimeMs): { token: string; expiresAt: string } {
    const now = this.clock.now();
    return {
      token: signJwt({ sub: principal.name, role: principal.role, aud: API_AUDIENCE }, this.secret, now, lifetimeMs),
      expiresAt: new Date(Math.floor(now / 1000) * 1000 + Math.max(1000, Math.round(lifetimeMs / 1000) * 1000)).toISOString(),
    };
  }

  /** Who a token speaks for; a TokenError when it is forged, altered, expired or made for another API. */
  verify(token: string): ApiPrincipal {
    const claims = verifyJwt(token, this.secret, this.clock.now());
    if (claims.aud !== API_AUDIENCE) throw new TokenError("token is not for this API");
    const role = claims.role;
    if (typeof role !== "string" || !(USER_ROLES as readonly string[]).includes(role)) throw new TokenError("token has no role");
    return { name: claims.sub, role: role as UserRole };
  }
}
