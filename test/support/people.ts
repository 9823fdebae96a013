// The people every test runtime knows (issue 12): one user of each role in its identity store, and a way to give a
// test a signed-in browser's cookie without going through a sign-in page (written to the runtime's sessions file
// before it starts: the runtime reads it on start).
import { addUser, listUsers } from "../../nodes/lib/identity/admin";
import type { UserRole } from "../../nodes/lib/identity/types";
import { systemClock } from "../../nodes/lib/clock";
import { WebSessions } from "../../nodes/lib/security/web-sessions";

export interface TestPerson {
  name: string;
  password: string;
  role: UserRole;
}

export const TEST_PEOPLE: Record<UserRole, TestPerson> = {
  viewer: { name: "pat-viewer", password: "pat-viewer-password", role: "viewer" },
  operator: { name: "pat-operator", password: "pat-operator-password", role: "operator" },
  admin: { name: "pat-admin", password: "pat-admin-password", role: "admin" },
};

/** Adds the test people a data dir does not have yet. */
export async function ensureTestPeople(dataDir: string): Promise<void> {
  const known = new Set(listUsers(dataDir).map((u) => u.name));
  for (const p of Object.values(TEST_PEOPLE)) if (!known.has(p.name)) await addUser(dataDir, p.name, p.role, p.password);
}

/**
 * A signed-in session of a test person, as the `Cookie` header's value (`pifog_session=…`). Call it before the
 * runtime of `dataDir` starts (it reads its sessions on start).
 */
export function presetSession(dataDir: string, role: UserRole): string {
  const person = TEST_PEOPLE[role];
  const sessions = WebSessions.forDataDir(dataDir, { clock: systemClock, roleOf: () => person.role });
  return sessions.start({ name: person.name, role: person.role, via: "password" }).setCookie.split(";")[0]!;
}

/** Signs a test person in through the runtime's sign-in page, as a browser does; the `Cookie` header's value. */
export async function signInCookie(http: string, role: UserRole): Promise<string> {
  const person = TEST_PEOPLE[role];
  const res = await fetch(`${http}/signin`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ username: person.name, password: person.password, next: "/ui/" }),
  });
  const cookie = res.headers.get("set-cookie")?.split(";")[0];
  if (res.status !== 303 || !cookie) throw new Error(`signing ${person.name} in: HTTP ${res.status} ${await res.text()}`);
  return cookie;
}
