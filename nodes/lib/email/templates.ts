// detectordag's status e-mail (shared/email/email.go, email_data.go, mail/status-update.mjml): the subject is
// the transition's text, the state's title and description come from the device's (connection, power) pair,
// the text body is the original's five lines and the HTML body follows the MJML template's order. Nothing
// remote is loaded (no images, no web fonts) and every style is inline, so the mail reads the same offline.
import {
  PayloadError,
  type ConnectionStatus,
  type MainsState,
  type PowerTransition,
  type TransitionEvent,
} from "../contract";

export const TRANSITION_TEXT: Readonly<Record<PowerTransition, string>> = {
  On: "Your power's back!",
  Off: "You've lost power!",
  Connected: "Your dag is back!",
  Disconnected: "We've lost contact with your dag!",
};

export interface StateText {
  title: string;
  description: string;
}

/** detectordag's state data, keyed by connection then power. */
export const STATE_TEXT: Readonly<Record<ConnectionStatus, Readonly<Record<MainsState, StateText>>>> = {
  connected: {
    on: { title: "On", description: "The power is on!" },
    off: { title: "Off", description: "Your dag says that the power is off" },
  },
  disconnected: {
    on: { title: "Was On", description: "We've lost contact with your dag. The power was on the last we heard..." },
    off: {
      title: "Was Off",
      description: "Your dag noticed the power go, and then we lost contact. It may have run out of battery.",
    },
  },
};

const TRANSITIONS = Object.keys(TRANSITION_TEXT) as PowerTransition[];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Throws a RangeError for a time zone this runtime does not know; "" means the process's own zone. */
export function checkTimeZone(timeZone: string): string {
  if (timeZone === "") return "";
  return new Intl.DateTimeFormat("en-US", { timeZone }).resolvedOptions().timeZone;
}

/** The zone a blank setting means: the runtime's local zone (the TZ environment variable, else the system's). */
export function localTimeZone(): string {
  return new Intl.DateTimeFormat("en-US").resolvedOptions().timeZone;
}

/** Go's `time.Format("15:04 02-Jan-2006")`: 24-hour time, day, English month abbreviation, year. */
export function formatGoTime(at: Date, timeZone = ""): string {
  const parts = new Intl.DateTimeFormat("en-US", {
    ...(timeZone === "" ? {} : { timeZone }),
    hourCycle: "h23",
    hour: "2-digit",
    minute: "2-digit",
    day: "2-digit",
    month: "numeric",
    year: "numeric",
  }).formatToParts(at);
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? "";
  const month = MONTHS[Number(part("month")) - 1] ?? "???";
  return `${part("hour").padStart(2, "0")}:${part("minute").padStart(2, "0")} ${part("day").padStart(2, "0")}-${month}-${part("year")}`;
}

/** Checks a TransitionEvent (msg.payload from the power tracker); throws a PayloadError saying what is wrong. */
export function parseTransitionEvent(value: unknown): TransitionEvent {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new PayloadError("a transition event must be an object");
  }
  const v = value as Record<string, unknown>;
  if (typeof v.device !== "string" || v.device === "") throw new PayloadError("a transition event needs a device id");
  if (typeof v.transition !== "string" || !TRANSITIONS.includes(v.transition as PowerTransition)) {
    throw new PayloadError(`transition must be one of ${TRANSITIONS.join(", ")}`);
  }
  if (v.connection !== "connected" && v.connection !== "disconnected") {
    throw new PayloadError("connection must be connected or disconnected");
  }
  if (v.power !== "on" && v.power !== "off") throw new PayloadError("power must be on or off");
  if (typeof v.at !== "string" || !Number.isFinite(Date.parse(v.at))) throw new PayloadError("at must be an ISO time");
  const name = typeof v.name === "string" && v.name.trim() !== "" ? v.name : v.device;
  return {
    device: v.device,
    name,
    transition: v.transition as PowerTransition,
    connection: v.connection,
    power: v.power,
    at: v.at,
  };
}

export interface RenderOptions {
  /** IANA zone for the time; "" (default): the runtime's local zone. */
  timeZone?: string;
  /** The "See live status" button's target; none: no button. */
  dashboardUrl?: string;
}

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

/** The text body: exactly the original template's five lines (without the leading blank line that Go's raw
 * string literal put before them). */
export function statusText(event: TransitionEvent, time: string): string {
  const state = STATE_TEXT[event.connection][event.power];
  return [
    `There's been an update for your dag ${event.name}`,
    `At ${time}`,
    TRANSITION_TEXT[event.transition],
    state.title,
    state.description,
  ].join("\n");
}

export function renderTransitionMail(event: TransitionEvent, options: RenderOptions = {}): RenderedMail {
  const time = formatGoTime(new Date(event.at), options.timeZone ?? "");
  const subject = TRANSITION_TEXT[event.transition];
  return { subject, text: statusText(event, time), html: statusHtml(event, time, options.dashboardUrl) };
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const HEADER = "#17a2b8";
const STATE_COLOUR: Record<string, string> = { On: "#28a745", Off: "#dc3545", "Was On": "#6c757d", "Was Off": "#6c757d" };

function statusHtml(event: TransitionEvent, time: string, dashboardUrl: string | undefined): string {
  const state = STATE_TEXT[event.connection][event.power];
  const name = escapeHtml(event.name);
  const when = escapeHtml(time);
  const transition = escapeHtml(TRANSITION_TEXT[event.transition]);
  const font = "font-family:Ubuntu,Helvetica,Arial,sans-serif;color:#000000;";
  const button = dashboardUrl
    ? `<tr><td style="padding:10px 25px;${font}font-size:13px;line-height:1.5;">Remember you can check the dashboard for the latest status of all your dags.</td></tr>
<tr><td align="center" style="padding:10px 25px;"><a href="${escapeHtml(dashboardUrl)}" style="display:inline-block;background:${HEADER};color:#ffffff;font-family:Ubuntu,Helvetica,Arial,sans-serif;font-size:13px;text-decoration:none;padding:10px 25px;border-radius:3px;">See live status</a></td></tr>`
    : "";
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${transition}</title></head>
<body style="margin:0;padding:0;background:#f4f4f4;">
<div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;overflow:hidden;">Your dag <b>${name}</b> changed status at ${when}</div>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:600px;margin:0 auto;background:#ffffff;">
<tr><td style="background:${HEADER};padding:20px 25px;color:#ffffff;font-family:Ubuntu,Helvetica,Arial,sans-serif;font-size:24px;font-weight:bold;">detector dag</td></tr>
<tr><td style="padding:20px 25px 10px;${font}font-size:40px;line-height:1.2;">${transition}</td></tr>
<tr><td style="padding:10px 25px;${font}font-size:13px;line-height:1.5;">Your dag <b>${name}</b> changed status at ${when} to:</td></tr>
<tr><td style="padding:10px 25px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="border:1px solid #dddddd;border-radius:4px;">
<tr><td style="padding:15px 20px 5px;${font}font-size:18px;font-weight:bold;">${name}</td></tr>
<tr><td style="padding:5px 20px;${font}font-size:28px;font-weight:bold;color:${STATE_COLOUR[state.title] ?? "#000000"};">${escapeHtml(state.title)}</td></tr>
<tr><td style="padding:5px 20px 15px;${font}font-size:13px;line-height:1.5;">${escapeHtml(state.description)}</td></tr>
</table>
</td></tr>
${button}
<tr><td style="padding:20px 25px;font-family:Ubuntu,Helvetica,Arial,sans-serif;font-size:11px;color:#888888;">Sent by PiFog, after detectordag by Sam Briggs</td></tr>
</table>
</body>
</html>
`;
}
