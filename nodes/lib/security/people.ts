// The people who sign in (issue 12): the user store's users, as the sign-in page, the editor and the API ask about
// them. The runtime's identity store when it has one (a hub: reloaded when the CLI or the Users tab change it), else
// the data dir's identities.json read directly (a Pi whose broker is elsewhere has no CA, and still has users).
import fs from "node:fs";
import { identityPaths } from "../identity/paths";
import { readIdentities, type StoredUser } from "../identity/records";
import type { IdentityDirectory, UserRole } from "../identity/types";
import { checkPassword as checkBcrypt } from "./passwords";

/** A user whose password was right. */
export interface SignedInUser {
  name: string;
  role: UserRole;
}

export interface People {
  /** The user's role now; null: no such user. */
  roleOf(name: string): UserRole | null;
  /** The user when the password is right; null otherwise, in the same time for an unknown name (bcrypt, off the
   * main thread, a dummy hash for nobody). Devices with a password are not people: never signed in here. */
  checkPassword(name: string, password: string): Promise<SignedInUser | null>;
}

/** The people of a runtime: its identity store, or the data dir's file. */
export function peopleOf(parts: { identities: IdentityDirectory | null; dataDir: string }): People {
  return parts.identities ? directoryPeople(parts.identities) : filePeople(parts.dataDir);
}

export function directoryPeople(directory: IdentityDirectory): People {
  return {
    roleOf: (name) => directory.users().find((u) => u.name === name)?.role ?? null,
    checkPassword: async (name, password) => {
      const who = await directory.checkPassword(name, password);
      return who?.kind === "user" ? { name: who.name, role: who.role } : null;
    },
  };
}

/** identities.json read again whenever it changed on disk (by its size and mtime); a damaged or missing file: nobody. */
export function filePeople(dataDir: string): People {
  const file = identityPaths(dataDir).identities;
  let seen = "";
  let users = new Map<string, StoredUser>();
  const current = (): Map<string, StoredUser> => {
    let stamp: string;
    try {
      const st = fs.statSync(file);
      stamp = `${st.size}:${st.mtimeMs}`;
    } catch {
      return new Map();
    }
    if (stamp !== seen) {
      try {
        users = new Map(readIdentities(file).users.map((u) => [u.name, u]));
      } catch (err) {
        console.warn(`PiFog: the users in ${file} cannot be read (${(err as Error).message}): nobody signs in until it is mended`);
        users = new Map();
      }
      seen = stamp;
    }
    return users;
  };
  return {
    roleOf: (name) => current().get(name)?.role ?? null,
    checkPassword: async (name, password) => {
      const user = current().get(name);
      const ok = await checkBcrypt(password, user?.passwordHash);
      return ok && user ? { name: user.name, role: user.role } : null;
    },
  };
}

/** The people of whatever runtime `services()` is now (the settings' services, then the launcher's with its store):
 * asked at each call, the file read at most once per change. */
export function livePeople(services: () => { identities: IdentityDirectory | null; dataDir: string }): People {
  let file: People | null = null;
  const now = (): People => {
    const s = services();
    return s.identities ? directoryPeople(s.identities) : (file ??= filePeople(s.dataDir));
  };
  return { roleOf: (name) => now().roleOf(name), checkPassword: (name, password) => now().checkPassword(name, password) };
}
