// Answers to a slash command after the fact: Slack hands every command a `response_url` (valid 30 minutes, up to
// five answers) where JSON `{response_type, text}` appears in the conversation as a reply. It is a webhook, not a
// Web API method (JSON body, no token), so this is a plain fetch rather than the WebClient.
// https://api.slack.com/interactivity/handling#message_responses
import type { DoorOpenResult } from "../contract";
import { SlackApiError, type SlackCommandReply } from "./api";

const REPLY_TIMEOUT_MS = 30_000;

/** Slack's own hosts (hooks.slack.com…), or the host of the app's API URL (a test's fake): the only places a
 * reply goes, so a message cannot make PiFog post to an arbitrary address. */
export function responseUrlAllowed(url: string, apiUrl: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol === "https:" && /(^|\.)(slack\.com|slack-gov\.com)$/.test(u.hostname)) return true;
  try {
    return u.origin === new URL(apiUrl).origin;
  } catch {
    return false;
  }
}

/** POSTs the reply; throws a SlackApiError (`network`, `http_<status>`, or Slack's text such as `expired_url`). */
export async function postToResponseUrl(url: string, reply: SlackCommandReply, signal?: AbortSignal): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8" },
      body: JSON.stringify(reply),
      signal: signal ?? AbortSignal.timeout(REPLY_TIMEOUT_MS),
    });
  } catch (err) {
    throw new SlackApiError("network", `response_url: ${(err as Error).message}`, { cause: err });
  }
  const text = (await res.text().catch(() => "")).trim();
  if (!res.ok) {
    const code = /^[a-z_]{1,40}$/.test(text) ? text : `http_${res.status}`;
    throw new SlackApiError(code, `response_url: ${code}`);
  }
}

/** A door-opener's result (its msg.payload), recognised by shape. */
export function isDoorOpenResult(value: unknown): value is DoorOpenResult {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Partial<DoorOpenResult>;
  return v.command === "open-door" && (v.result === "opened" || v.result === "refused");
}

export type Translate = (key: string, vars?: Record<string, string | number>) => string;

/** "Door opened (5 s)" / "Door not opened: busy", through the node's messages (`t` = RED._ with its prefix). */
export function doorReplyText(result: DoorOpenResult, t: Translate): string {
  if (result.result === "opened") return t("reply.opened", { seconds: Math.round(result.pulseMs / 100) / 10 });
  const reason = result.reason ?? "unknown";
  const known = t(`reason.${reason}`);
  return t("reply.refused", { reason: known.endsWith(`reason.${reason}`) ? reason : known });
}
