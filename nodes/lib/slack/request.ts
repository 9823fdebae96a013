// Incoming Slack slash commands: the signature check over an HTTP request's raw body, the command's fields (from
// the HTTP form or a Socket Mode envelope's payload), and the words PiFog understands.
// https://api.slack.com/authentication/verifying-requests-from-slack
import crypto from "node:crypto";

/** Requests older (or newer) than this are refused: a replayed request cannot be used later. */
export const SLACK_MAX_SKEW_MS = 5 * 60_000;

export type SignatureCheck = { ok: true } | { ok: false; reason: "missing" | "stale" | "mismatch" | "no-secret" };

/** `v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<raw body>` with the signing secret, compared in constant time;
 * the timestamp (seconds) must be within 5 minutes of `nowMs`. */
export function checkSlackSignature(
  secret: string,
  timestamp: string | undefined,
  signature: string | undefined,
  rawBody: Buffer,
  nowMs: number,
): SignatureCheck {
  if (!secret) return { ok: false, reason: "no-secret" };
  if (!timestamp || !signature || !/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: "missing" };
  if (Math.abs(nowMs - Number(timestamp) * 1000) > SLACK_MAX_SKEW_MS) return { ok: false, reason: "stale" };
  const expected = Buffer.from(slackSignature(secret, timestamp, rawBody), "utf8");
  const given = Buffer.from(signature, "utf8");
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return { ok: false, reason: "mismatch" };
  return { ok: true };
}

export function slackSignature(secret: string, timestamp: string, rawBody: Buffer): string {
  const hmac = crypto.createHmac("sha256", secret);
  hmac.update(`v0:${timestamp}:`);
  hmac.update(rawBody);
  return `v0=${hmac.digest("hex")}`;
}

export interface SlashCommand {
  command: string;
  text: string;
  userId: string;
  userName: string;
  channelId: string;
  responseUrl: string;
}

/** An HTTP slash command: the form-encoded body. */
export function parseSlashCommand(rawBody: Buffer): SlashCommand {
  return slashCommandOf(Object.fromEntries(new URLSearchParams(rawBody.toString("utf8"))));
}

/** A slash command's fields, as the HTTP form or a Socket Mode `slash_commands` payload carries them. */
export function slashCommandOf(fields: Record<string, unknown>): SlashCommand {
  const field = (name: string) => (typeof fields[name] === "string" ? (fields[name] as string).trim() : "");
  return {
    command: field("command"),
    text: field("text"),
    userId: field("user_id"),
    userName: field("user_name"),
    channelId: field("channel_id"),
    responseUrl: field("response_url"),
  };
}

export type SlackIntent = "open-door" | "take-picture" | "help";

/** "open the door" / "open" → open-door; "take a picture" / "picture" → take-picture; anything else → help. */
export function intentOf(text: string): SlackIntent {
  const words = text.toLowerCase().replace(/[^a-z ]+/g, " ").split(/\s+/).filter(Boolean).join(" ");
  if (words === "open" || words === "open door" || words === "open the door") return "open-door";
  if (words === "picture" || words === "take picture" || words === "take a picture") return "take-picture";
  return "help";
}

/** Slack user ids from a list separated by commas, spaces or new lines. */
export function parseUserIds(value: string | undefined): string[] {
  return (value ?? "")
    .split(/[\s,;]+/)
    .map((id) => id.trim())
    .filter(Boolean);
}
