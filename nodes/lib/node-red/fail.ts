// One way to fail a message: a red status, a dead-letter record, and node.error(err, msg) / done(err)
// so Catch nodes see it. The runtime keeps going.
import type { Node, NodeAPI, NodeMessage } from "node-red";
import { payloadText } from "../dead-letter";
import { servicesOf } from "../services";
import { showStatus } from "./status";

export function failMessage(
  RED: NodeAPI,
  node: Node,
  err: Error,
  msg: NodeMessage,
  done?: (err?: Error) => void,
): void {
  showStatus(node, "error", err.message);
  try {
    servicesOf(RED).deadLetters.append({
      node: node.id,
      type: node.type,
      error: err.message,
      topic: typeof msg.topic === "string" ? msg.topic : undefined,
      payload: payloadText(msg.payload),
    });
  } catch (writeErr) {
    node.warn(`could not write the dead-letter record: ${(writeErr as Error).message}`);
  }
  if (done) done(err);
  else node.error(err, msg);
}
