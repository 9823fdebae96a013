// The `operator-gate` node: lets the dashboard's front-door actions through for operators and admins only. Who sent
// an action is the signed-in person of the dashboard socket it came on (msg.socketid → the runtime's dashboard
// sockets, nodes/lib/security/dashboard-sockets.ts), with the role the user store gives them now; nothing in the
// message can say otherwise. Allowed actions leave on output 1 with `msg.operator` (the person's name); refused ones
// are answered on output 2 (to that browser only), warned, audited (`dashboard.action.refused`), and a refused
// "open-door" is written to the door audit (`door-audit.jsonl`) like every other door attempt. When a browser
// connects or changes tab (a ui_control node's message), output 2 tells it who is signed in and whether they may
// act, so its buttons follow the session's role.
import type { NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { answerTo, browserEvent, mayAct, refuseAction, senderOf } from "../lib/dashboard/dashboard-person";
import { DoorAudit } from "../lib/door-audit";
import { given } from "../lib/node-red/config-value";
import { settingsFor } from "../lib/node-red/device";
import { showStatus } from "../lib/node-red/status";
import { servicesOf } from "../lib/services";

export interface OperatorGateDef extends NodeDef {
  door?: string;
}

export interface OperatorGateSettings {
  /** The door device named in audit records of refused open-door actions. */
  door: string;
}

export function normaliseOperatorGate(config: Partial<OperatorGateDef>): OperatorGateSettings {
  return { door: given(config.door) ?? "buttonpi" };
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
      showStatus(this, "off", RED._("operator-gate.status.ready"));

      this.on("input", (msg: GateMsg, send, done) => {
        const sender = senderOf(services.dashboardSockets, msg);
        const canAct = mayAct(sender, "operator");
        const state = { operator: sender.person?.name ?? null, role: sender.person?.role ?? null, canAct };
        const happened = browserEvent(msg);
        if (happened === "connect" || happened === "change") {
          send([null, answerTo(msg, "operator", state)]);
          done();
          return;
        }
        if (happened) {
          // gone, or a group folded: nothing to tell
          done();
          return;
        }
        const topic = typeof msg.topic === "string" ? msg.topic.slice(0, 64) : "";
        if (!canAct) {
          const why = refuseAction(RED, this, services.audit, sender, { messages: "operator-gate", lacking: "not-operator", logKey: "log.action-refused", action: topic || "?" });
          if (topic === "open-door") this.doorAudit(s.door, sender.person?.name ?? null);
          send([null, answerTo(msg, "operator", { ...state, refused: topic, error: why })]);
          done();
          return;
        }
        const out = { ...msg, operator: sender.person!.name } as NodeMessage & { token?: unknown };
        delete out.token;
        showStatus(this, "ok", RED._("operator-gate.status.allowed", { action: topic, user: sender.person!.name }));
        send([out, null]);
        done();
      });
    }

    private doorAudit(door: string, by: string | null): void {
      const at = new Date(servicesOf(RED).clock.now()).toISOString();
      try {
        new DoorAudit(servicesOf(RED).dataDir).append({
          at,
          node: this.id,
          device: door,
          command: "open-door",
          id: null,
          by,
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
