// Password checks against bcrypt hashes, on libuv's thread pool (`@node-rs/bcrypt`, which reads bcryptjs's hashes
// too), so that a flood of sign-ins never stalls the event loop that runs the broker and the door.
import * as bcrypt from "@node-rs/bcrypt";

/** bcrypt's cost for new hashes (as bcryptjs made them before). */
export const HASH_COST = 10;

/**
 * A well-formed hash of a random password nobody knows, checked for an unknown user so that the answer takes as
 * long as for a known one (a malformed hash is refused at once, which would tell that the name does not exist).
 */
const UNKNOWN_USER_HASH = "$2b$10$JyvSv2pePMOIUsVXzx.sTOdtFrRt3yRAl8DmIrEpgadrLSCwGK8QG";

/** Whether `password` matches `hash`; an unknown user (no hash) or a damaged hash is false, in the same time. */
export async function checkPassword(password: string, hash: string | undefined): Promise<boolean> {
  try {
    return (await bcrypt.compare(password, hash ?? UNKNOWN_USER_HASH)) && hash !== undefined;
  } catch {
    return false;
  }
}

export function hashPassword(password: string): Promise<string> {
  return bcrypt.hash(password, HASH_COST);
}
