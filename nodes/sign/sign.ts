// The `sign` node: signs msg.payload (a JSON object, or JSON text of one) with this runtime's own identity (its
// certificate and key from its bundle: services.trust.signer), so a `verify` node or a door opener elsewhere in the
// fog knows who sent it and that nobody changed or replayed it (nodes/lib/identity/signing.ts). By default the
// message's topic is signed too: the payload is then taken only on that topic.
import type { NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { signPayload } from "../lib/identity/signing";
import { failMessage } from "../lib/node-red/fail";
import { showStatus } from "../lib/node-red/status";
import { servicesOf } from "../lib/services";

export interface SignDef extends NodeDef {
  /** Sign msg.topic with the payload (default true). */
  bindTopic?: boolean | string;
}

export interface SignSettings {
  bindTopic: boolean;
}

export function normaliseSign(config: Partial<SignDef>): SignSettings {
  return { bindTopic: config.bindTopic !== false && config.bindTopic !== "false" };
}

/** The payload to sign as an object, and whether it came as JSON text (it leaves the same way). */
export function signable(payload: unknown): { value: Record<string, unknown>; text: boolean } | null {
  let value = payload;
  const text = typeof payload === "string" || Buffer.isBuffer(payload);
  if (text) {
    try {
      value = JSON.parse(payload.toString());
    } catch {
      return null;
    }
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  return { value: value as Record<string, unknown>, text };
}

function defineSign(RED: NodeAPI) {
  return class Sign extends Node {
    constructor(config: SignDef) {
      super(RED);
      this.createNode(config);
      const s = normaliseSign(config);
      const services = servicesOf(RED);
      const signer = services.trust.signer;
      if (signer) showStatus(this, "ok", RED._("sign.status.ready", { cn: signer.cn }));
      else {
        showStatus(this, "warn", RED._("sign.status.no-identity"));
        this.warn(RED._("sign.errors.no-identity", { detail: services.trust.missing ?? "" }));
      }
      let count = 0;

      this.on("input", (msg: NodeMessageInFlow, send, done) => {
        if (!signer) {
          failMessage(RED, this, new Error(RED._("sign.errors.no-identity", { detail: services.trust.missing ?? "" })), msg, done);
          return;
        }
        const payload = signable(msg.payload);
        if (!payload) {
          failMessage(RED, this, new Error(RED._("sign.errors.not-object")), msg, done);
          return;
        }
        try {
          const topic = s.bindTopic && typeof msg.topic === "string" && msg.topic !== "" ? msg.topic : undefined;
          const signed = signPayload(payload.value, signer, services.clock.now(), topic !== undefined ? { topic } : {});
          count++;
          showStatus(this, "ok", RED._("sign.status.signed", { cn: signer.cn, count }));
          send({ ...msg, payload: payload.text ? JSON.stringify(signed) : signed } as NodeMessage);
          done();
        } catch (err) {
          failMessage(RED, this, err as Error, msg, done);
        }
      });
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineSign(RED).registerType(RED, "sign");
}
