// Who a person signed in by OpenID Connect is on this PiFog, and with what role: from the allow list of e-mail
// addresses when it names them (a choice made on this PiFog wins over the provider's), else from the role claim.
// Neither: refused. An e-mail counts only when the provider says it has verified it (unless configured otherwise),
// so nobody gets in by typing someone else's address into a provider that does not check it.
import { USER_ROLES, type UserRole } from "../identity/types";
import type { OidcConfig } from "./oidc-config";

export type Claims = Record<string, unknown>;

export type RoleDecision =
  | { allowed: true; name: string; role: UserRole; because: string }
  | { allowed: false; who: string; reason: string };

const rank = (r: UserRole) => USER_ROLES.indexOf(r);

/** The value at a dotted path (`realm_access.roles`); a claim whose own name has dots is found first. */
export function claimAt(claims: Claims, pathName: string): unknown {
  if (Object.prototype.hasOwnProperty.call(claims, pathName)) return claims[pathName];
  let value: unknown = claims;
  for (const part of pathName.split(".")) {
    if (!value || typeof value !== "object" || Array.isArray(value) || !Object.prototype.hasOwnProperty.call(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** The role a claim's value names: a role, or a list holding roles (the highest counts; other entries, such as
 * a provider's unrelated groups, are ignored). */
export function roleFromClaim(value: unknown): UserRole | null {
  const list = Array.isArray(value) ? value : [value];
  let best: UserRole | null = null;
  for (const v of list) {
    if (typeof v !== "string") continue;
    const role = v.trim().toLowerCase();
    if ((USER_ROLES as readonly string[]).includes(role) && (best === null || rank(role as UserRole) > rank(best))) best = role as UserRole;
  }
  return best;
}

/** The e-mail address the claims carry, lower case, if the provider verified it (or verification is not asked). */
function usableEmail(claims: Claims, config: Pick<OidcConfig, "trustUnverifiedEmail">): { email?: string; unverified?: string } {
  const email = typeof claims.email === "string" ? claims.email.trim().toLowerCase() : "";
  if (!email) return {};
  // some providers send "true" as a string
  const verified = claims.email_verified === true || claims.email_verified === "true";
  return verified || config.trustUnverifiedEmail ? { email } : { unverified: email };
}

export function decideRole(claims: Claims, config: Pick<OidcConfig, "roleClaim" | "allow" | "trustUnverifiedEmail">): RoleDecision {
  const sub = typeof claims.sub === "string" ? claims.sub : "";
  const { email, unverified } = usableEmail(claims, config);
  // the session's name: the (verified) e-mail people know, else the provider's subject, marked so it can never be
  // taken for a user of this PiFog's own store
  const name = email ?? `oidc:${sub}`;
  const who = email ?? unverified ?? `oidc:${sub}`;
  if (email && config.allow.has(email)) {
    return { allowed: true, name, role: config.allow.get(email)!, because: `${email} is on PIFOG_OIDC_ALLOW` };
  }
  if (config.roleClaim) {
    const value = claimAt(claims, config.roleClaim);
    const role = roleFromClaim(value);
    if (role) return { allowed: true, name, role, because: `claim ${config.roleClaim}` };
  }
  const reasons: string[] = [];
  if (config.allow.size > 0) {
    if (unverified && config.allow.has(unverified)) reasons.push(`${unverified} is on the allow list but the provider has not verified it`);
    else reasons.push(email ? `${email} is not on the allow list` : "the provider gave no e-mail address");
  }
  if (config.roleClaim) reasons.push(`claim ${config.roleClaim} names no PiFog role (viewer, operator or admin)`);
  return { allowed: false, who, reason: reasons.join("; ") };
}
