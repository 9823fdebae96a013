// The `user-admin` node: the dashboard's Users tab (issue 12). Admins list the users of the runtime's user store,
// add one with a role and a password, change a role, set a password and remove a user; removing a user or setting
// their password ends their sessions at once (every browser of theirs is signed out). Who asks is the signed-in
// person of the dashboard socket the message came on (msg.socketid), never the payload: anyone but an admin is
// refused, answered and audited. Every change is audited with who made it. When a browser connects or changes tab
// (a ui_control node's message), output 2 shows the Users tab to an admin and hides it from everyone else, and
// output 1 sends an admin the list.
import type { NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { answerTo, browserEvent, mayAct, refuseAction, senderOf, type DashboardSender } from "../lib/dashboard/dashboard-person";
import { addUser, listUsers, removeUser, setPassword, setRole } from "../lib/identity/admin";
import { IdentityError } from "../lib/identity/errors";
import { USER_ROLES, type UserRole } from "../lib/identity/types";
import { given } from "../lib/node-red/config-value";
import { settingsFor } from "../lib/node-red/device";
import { showStatus } from "../lib/node-red/status";
import { servicesOf, type PifogServices } from "../lib/services";

export interface UserAdminDef extends NodeDef {
  tab?: string;
}

export interface UserAdminSettings {
  /** The dashboard tab shown to admins only. */
  tab: string;
}

export function normaliseUserAdmin(config: Partial<UserAdminDef>): UserAdminSettings {
  return { tab: given(config.tab) ?? "Users" };
}

/** One user as the Users tab shows it. */
export interface UserRow {
  name: string;
  role: UserRole;
  createdAt: string;
  /** Live sessions (browsers signed in). */
  sessions: number;
}

export interface UsersView {
  /** Who is looking (null: not signed in). */
  me: { name: string; role: UserRole } | null;
  admin: boolean;
  users: UserRow[];
  roles: readonly UserRole[];
  /** What the last action did, or why it was refused. */
  message?: string;
  error?: string;
}

type AdminMsg = NodeMessageInFlow & { socketid?: unknown; payload?: unknown };

const ACTIONS = ["list", "add", "set-role", "set-password", "remove"] as const;
type Action = (typeof ACTIONS)[number];

/** Thrown for input a person typed wrong: its message is meant for them. */
class InputError extends Error {}

function field(payload: unknown, name: string, max: number): string {
  const v = payload && typeof payload === "object" ? (payload as Record<string, unknown>)[name] : undefined;
  if (typeof v !== "string" || v.trim() === "") throw new InputError(`${name} is missing`);
  if (v.length > max) throw new InputError(`${name} is longer than ${max} characters`);
  return name === "password" ? v : v.trim();
}

function role(payload: unknown): UserRole {
  const r = field(payload, "role", 16);
  if (!(USER_ROLES as readonly string[]).includes(r)) throw new InputError(`"${r}" is not a role (${USER_ROLES.join(", ")})`);
  return r as UserRole;
}

/** What an admin's action does to the store, and what it says; throws InputError / IdentityError for the person. */
async function perform(services: PifogServices, by: string, action: Exclude<Action, "list">, payload: unknown): Promise<string> {
  const dataDir = services.dataDir;
  const name = field(payload, "name", 64);
  switch (action) {
    case "add": {
      const r = role(payload);
      await addUser(dataDir, name, r, field(payload, "password", 200), { now: new Date(services.clock.now()) });
      return `added ${name} (${r})`;
    }
    case "set-role": {
      const r = role(payload);
      if (name === by && r !== "admin") throw new InputError("you cannot take away your own admin role (another admin can)");
      await setRole(dataDir, name, r);
      return `${name} is now ${r === "admin" ? "an" : "a"} ${r}`;
    }
    case "set-password": {
      // setPassword also takes a device's id: the Users tab is for people only
      if (!listUsers(dataDir).some((u) => u.name === name)) throw new InputError(`no user ${name}`);
      await setPassword(dataDir, name, field(payload, "password", 200));
      const ended = services.webSessions.endFor(name);
      return `password of ${name} set; ${ended} session(s) ended`;
    }
    case "remove": {
      if (name === by) throw new InputError("you cannot remove yourself (another admin can)");
      await removeUser(dataDir, name);
      const ended = services.webSessions.endFor(name);
      return `removed ${name}; ${ended} session(s) ended`;
    }
  }
}

function usersView(services: PifogServices, sender: DashboardSender, extra: Pick<UsersView, "message" | "error"> = {}): UsersView {
  const admin = mayAct(sender, "admin");
  const me = sender.person ? { name: sender.person.name, role: sender.person.role } : null;
  if (!admin) return { me, admin, users: [], roles: USER_ROLES, ...extra };
  const live = new Map<string, number>();
  for (const s of services.webSessions.list()) live.set(s.name, (live.get(s.name) ?? 0) + 1);
  const users = listUsers(services.dataDir)
    .map((u) => ({ name: u.name, role: u.role, createdAt: u.createdAt, sessions: live.get(u.name) ?? 0 }))
    .sort((a, b) => a.name.localeCompare(b.name));
  return { me, admin, users, roles: USER_ROLES, ...extra };
}

function defineUserAdmin(RED: NodeAPI) {
  return class UserAdmin extends Node {
    constructor(config: UserAdminDef) {
      super(RED);
      this.createNode(config);
      const s = settingsFor(this, () => normaliseUserAdmin(config));
      if (!s) return;
      const services = servicesOf(RED);
      showStatus(this, "off", RED._("user-admin.status.ready"));

      this.on("input", (msg: AdminMsg, send, done) => {
        const sender = senderOf(services.dashboardSockets, msg);
        const admin = mayAct(sender, "admin");
        const happened = browserEvent(msg);
        if (happened === "connect" || happened === "change") {
          const tabs = admin ? { show: [s.tab] } : { hide: [s.tab] };
          send([admin ? answerTo(msg, "users", usersView(services, sender)) : null, answerTo(msg, "tabs", { tabs })]);
          done();
          return;
        }
        if (happened) {
          done();
          return;
        }
        const topic = typeof msg.topic === "string" ? msg.topic.slice(0, 64) : "";
        if (!admin) {
          const why = refuseAction(RED, this, services.audit, sender, { messages: "user-admin", lacking: "not-admin", logKey: "log.refused", action: `users:${topic || "?"}` });
          send([answerTo(msg, "users", usersView(services, sender, { error: why })), null]);
          done();
          return;
        }
        if (!(ACTIONS as readonly string[]).includes(topic)) {
          send([answerTo(msg, "users", usersView(services, sender, { error: RED._("user-admin.errors.unknown", { action: topic || "?" }) })), null]);
          done();
          return;
        }
        if (topic === "list") {
          send([answerTo(msg, "users", usersView(services, sender)), null]);
          done();
          return;
        }
        const by = sender.person!.name;
        const target = msg.payload && typeof msg.payload === "object" ? String((msg.payload as { name?: unknown }).name ?? "").slice(0, 64) : "";
        perform(services, by, topic as Exclude<Action, "list">, msg.payload).then(
          (message) => {
            services.audit.record({ event: `user.${topic}`, via: "dashboard", who: sender.who, reason: message, user: target, by });
            showStatus(this, "ok", message);
            send([answerTo(msg, "users", usersView(services, sender, { message })), null]);
            done();
          },
          (err: Error) => {
            if (err instanceof InputError || err instanceof IdentityError) {
              services.audit.record({ event: `user.${topic}.refused`, via: "dashboard", who: sender.who, reason: err.message, user: target, by });
              showStatus(this, "warn", err.message);
              send([answerTo(msg, "users", usersView(services, sender, { error: err.message })), null]);
              done();
            } else {
              send([answerTo(msg, "users", usersView(services, sender, { error: RED._("user-admin.errors.failed") })), null]);
              done(err);
            }
          },
        );
      });
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineUserAdmin(RED).registerType(RED, "user-admin");
}
