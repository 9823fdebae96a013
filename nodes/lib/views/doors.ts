// The Doors tab: every DoorPi's doors (pifog/<device>/doors) and every device's status (pifog/<device>/status),
// both retained. An empty payload (a cleared retained message) forgets what was kept.
import { NATIVE_ROOT } from "../contract";
import { isCleared, jsonObject, levels, type Step } from "./payload";

export interface DoorsView {
  doors: Record<string, Record<string, unknown>>;
  devices: Record<string, Record<string, unknown>>;
}

export function emptyDoorsView(): DoorsView {
  return { doors: {}, devices: {} };
}

export function updateDoorsView(previous: DoorsView | undefined, msg: { topic?: unknown; payload?: unknown }): Step<DoorsView> {
  const state = previous ?? emptyDoorsView();
  const [root, device, kind, ...rest] = levels(msg.topic);
  if (root !== NATIVE_ROOT || !device || rest.length > 0) return { state, changed: false };
  const table = kind === "doors" ? state.doors : kind === "status" ? state.devices : null;
  if (!table) return { state, changed: false };
  const topic = String(msg.topic);
  if (isCleared(msg.payload)) {
    delete table[device];
    return { state, changed: true };
  }
  const parsed = jsonObject(msg.payload, topic);
  if (!parsed.ok) return { state, changed: false, error: parsed.error };
  const doors = parsed.value.doors;
  if (kind === "doors" && (typeof doors !== "object" || doors === null)) return { state, changed: false, error: `no doors object on ${topic}` };
  table[device] = parsed.value;
  return { state, changed: true };
}
