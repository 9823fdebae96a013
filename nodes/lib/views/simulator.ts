// The Simulator tab: every simulated device's state (pifog/<device>/sim/<name>, retained): door inputs (open/closed),
// switches (the power Pi's mains, on/off), readings that can be held at a value (the Sense HAT's, the UPS battery's
// charge), outputs (LEDs, the door opener), the LED matrix and the camera's scene. And the one guard between the
// dashboard (operators and admins: its socket refuses a viewer's input) and the broker: only the Simulator's own
// controls get through.
import { isTopicLevel, NATIVE_ROOT, topics } from "../contract";
import { textOf, levels, type Step } from "./payload";

/** Readings the Simulator can hold at a value, with their units. */
export const HELD_VALUES: Readonly<Record<string, string>> = {
  temperature: "°C",
  humidity: "%",
  pressure: "hPa",
  "temperature-from-pressure": "°C",
  "cpu-temperature": "°C",
  battery: "%",
};

export interface HeldValue {
  value: number;
  unit: string;
  note: string;
}

export interface SimDevice {
  inputs: Record<string, "open" | "closed">;
  switches: Record<string, "on" | "off">;
  values: Record<string, HeldValue>;
  outputs: Record<string, string>;
  matrix: unknown[] | null;
  scene: string | null;
}

export type SimulatorState = Record<string, SimDevice>;

/** What the Simulator template shows: each device as kept, plus the topic each of its controls sends to. */
export type SimulatorModel = Record<string, SimDevice & { set: Record<string, string> }>;

const isHeld = (name: string) => Object.prototype.hasOwnProperty.call(HELD_VALUES, name);

const KINDS = ["inputs", "switches", "values", "outputs"] as const;

function emptyDevice(): SimDevice {
  return { inputs: {}, switches: {}, values: {}, outputs: {}, matrix: null, scene: null };
}

export function updateSimulatorView(previous: SimulatorState | undefined, msg: { topic?: unknown; payload?: unknown }): Step<SimulatorState> {
  const state = previous ?? {};
  const l = levels(msg.topic);
  // pifog/<device>/sim/<name>; not the /set commands themselves
  if (l.length !== 4 || l[0] !== NATIVE_ROOT || l[2] !== "sim") return { state, changed: false };
  const device = l[1]!;
  const name = l[3]!;
  const text = textOf(msg.payload) ?? JSON.stringify(msg.payload);
  const kept = state[device];
  const sim: SimDevice = kept
    ? { inputs: { ...kept.inputs }, switches: { ...kept.switches }, values: { ...kept.values }, outputs: { ...kept.outputs }, matrix: kept.matrix, scene: kept.scene }
    : emptyDevice();
  for (const kind of KINDS) delete sim[kind][name];
  if (text === "") {
    // a cleared retained value: forget it
    if (name === "matrix") sim.matrix = null;
    if (name === "scene") sim.scene = null;
  } else if (name === "matrix") {
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      frame = null;
    }
    if (!Array.isArray(frame) || frame.length !== 64) {
      return { state, changed: false, error: `bad matrix frame on ${String(msg.topic)} (${typeof msg.payload}): ${text.slice(0, 80)}` };
    }
    sim.matrix = frame;
  } else if (name === "scene") {
    sim.scene = text; // what the simulated camera sees, e.g. visitor-astronaut
  } else if (name === "battery") {
    let b: { percent?: unknown; voltage?: unknown; charging?: unknown } | null;
    try {
      b = JSON.parse(text) as typeof b;
    } catch {
      b = null;
    }
    if (!b || typeof b.percent !== "number") return { state, changed: false };
    sim.values.battery = { value: b.percent, unit: "%", note: `${String(b.voltage)} V${b.charging ? ", charging" : ""}` };
  } else if (isHeld(name) && Number.isFinite(Number(text))) {
    sim.values[name] = { value: Number(text), unit: HELD_VALUES[name]!, note: "" };
  } else if (text === "open" || text === "closed") {
    sim.inputs[name] = text;
  } else if (text === "on" || text === "off") {
    sim.switches[name] = text;
  } else {
    sim.outputs[name] = text;
  }
  const any = sim.matrix || sim.scene || KINDS.some((k) => Object.keys(sim[k]).length > 0);
  if (any) state[device] = sim;
  else delete state[device];
  return { state, changed: true };
}

/** The kept state with the topic every control of each device sends to (pifog/<device>/sim/<name>/set). */
export function simulatorModel(state: SimulatorState): SimulatorModel {
  const model: SimulatorModel = {};
  for (const [device, sim] of Object.entries(state)) {
    const set: Record<string, string> = {};
    for (const name of [...Object.keys(sim.inputs), ...Object.keys(sim.switches), ...Object.keys(sim.values), "scene"]) {
      set[name] = topics.simSet(device, name);
    }
    model[device] = { ...sim, set };
  }
  return model;
}

/** A message the dashboard may send on: open or closed for a door, on or off for the mains, visitor or empty for a
 * camera, a number (or auto) for a reading, each to pifog/<device>/sim/<name>/set. Even a signed-in operator's
 * browser must not be able to publish anything else on the broker. */
export function simulatorInput(msg: { topic?: unknown; payload?: unknown }): { topic: string; payload: string } | { warning: string } {
  const topic = String(msg.topic ?? "");
  const p = typeof msg.payload === "string" ? msg.payload : "";
  const l = levels(topic);
  const device = l[1] ?? "";
  const name = l[3] ?? "";
  const shaped = l.length === 5 && l[0] === NATIVE_ROOT && l[2] === "sim" && l[4] === "set" && isTopicLevel(device) && isTopicLevel(name);
  const ok =
    shaped &&
    (name === "scene"
      ? p === "visitor" || p === "empty"
      : name === "mains"
        ? p === "on" || p === "off"
        : isHeld(name)
          ? p === "auto" || /^-?\d{1,6}(\.\d{1,3})?$/.test(p)
          : p === "open" || p === "closed");
  if (!ok) return { warning: `ignored a message from the dashboard for ${topic.slice(0, 80)}` };
  return { topic: topics.simSet(device, name), payload: p };
}
