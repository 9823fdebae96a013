// The `verify` node: takes a signed msg.payload (the `sign` node's, a door command the hub signed) only when its
// signature checks out against this fog's CA and revocations (services.trust): output 1 with `msg.signer`. Every
// refusal (unsigned, tampered, replayed, stale, revoked, untrusted, not-allowed) leaves on output 2 with `msg.reason`
// and `msg.detail`, is written to the audit record, shown, and raised to Catch nodes.
import type { NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import type { SignerInfo, VerifyResult } from "../lib/identity/signing";
import { settingsFor } from "../lib/node-red/device";
import { showStatus } from "../lib/node-red/status";
import { servicesOf } from "../lib/services";
import { signable } from "../sign/sign";

export interface VerifyDef extends NodeDef {
  /** The signer's roles taken, comma separated; empty: any identity of the CA. */
  roles?: string;
  /** The payload must have been signed for the topic it arrived on (default true). */
  checkTopic?: boolean | string;
}

export interface VerifySettings {
  roles: string[];
  checkTopic: boolean;
}

export function normaliseVerify(config: Partial<VerifyDef>): VerifySettings {
  const roles = String(config.roles ?? "")
    .split(",")
    .map((r) => r.trim())
    .filter((r) => r !== "");
  for (const r of roles) if (!/^[a-z]{1,32}$/.test(r)) throw new Error(`role "${r}" is not a role name`);
  return { roles, checkTopic: config.checkTopic !== false && config.checkTopic !== "false" };
}

/** Whether a signer's role is one of `roles` (any role when there are none). */
export function rolesAllow(roles: readonly string[]): (signer: SignerInfo) => true | string {
  return (signer) =>
    roles.length === 0 || (signer.role !== null && roles.includes(signer.role)) ? true : `"${signer.cn}" (role ${signer.role ?? "unknown"}) is not one of ${roles.join(", ")}`;
}

function defineVerify(RED: NodeAPI) {
  return class Verify extends Node {
    constructor(config: VerifyDef) {
      super(RED);
      this.createNode(config);
      const s = settingsFor(this, () => normaliseVerify(config));
      if (!s) return;
      const services = servicesOf(RED);
      const verifier = services.trust.verifier(rolesAllow(s.roles), this.id);
      if (verifier) showStatus(this, "off", RED._("verify.status.ready"));
      else {
        showStatus(this, "warn", RED._("verify.status.no-ca"));
        this.warn(RED._("verify.errors.no-ca", { detail: services.trust.missing ?? "" }));
      }
      let passed = 0;

      this.on("input", (msg: NodeMessageInFlow, send, done) => {
        const topic = typeof msg.topic === "string" ? msg.topic : "";
        const payload = signable(msg.payload)?.value ?? msg.payload;
        const r: VerifyResult = verifier
          ? verifier.verify(payload, s.checkTopic ? { topic } : {})
          : { ok: false, reason: "untrusted", detail: services.trust.missing ?? "no CA" };
        if (r.ok) {
          passed++;
          showStatus(this, "ok", RED._("verify.status.passed", { cn: r.signer.cn, count: passed }));
          send([{ ...msg, signer: r.signer } as NodeMessage, null]);
          done();
          return;
        }
        const signer = r.signer ? ` (signed by "${r.signer.cn}")` : "";
        const why = RED._("verify.errors.refused", { reason: r.reason, detail: `${r.detail}${signer}` });
        services.audit.record({
          event: "signature.refused",
          via: "flow",
          who: r.signer?.cn ?? "unknown",
          reason: why,
          refusal: r.reason,
          node: this.id,
          topic: topic.slice(0, 256),
        });
        showStatus(this, "error", RED._("verify.status.refused", { reason: r.reason }));
        const refused = { ...msg, reason: r.reason, detail: r.detail, ...(r.signer ? { signer: r.signer } : {}) } as NodeMessage;
        const err = new Error(why);
        err.name = "SignatureRefused";
        this.error(err, refused);
        send([null, refused]);
        done();
      });
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineVerify(RED).registerType(RED, "verify");
}
