// The Alerts card: every device's active alerts (pifog/<device>/alerts/active, retained) and the latest events
// (pifog/<device>/alerts/events), and the one thing the card may send: an acknowledgement.
import { isTopicLevel, NATIVE_ROOT, topics } from "../contract";
import { jsonObject, levels, type Step } from "./payload";

export const EVENTS_SHOWN = 30;
const MAX_ALERT_ID = 128;

type Shown = Record<string, unknown> & { device: string };

export interface AlertsState {
  active: Record<string, Shown[]>;
  events: Shown[];
}

export interface AlertsModel {
  /** Each with the topic its Acknowledge button sends to. */
  active: Array<Shown & { ackTopic: string }>;
  events: Shown[];
}

export function updateAlertsView(previous: AlertsState | undefined, msg: { topic?: unknown; payload?: unknown }): Step<AlertsState> {
  const state = previous ?? { active: {}, events: [] };
  const [root, device, alerts, kind] = levels(msg.topic);
  if (root !== NATIVE_ROOT || !device || alerts !== "alerts") return { state, changed: false };
  const p = jsonObject(msg.payload, String(msg.topic));
  if (kind === "active") {
    const list = p.ok ? p.value.alerts : null;
    if (Array.isArray(list)) state.active[device] = list.map((a: Record<string, unknown>) => ({ device, ...a }));
    else delete state.active[device];
  } else if (kind === "events" && p.ok) {
    state.events = [{ device, ...p.value }, ...state.events].slice(0, EVENTS_SHOWN);
  } else {
    return { state, changed: false };
  }
  return { state, changed: true };
}

export function alertsModel(state: AlertsState): AlertsModel {
  const active = Object.values(state.active).flat().map((a) => ({ ...a, ackTopic: topics.alertAck(a.device) }));
  return { active, events: state.events };
}

/** Only acknowledgements may leave the dashboard: pifog/<device>/alerts/ack with an alert id, sent as the dashboard's. */
export function alertAck(msg: { topic?: unknown; payload?: unknown }): { topic: string; payload: string } | { warning: string } {
  const [root, device, alerts, ack, ...rest] = levels(msg.topic);
  const p = (msg.payload ?? {}) as { id?: unknown };
  const id = p.id;
  if (root !== NATIVE_ROOT || !device || !isTopicLevel(device) || alerts !== "alerts" || ack !== "ack" || rest.length > 0 || typeof id !== "string" || id.length === 0 || id.length > MAX_ALERT_ID) {
    return { warning: "dashboard sent something that is not an acknowledgement; dropped" };
  }
  return { topic: topics.alertAck(device), payload: JSON.stringify({ id, by: "dashboard" }) };
}
