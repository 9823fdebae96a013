// The Power tab: each power Pi's state (pifog/<device>/power) and the hub's debounced connection
// (pifog/<device>/connection), both retained, the devices' names from the account-api's list, and the cards made
// from them. A device attached to an account, or connected, before its first power report gets a card that says so
// (never a card that breaks, never a missing one). The account list itself is never passed on: it holds every
// account's e-mails, and every signed-in viewer sees the dashboard; `listed` counts the lists, so the e-mail and owner groups
// fetch again (with their own logins) when it moves.
import type { BatteryReading, ConnectionState, PowerState } from "../contract";
import { NATIVE_ROOT } from "../contract";
import { isCleared, jsonObject, levels, type Step } from "./payload";

export interface PowerEntry {
  power: Partial<PowerState> | null;
  connection: Partial<ConnectionState> | null;
}

export interface PowerView {
  devices: Record<string, PowerEntry>;
  names: Record<string, string>;
  listed: number;
}

export type PowerLook = "on" | "off" | "was-on" | "was-off" | "unreported";

/** One card as the Power tab draws it. */
export interface PowerCard {
  id: string;
  name: string;
  look: PowerLook;
  title: string;
  description: string;
  /** null until the device's first power report. */
  mains: "on" | "off" | null;
  changedAt: string | null;
  /** false only when the hub says the connection is lost. */
  connected: boolean;
  /** When the connection was lost, or null. */
  contactLostAt: string | null;
  battery: BatteryReading | null;
}

// detectordag's states, keyed by (connection, power), with its descriptions
const LOOKS: Record<PowerLook, { title: string; description: string }> = {
  on: { title: "On", description: "The power is on!" },
  off: { title: "Off", description: "Your dag says that the power is off" },
  "was-on": { title: "Was On", description: "We've lost contact with your dag. The power was on the last we heard..." },
  "was-off": { title: "Was Off", description: "Your dag noticed the power go, and then we lost contact. It may have run out of battery." },
  unreported: { title: "Not heard from yet", description: "This device has not reported its power yet: its state shows here from its first report." },
};

export function emptyPowerView(): PowerView {
  return { devices: {}, names: {}, listed: 0 };
}

const own = (o: object, key: string) => Object.prototype.hasOwnProperty.call(o, key);

export function updatePowerView(previous: PowerView | undefined, msg: { topic?: unknown; payload?: unknown }): Step<PowerView> {
  const state = previous ?? emptyPowerView();
  if (Array.isArray(msg.payload)) {
    // the account-api's accounts, with their devices
    const names: Record<string, string> = {};
    for (const account of msg.payload as Array<{ devices?: Array<{ deviceId?: unknown; name?: unknown }> } | null>) {
      for (const d of account?.devices ?? []) if (typeof d.deviceId === "string") names[d.deviceId] = typeof d.name === "string" ? d.name : d.deviceId;
    }
    state.names = names;
    state.listed = (state.listed || 0) + 1;
    return { state, changed: true };
  }
  const l = levels(msg.topic);
  if (l.length !== 3 || l[0] !== NATIVE_ROOT || (l[2] !== "power" && l[2] !== "connection")) return { state, changed: false };
  const device = l[1]!;
  const kind = l[2];
  const entry: PowerEntry = own(state.devices, device) ? state.devices[device]! : { power: null, connection: null };
  if (isCleared(msg.payload)) {
    entry[kind] = null; // a cleared retained message: forget it
  } else {
    const parsed = jsonObject(msg.payload, String(msg.topic));
    if (!parsed.ok) return { state, changed: false, error: parsed.error };
    entry[kind] = parsed.value;
  }
  if (entry.power || entry.connection) state.devices[device] = entry;
  else delete state.devices[device];
  return { state, changed: true };
}

const text = (v: unknown): string | null => (typeof v === "string" ? v : null);

/** Every device the hub has heard of or an account names, one card each, by id. */
export function powerCards(view: PowerView): PowerCard[] {
  const ids = new Set([...Object.keys(view.devices), ...Object.keys(view.names)]);
  return [...ids].sort().map((id) => {
    const entry = own(view.devices, id) ? view.devices[id]! : { power: null, connection: null };
    const mains = entry.power?.mains === "on" || entry.power?.mains === "off" ? entry.power.mains : null;
    const connected = entry.connection?.status !== "disconnected";
    const look: PowerLook = mains === null ? "unreported" : connected ? mains : mains === "on" ? "was-on" : "was-off";
    const battery = entry.power?.battery;
    return {
      id,
      name: (own(view.names, id) && view.names[id]) || id,
      look,
      ...LOOKS[look],
      mains,
      changedAt: mains === null ? null : text(entry.power?.changedAt),
      connected,
      contactLostAt: connected ? null : text(entry.connection?.updated),
      battery: battery && typeof battery === "object" && typeof battery.percent === "number" ? battery : null,
    };
  });
}

/** What the Power tab's templates get: the view (the e-mail and owner groups read `devices` and `listed`) and its cards. */
export function powerModel(view: PowerView): PowerView & { cards: PowerCard[] } {
  return { ...view, cards: powerCards(view) };
}
