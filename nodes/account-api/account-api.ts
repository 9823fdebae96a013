// The /v1 account API (detectordag's, wire-compatible) on the hub's HTTP server, each account's own login; the
// owner's account setup under the editor's admin login (/admin/pifog/accounts); and the flow's view of the
// accounts: any message, and every change made through either API, sends the accounts (with their devices) on.
// msg.payload {accountId, emails} sets an account's e-mails only when "E-mails from input" is on (off by
// default: the input has no login).
import type { NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { adminAccountRoutes } from "../lib/accounts/admin-api";
import { accountRoutes, apiDevice, type ApiDevice } from "../lib/accounts/api";
import { jwtSecret, parseLifetime } from "../lib/accounts/jwt";
import { AccountStore } from "../lib/accounts/store";
import { PayloadError } from "../lib/contract";
import { settingsFor } from "../lib/node-red/device";
import { failMessage } from "../lib/node-red/fail";
import { servicesOf } from "../lib/services";
import { showStatus } from "../lib/node-red/status";

export interface AccountApiDef extends NodeDef {
  lifetime: string;
  edits: boolean;
}

export interface AccountApiSettings {
  lifetimeMs: number;
  /** Whether msg.payload {accountId, emails} may change an account's e-mails (unauthenticated: off by default). */
  edits: boolean;
}

export function normaliseAccountApi(config: Partial<AccountApiDef>): AccountApiSettings {
  return { lifetimeMs: parseLifetime(config.lifetime), edits: config.edits === true };
}

/** What the node sends on: each account with its e-mails and devices (never a password hash). */
export interface AccountView {
  id: string;
  username: string;
  emails: string[];
  devices: ApiDevice[];
}

function defineAccountApi(RED: NodeAPI) {
  return class AccountApi extends Node {
    private store: AccountStore | null = null;

    constructor(config: AccountApiDef) {
      super(RED);
      this.createNode(config);
      const s = settingsFor(this, () => normaliseAccountApi(config));
      if (!s) return;
      const services = servicesOf(RED);
      const dataDir = services.dataDir;
      let store: AccountStore;
      let secret: string;
      try {
        secret = jwtSecret(dataDir);
        store = new AccountStore(dataDir, services.stores);
      } catch (err) {
        showStatus(this, "error", RED._("account-api.status.no-store"));
        this.error(RED._("account-api.errors.store", { error: (err as Error).message }));
        return;
      }
      this.store = store;
      // a change made through /v1 or the owner's API goes on at once (the dashboard's names and lists follow)
      const changed = () => {
        if (!this.store) return;
        try {
          this.send({ topic: "accounts", payload: this.view(this.store) });
          this.showCount(this.store);
        } catch (err) {
          this.error(RED._("account-api.errors.store", { error: (err as Error).message }));
        }
      };
      const clock = services.clock;
      // the runtime's one throttle for /v1 sign-ins (so a redeploy does not forget who was locked)
      const throttle = services.signIn.api;
      services.accountApis.set(this.id, { store, secret, lifetimeMs: s.lifetimeMs, clock, throttle, audit: services.audit, changed });

      this.on("input", (msg: NodeMessageInFlow, send, done) => {
        try {
          const p = msg.payload as Record<string, unknown> | undefined;
          if (typeof p === "object" && p !== null && !Array.isArray(p) && ("emails" in p || "accountId" in p)) {
            if (!s.edits) throw new PayloadError(RED._("account-api.errors.no-edits"));
            if (typeof p.accountId !== "string" || !store.account(p.accountId)) {
              throw new PayloadError(RED._("account-api.errors.no-account", { account: String(p.accountId).slice(0, 64) }));
            }
            store.setEmails(p.accountId, p.emails);
          }
          send({ ...msg, payload: this.view(store) });
          this.showCount(store);
          done();
        } catch (err) {
          failMessage(RED, this, err as Error, msg, done);
        }
      });

      this.on("close", (done: () => void) => {
        services.accountApis.delete(this.id);
        this.store?.close();
        this.store = null;
        done();
      });
      this.showCount(store);
    }

    private view(store: AccountStore): AccountView[] {
      return store.accounts().map((a) => ({ id: a.id, username: a.username, emails: a.emails, devices: store.devicesOf(a.id).map(apiDevice) }));
    }

    private showCount(store: AccountStore): void {
      try {
        showStatus(this, "ok", RED._("account-api.status.serving", { accounts: store.accounts().length }));
      } catch (err) {
        showStatus(this, "error", (err as Error).message);
      }
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineAccountApi(RED).registerType(RED, "account-api");
  const apis = servicesOf(RED).accountApis;
  const first = () => apis.values().next().value ?? null;
  accountRoutes(RED.httpNode, first);
  // the owner's setup, behind the editor's login (RED.httpAdmin is absent in some test harnesses)
  if (RED.httpAdmin) adminAccountRoutes(RED.httpAdmin, (permission) => RED.auth.needsPermission(permission), first);
}
