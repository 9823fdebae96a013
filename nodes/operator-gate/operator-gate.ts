// The `operator-gate` node: lets the dashboard's front-door buttons through for operators only. An operator is one
// of the runtime's operators (`servicesOf(RED).operators`: PiFog's settings name one, "operator", with its own password: never the
// editor's, which a dashboard page must never be asked for). A dashboard
// signs in with `topic: "sign-in"` and gets a session token back (output 2, to that browser only: msg.socketid is
// kept); every other message is an action (its topic, e.g. "open-door") and must carry `msg.token`. Allowed
// actions leave on output 1 with `msg.operator`; refused ones are answered on output 2, logged, and a refused
// "open-door" is written to the door audit (`door-audit.jsonl`) like every other door attempt.
import type { NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import type { Clock } from "../lib/clock";
import { DoorAudit } from "../lib/door-audit";
import { given } from "../lib/node-red/config-value";
import { servicesOf } from "../lib/services";
import { settingsFor } from "../lib/node-red/device";
import { showStatus } from "../lib/node-red/status";
import { OperatorSessions } from "../lib/operators";
import { auditSignIn } from "../lib/security/sign-in";
import { retryAfterSeconds } from "../lib/security/throttle";

export interface OperatorGateDef extends NodeDef {
  sessionMinutes?: string | number;
  door?: string;
}

export interface OperatorGateSettings {
  sessionMs: number;
  /** The door device named in audit records of refused open-door actions. */
  door: string;
}

export function normaliseOperatorGate(config: Partial<OperatorGateDef>): OperatorGateSettings {
  const minutes = Number(given(config.sessionMinutes === undefined ? undefined : String(config.sessionMinutes)) ?? 30);
  if (!Number.isFinite(minutes) || minutes < 1 || minutes > 24 * 60) throw new Error(`session of ${String(config.sessionMinutes)} minutes is not 1..1440`);
  return { sessionMs: Math.round(minutes * 60_000), door: given(config.door) ?? "buttonpi" };
}

type GateMsg = NodeMessageInFlow & { token?: unknown; socketid?: unknown; payload?: unknown };

function defineOperatorGate(RED: NodeAPI) {
  return class OperatorGate extends Node {
    constructor(config: OperatorGateDef) {
      super(RED);
      this.createNode(config);
      const s = settingsFor(this, () => normaliseOperatorGate(config));
      if (!s) return;
      const services = servicesOf(RED);
      const clock: Clock = services.clock;
      const operators = [...services.operators];
      // wrong passwords count per browser address (the dashboard socket's), in the runtime's one operator throttle
      const sessions = new OperatorSessions(operators, s.sessionMs, () => clock.now(), services.signIn.operator);
      const sockets = services.dashboardSockets;
      const audit = services.audit;
      if (operators.length === 0) showStatus(this, "warn", RED._("operator-gate.status.no-operators"));
      else showStatus(this, "off", RED._("operator-gate.status.ready"));

      const answer = (msg: GateMsg, payload: Record<string, unknown>): NodeMessage =>
        ({ topic: "operator", payload, ...(msg.socketid !== undefined ? { socketid: msg.socketid } : {}) }) as NodeMessage;

      this.on("input", (msg: GateMsg, send, done) => {
        const topic = typeof msg.topic === "string" ? msg.topic : "";
        if (topic === "sign-in") {
          const p = (msg.payload ?? {}) as { username?: unknown; password?: unknown };
          const address = sockets.addressOf(msg.socketid) ?? "unknown";
          const user = typeof p.username === "string" ? p.username.trim().slice(0, 128) : "";
          sessions.signIn(p.username, p.password, address).then(
            (r) => {
              if (r.ok) {
                showStatus(this, "ok", RED._("operator-gate.status.signed-in", { user: r.session.username }));
                send([null, answer(msg, { operator: r.session.username, token: r.session.token, expiresAt: new Date(r.session.expiresAt).toISOString() })]);
              } else {
                const why =
                  r.reason === "locked"
                    ? RED._(`operator-gate.refused.locked-${r.limit}`, { seconds: retryAfterSeconds(r.retryAfterMs) })
                    : RED._(`operator-gate.refused.${r.reason}`);
                if (r.reason === "locked") auditSignIn(audit, { via: "dashboard", address, user, throttled: r });
                else if (r.reason === "wrong") auditSignIn(audit, { via: "dashboard", address, user });
                this.warn(RED._("operator-gate.log.sign-in-refused", { user: String(p.username ?? ""), why }));
                showStatus(this, "warn", why);
                send([null, answer(msg, { operator: null, error: why })]);
              }
              done();
            },
            (err: Error) => done(err),
          );
          return;
        }
        if (topic === "sign-out") {
          sessions.signOut(msg.token);
          send([null, answer(msg, { operator: null })]);
          done();
          return;
        }
        const session = sessions.check(msg.token);
        if (!session) {
          const why = RED._("operator-gate.refused.not-operator");
          this.warn(RED._("operator-gate.log.action-refused", { action: topic || "?", why }));
          showStatus(this, "warn", RED._("operator-gate.status.refused", { action: topic || "?" }));
          if (topic === "open-door") this.audit(s.door);
          send([null, answer(msg, { operator: null, refused: topic, error: why })]);
          done();
          return;
        }
        const out = { ...msg, operator: session.username } as NodeMessage & { token?: unknown };
        delete out.token;
        showStatus(this, "ok", RED._("operator-gate.status.allowed", { action: topic, user: session.username }));
        send([out, null]);
        done();
      });
    }

    private audit(door: string): void {
      const at = new Date(servicesOf(RED).clock.now()).toISOString();
      try {
        new DoorAudit(servicesOf(RED).dataDir).append({
          at,
          node: this.id,
          device: door,
          command: "open-door",
          id: null,
          by: null,
          via: "dashboard",
          result: "refused",
          reason: "not-allowed",
          pulseMs: 0,
          requestedAt: at,
        });
      } catch (err) {
        this.error(RED._("operator-gate.errors.audit", { error: (err as Error).message }));
      }
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineOperatorGate(RED).registerType(RED, "operator-gate");
}
