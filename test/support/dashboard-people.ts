// Signed-in dashboard browsers for node tests: the test people (a viewer, an operator, an admin) in the data dir's
// real user store, a real session each (the services' WebSessions, roles asked of that store), and a socket each
// connected through the services' real DashboardSockets middleware, as the runtime's dashboard does. A node under
// test then learns who sent a message only from its msg.socketid, as in the runtime.
import assert from "node:assert/strict";
import { listUsers } from "../../nodes/lib/identity/admin";
import type { UserRole } from "../../nodes/lib/identity/types";
import type { PifogServices } from "../../nodes/lib/services";
import type { DashboardSocket, DashboardSockets } from "../../nodes/lib/security/dashboard-sockets";
import { ensureTestPeople, TEST_PEOPLE } from "./people";

/** The socket id of each role's browser, and their address. */
export const BROWSERS: Record<UserRole, { socketid: string; address: string }> = {
  viewer: { socketid: "sock-viewer", address: "192.0.2.10" },
  operator: { socketid: "sock-operator", address: "192.0.2.20" },
  admin: { socketid: "sock-admin", address: "192.0.2.30" },
};

export interface SignedInBrowsers {
  /** Connects one more browser with `name`'s fresh session (the user must exist). */
  connect(socketid: string, name: string, address?: string): void;
  /** Closes a browser's socket. */
  close(socketid: string): void;
}

/** Makes the services' sessions ask the data dir's user store, and connects one browser per test person. */
export async function signedInBrowsers(services: PifogServices): Promise<SignedInBrowsers> {
  await ensureTestPeople(services.dataDir);
  services.webSessions.useRoles((name) => listUsers(services.dataDir).find((u) => u.name === name)?.role ?? null);
  const sockets = services.dashboardSockets as DashboardSockets;
  const closers = new Map<string, () => void>();
  const connect = (socketid: string, name: string, address = "192.0.2.99") => {
    const role = listUsers(services.dataDir).find((u) => u.name === name)?.role;
    assert.ok(role, `${name} is a user`);
    const cookie = services.webSessions.start({ name, role, via: "password" }).setCookie.split(";")[0]!;
    const socket: DashboardSocket = {
      id: socketid,
      handshake: { address, headers: { cookie } },
      on: (_event, listener) => void closers.set(socketid, listener),
      use: () => undefined,
    };
    let error: Error | undefined;
    sockets.middleware(socket, (err) => (error = err));
    assert.equal(error, undefined, `${name}'s browser connects`);
  };
  for (const role of ["viewer", "operator", "admin"] as const) connect(BROWSERS[role].socketid, TEST_PEOPLE[role].name, BROWSERS[role].address);
  return { connect, close: (socketid) => closers.get(socketid)?.() };
}
