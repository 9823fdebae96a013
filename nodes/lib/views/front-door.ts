// The Front door tab and its commands. The view keeps the latest still with its faces' boxes
// (pifog/<camera>/camera/frame, retained), the last 8 faces the remote side received (pifog/forwarded/<camera>/faces:
// the crop's bytes carrying its face record, nodes/lib/face-record.ts) and the door's last answer (pifog/<opener>/event).
// The door opener records who SENT a command (this runtime's MQTT client), not who the payload names; so the ids
// the tab issued are kept (`Issued`) and the view names the operator only for an answer to one of them.
import { NATIVE_ROOT, topics } from "../contract";
import { readFaceRecord } from "../face-record";
import { jsonObject, levels, type Step } from "./payload";

export const FRONT_FACES_SHOWN = 8;
const FRAME_FACES_SHOWN = 20;
/** How long, and how many, of the commands the tab issued are remembered. */
export const ISSUED_KEPT_MS = 30 * 60_000;
export const ISSUED_KEPT_MAX = 50;

export interface FrontFrame {
  device: string;
  takenAt: unknown;
  image: string;
  encoding: string;
  width: unknown;
  height: unknown;
  faces: Array<{ box: unknown; score: number }>;
}

export interface FrontFace {
  src: string;
  device: string;
  at: string;
  score: number | null;
}

export interface FrontDoorView {
  frame: FrontFrame | null;
  faces: FrontFace[];
  door: Record<string, unknown> | null;
}

/** Commands this tab issued, by id: who asked and when (ms). */
export type Issued = Record<string, { by: string; at: number }>;

export function updateFrontDoorView(
  previous: FrontDoorView | undefined,
  msg: { topic?: unknown; payload?: unknown },
  issued: Issued | undefined,
  now: number,
): Step<FrontDoorView> {
  const state = previous ?? { frame: null, faces: [], door: null };
  const l = levels(msg.topic);
  if (l[0] !== NATIVE_ROOT) return { state, changed: false };
  if (l.length === 4 && l[2] === "camera" && l[3] === "frame") {
    const f = jsonObject(msg.payload, String(msg.topic));
    if (!f.ok) return { state, changed: false };
    const { image, encoding, faces } = f.value;
    if (typeof image !== "string" || typeof encoding !== "string" || !/^image\/(jpeg|png)$/.test(encoding)) return { state, changed: false };
    state.frame = {
      device: l[1]!,
      takenAt: f.value.takenAt,
      image,
      encoding,
      width: f.value.width,
      height: f.value.height,
      faces: (Array.isArray(faces) ? faces : [])
        .slice(0, FRAME_FACES_SHOWN)
        .map((x: { box?: unknown; score?: unknown } | null) => ({ box: x?.box, score: Number(x?.score) })),
    };
  } else if (l.length === 4 && l[1] === "forwarded" && l[3] === "faces" && Buffer.isBuffer(msg.payload)) {
    const crop = msg.payload;
    const record = readFaceRecord(crop);
    const png = crop[0] === 0x89;
    const face: FrontFace = {
      src: `data:image/${png ? "png" : "jpeg"};base64,${crop.toString("base64")}`,
      device: l[2]!,
      at: record ? record.takenAt : new Date(now).toISOString(),
      score: record ? record.score : null,
    };
    state.faces = [face, ...state.faces].slice(0, FRONT_FACES_SHOWN);
  } else if (l.length === 3 && l[2] === "event") {
    const e = jsonObject(msg.payload, String(msg.topic));
    const answer = e.ok ? e.value["open-door"] : null;
    if (typeof answer !== "object" || answer === null) return { state, changed: false };
    // who asked: the operator, when this tab issued the command; otherwise the sender as the door opener recorded
    // it, never what a payload claims
    const door: Record<string, unknown> = { ...(answer as Record<string, unknown>) };
    const mine = issued?.[String(door.id)];
    if (mine && Object.prototype.hasOwnProperty.call(issued, String(door.id))) door.by = mine.by;
    delete door.claimedBy;
    state.door = door;
  } else {
    return { state, changed: false };
  }
  return { state, changed: true };
}

/** A command id no one else makes: who asks, when, and a few random characters. */
export function commandId(prefix: string, now: number, random: () => number = Math.random): string {
  return `${prefix}-${now.toString(36)}-${random().toString(36).slice(2, 6)}`;
}

/** `issued` without what is older than 30 minutes, with room for one more (at most 50). */
function remember(issued: Issued | undefined, id: string, by: string, now: number): Issued {
  const kept: Issued = {};
  for (const [k, v] of Object.entries(issued ?? {})) if (now - v.at <= ISSUED_KEPT_MS) kept[k] = v;
  const keys = Object.keys(kept);
  if (keys.length >= ISSUED_KEPT_MAX) delete kept[keys[0]!];
  kept[id] = { by, at: now };
  return kept;
}

export interface FrontDoorDevices {
  /** This tab's env FRONT_DOOR_OPENER and FRONT_DOOR_CAMERA. */
  opener: string;
  camera: string;
}

export type FrontCommand = { issued: Issued; out: { topic: string; payload: string } | null; warning?: string };

/** An allowed dashboard action (the operator gate's output 1: msg.topic the action, msg.operator who) → the command
 * for the door opener or the camera, naming the operator; the door commands are remembered in `issued`. */
export function frontDoorCommand(
  issued: Issued | undefined,
  msg: { topic?: unknown; operator?: unknown },
  devices: FrontDoorDevices,
  now: number,
  random: () => number = Math.random,
): FrontCommand {
  const id = commandId("dashboard", now, random);
  const by = `dashboard:${String(msg.operator)}`;
  if (msg.topic === "open-door") {
    return { issued: remember(issued, id, by, now), out: { topic: topics.command(devices.opener), payload: JSON.stringify({ command: "open-door", id, by }) } };
  }
  if (msg.topic === "take-picture") {
    return { issued: issued ?? {}, out: { topic: topics.command(devices.camera), payload: JSON.stringify({ command: "take-picture-low-res", id, by }) } };
  }
  return { issued: issued ?? {}, out: null, warning: `unknown dashboard action ${String(msg.topic).slice(0, 40)}` };
}
