// The hub flow's motion notices: a clip the clip-store stored becomes "Motion detected by <name>" for the e-mail node
// (with the thumbnail attached) and for slack-notify, unless the camera's settings (its retained
// `pifog/<device>/camera/config`) turned notifications off. And the dashboard's clip links, built in one place.
import { clipLinks } from "../camera/clip-api";
import type { CameraSettings, ClipRecord } from "../camera/types";

/** Each camera's notifications on/off, from its settings as the flow last received them. */
export type NoticeState = Record<string, boolean>;

export interface MotionNotice {
  subject: string;
  text: string;
}

/** The words of the notice (the original's). */
export function motionNoticeText(record: Pick<ClipRecord, "start" | "durationMs">, name: string, link: string): MotionNotice {
  const seconds = Math.round(record.durationMs / 1000);
  return {
    subject: `Motion detected by ${name}`,
    text: `A ${seconds}sec motion video was recorded by ${name} on ${new Date(record.start).toISOString()}. Head over to ${link} to view the entire video.`,
  };
}

function isRecord(v: unknown): v is ClipRecord {
  const r = v as Partial<ClipRecord> | null;
  return !!r && typeof r === "object" && typeof r.device === "string" && typeof r.id === "string" && typeof r.start === "number" && typeof r.durationMs === "number";
}

function settingsOf(payload: unknown): Partial<CameraSettings> | null {
  if (Buffer.isBuffer(payload)) payload = payload.toString("utf8");
  if (typeof payload === "string") {
    try {
      payload = JSON.parse(payload);
    } catch {
      return null;
    }
  }
  return payload && typeof payload === "object" && !Array.isArray(payload) ? (payload as Partial<CameraSettings>) : null;
}

/**
 * One message into the notices: a camera's settings (msg.topic `pifog/<device>/camera/config`) update the state;
 * a stored item (clip-store's output: msg.payload the record, msg.link, msg.thumbnail) gives the e-mail (when
 * `emailTo` names someone) and the Slack message, for clips of cameras whose notifications are on (the default).
 */
export function updateMotionNotices(
  state: NoticeState | undefined,
  msg: { topic?: unknown; payload?: unknown; link?: unknown; thumbnail?: unknown },
  emailTo?: string,
): { state: NoticeState; email: Record<string, unknown> | null; slack: Record<string, unknown> | null } {
  const s: NoticeState = { ...(state ?? {}) };
  const topic = typeof msg.topic === "string" ? msg.topic : "";
  const m = /^pifog\/([^/]+)\/camera\/config$/.exec(topic);
  if (m) {
    const settings = settingsOf(msg.payload);
    if (settings && typeof settings.notifications === "boolean") s[m[1]!] = settings.notifications;
    return { state: s, email: null, slack: null };
  }
  const record = msg.payload;
  if (!isRecord(record) || record.kind !== "clip" || s[record.device] === false) return { state: s, email: null, slack: null };
  const link = typeof msg.link === "string" ? msg.link : clipLinks(record).play;
  const notice = motionNoticeText(record, record.device, link);
  const to = (emailTo ?? "").trim();
  const email = to
    ? {
        to,
        subject: notice.subject,
        text: notice.text,
        ...(Buffer.isBuffer(msg.thumbnail) ? { attachments: [{ filename: `${record.id}.jpg`, content: msg.thumbnail, contentType: "image/jpeg" }] } : {}),
      }
    : null;
  const slack = { payload: `*${notice.subject}*\n${notice.text}` };
  return { state: s, email, slack };
}

/** Where the dashboard gets a clip's parts (relative URLs of this hub). */
export function clipUrls(record: Pick<ClipRecord, "device" | "id">): { thumbnail: string; media: string; play: string } {
  return clipLinks(record);
}
