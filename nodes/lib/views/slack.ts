// The Front door's Slack side, between slack-command / slack-notify and the door: a command from an allowed Slack
// user becomes the door opener's or the camera's command, the door's answer goes back to that command's
// response_url (kept 30 minutes), and a still with a face in it becomes one post a minute per camera at most.
import { topics } from "../contract";
import { commandId, type FrontDoorDevices } from "./front-door";
import { jsonObject, levels } from "./payload";

export const PENDING_KEPT_MS = 30 * 60_000;
export const VISITOR_POST_EVERY_MS = 60_000;

/** Slack commands waiting for the door's answer, by command id. */
export type Pending = Record<string, { url: string; at: number }>;

interface SlackMsg {
  slack?: { user_id?: unknown; response_url?: unknown };
}

function who(msg: SlackMsg): string {
  return msg.slack && msg.slack.user_id ? `slack:${String(msg.slack.user_id)}` : "slack";
}

/** "open the door" → the door opener's command; its response_url is kept for the answer. */
export function slackOpenDoor(
  pending: Pending | undefined,
  msg: SlackMsg,
  devices: FrontDoorDevices,
  now: number,
  random: () => number = Math.random,
): { pending: Pending; out: { topic: string; payload: string } } {
  const id = commandId("slack", now, random);
  const kept: Pending = {};
  for (const [k, v] of Object.entries(pending ?? {})) if (now - v.at <= PENDING_KEPT_MS) kept[k] = v;
  if (msg.slack && typeof msg.slack.response_url === "string") kept[id] = { url: msg.slack.response_url, at: now };
  return { pending: kept, out: { topic: topics.command(devices.opener), payload: JSON.stringify({ command: "open-door", id, by: who(msg) }) } };
}

/** "take a picture" → the door camera; the still goes through face detect like any other. */
export function slackTakePicture(msg: SlackMsg, devices: FrontDoorDevices, now: number): { topic: string; payload: string } {
  return { topic: topics.command(devices.camera), payload: JSON.stringify({ command: "take-picture-low-res", id: `slack-${now.toString(36)}`, by: who(msg) }) };
}

/** The door opener's answer to a Slack command → a reply to that command's response_url (slack-notify words it). */
export function slackDoorReply(
  pending: Pending | undefined,
  msg: { payload?: unknown },
): { pending: Pending; out: { payload: Record<string, unknown>; slack: { response_url: string } } | null } {
  const kept: Pending = { ...(pending ?? {}) };
  const e = jsonObject(msg.payload, "the door's answer");
  const result = e.ok ? e.value["open-door"] : null;
  if (typeof result !== "object" || result === null) return { pending: kept, out: null };
  const id = (result as { id?: unknown }).id;
  if (typeof id !== "string" || !Object.prototype.hasOwnProperty.call(kept, id)) return { pending: kept, out: null };
  const p = kept[id]!;
  delete kept[id];
  return { pending: kept, out: { payload: result as Record<string, unknown>, slack: { response_url: p.url } } };
}

/** Last post time per camera. */
export type LastPosts = Record<string, number>;

/** A still with a face in it → one Slack post with the snapshot, at most one a minute per camera. */
export function slackVisitor(
  last: LastPosts | undefined,
  msg: { topic?: unknown; payload?: unknown },
  now: number,
): { last: LastPosts; out: { payload: string; image: Buffer; filename: string } | null } {
  const posted: LastPosts = { ...(last ?? {}) };
  const f = jsonObject(msg.payload, "a still");
  if (!f.ok) return { last: posted, out: null };
  const { faces, image, encoding } = f.value;
  if (!Array.isArray(faces) || faces.length === 0 || typeof image !== "string") return { last: posted, out: null };
  const device = levels(msg.topic)[1] || "camera";
  if (now - (posted[device] ?? 0) < VISITOR_POST_EVERY_MS) return { last: posted, out: null };
  posted[device] = now;
  const n = faces.length;
  return {
    last: posted,
    out: {
      payload: `Someone is at the door (${device}, ${n} face${n === 1 ? "" : "s"})`,
      image: Buffer.from(image, "base64"),
      filename: `visitor.${encoding === "image/png" ? "png" : "jpg"}`,
    },
  };
}
