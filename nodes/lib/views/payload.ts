// What a function node hands a view: an MQTT payload as Node-RED's mqtt-in gives it (a Buffer, a string, or an
// object when the node parses JSON). These read it the one way every view needs.

/** The payload as text, or null when it is already an object (parsed by the mqtt-in node). */
export function textOf(payload: unknown): string | null {
  if (Buffer.isBuffer(payload)) return payload.toString("utf8");
  if (typeof payload === "string") return payload;
  if (typeof payload === "number" || typeof payload === "boolean") return String(payload);
  return null;
}

/** An empty payload: a cleared retained message, which means "no state". */
export function isCleared(payload: unknown): boolean {
  const text = textOf(payload);
  return text !== null && text.trim() === "";
}

export type Parsed = { ok: true; value: Record<string, unknown> } | { ok: false; error: string };

/** A JSON object, from text or as already parsed; `what` names where it came from in the error. */
export function jsonObject(payload: unknown, what: string): Parsed {
  let value: unknown = payload;
  const text = textOf(payload);
  if (text !== null) {
    try {
      value = JSON.parse(text);
    } catch {
      return { ok: false, error: `not JSON on ${what}` };
    }
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { ok: false, error: `not a JSON object on ${what}` };
  return { ok: true, value: value as Record<string, unknown> };
}

/** A topic's levels; `pifog/<device>/<kind>` has three. */
export function levels(topic: unknown): string[] {
  return String(topic ?? "").split("/");
}

/** What a view's update gives the function node: the state to keep, whether to send it on, and what to report. */
export interface Step<S> {
  state: S;
  /** false: nothing to send (the message was not for this view, or was refused). */
  changed: boolean;
  /** A refusal for `node.error(error, msg)`. */
  error?: string;
}
