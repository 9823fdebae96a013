// The few Slack Web API calls PiFog makes, over the global fetch against a configurable base URL (the real
// https://slack.com/api/ or a test's fake): chat.postMessage, and the files.uploadV2 way of posting an image
// (files.getUploadURLExternal → POST the bytes to the upload_url → files.completeUploadExternal).
// Arguments go form-encoded (every one of these methods takes them so); the token as a Bearer header.

export const DEFAULT_SLACK_API_URL = "https://slack.com/api/";

/** Slack said no (`ok:false`), answered with an HTTP error, or could not be reached. */
export class SlackApiError extends Error {
  /** Slack's error code (`invalid_auth`, `ratelimited`…), or `http_<status>` / `network`. */
  readonly code: string;
  /** From a 429's Retry-After. */
  readonly retryAfterMs: number | undefined;
  constructor(code: string, message: string, options: { retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "SlackApiError";
    this.code = code;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Errors that will not go away by trying again soon: the token or the channel must be fixed. */
const PERMANENT = new Set([
  "invalid_auth",
  "not_authed",
  "token_revoked",
  "token_expired",
  "account_inactive",
  "missing_scope",
  "no_permission",
  "channel_not_found",
  "not_in_channel",
  "is_archived",
  "invalid_arguments",
]);

export function isPermanentSlackError(err: unknown): boolean {
  return err instanceof SlackApiError && PERMANENT.has(err.code);
}

/** `https://slack.com/api` → `https://slack.com/api/`; throws on anything that is not an http(s) URL. */
export function normaliseApiUrl(value: string | undefined): string {
  const url = (value ?? "").trim() || DEFAULT_SLACK_API_URL;
  if (!/^https?:\/\/\S+$/.test(url)) throw new Error(`Slack API URL "${url}" is not an http(s) URL`);
  return url.endsWith("/") ? url : `${url}/`;
}

export interface SlackTarget {
  apiUrl: string;
  token: string;
}

function retryAfterOf(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

/** Calls one Web API method; resolves with the answer when `ok:true`, throws a SlackApiError otherwise. */
export async function callSlack(
  target: SlackTarget,
  method: string,
  args: Record<string, string | number | undefined>,
  signal?: AbortSignal,
): Promise<Record<string, unknown>> {
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(args)) if (value !== undefined) form.set(key, String(value));
  let res: Response;
  try {
    res = await fetch(`${target.apiUrl}${method}`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${target.token}`,
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
      },
      body: form.toString(),
      signal,
    });
  } catch (err) {
    throw new SlackApiError("network", `${method}: ${(err as Error).message}`, { cause: err });
  }
  return answerOf(method, res);
}

async function answerOf(method: string, res: Response): Promise<Record<string, unknown>> {
  const retryAfterMs = retryAfterOf(res.headers.get("retry-after"));
  if (res.status === 429) {
    await res.text().catch(() => "");
    throw new SlackApiError("ratelimited", `${method}: rate limited`, { retryAfterMs: retryAfterMs ?? 30_000 });
  }
  const text = await res.text().catch(() => "");
  if (!res.ok) throw new SlackApiError(`http_${res.status}`, `${method}: HTTP ${res.status}`, { retryAfterMs });
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new SlackApiError("bad_response", `${method}: not a JSON answer`);
  }
  const answer = body as Record<string, unknown>;
  if (answer.ok !== true) {
    const code = typeof answer.error === "string" ? answer.error : "unknown_error";
    throw new SlackApiError(code, `${method}: ${code}`, { retryAfterMs: code === "ratelimited" ? retryAfterMs ?? 30_000 : undefined });
  }
  return answer;
}

export interface SlackPost {
  channel: string;
  text: string;
  image?: Buffer;
  filename?: string;
}

/** Posts text, or an image with the text as its comment (files.uploadV2's three steps). */
export async function postToSlack(target: SlackTarget, post: SlackPost, signal?: AbortSignal): Promise<void> {
  if (!post.image) {
    await callSlack(target, "chat.postMessage", { channel: post.channel, text: post.text }, signal);
    return;
  }
  const filename = post.filename ?? "snapshot.jpg";
  const ticket = await callSlack(target, "files.getUploadURLExternal", { filename, length: post.image.length }, signal);
  const uploadUrl = ticket.upload_url;
  const fileId = ticket.file_id;
  if (typeof uploadUrl !== "string" || typeof fileId !== "string") {
    throw new SlackApiError("bad_response", "files.getUploadURLExternal: no upload_url or file_id");
  }
  let res: Response;
  try {
    res = await fetch(uploadUrl, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array(post.image),
      signal,
    });
  } catch (err) {
    throw new SlackApiError("network", `upload: ${(err as Error).message}`, { cause: err });
  }
  await res.arrayBuffer().catch(() => undefined);
  if (!res.ok) throw new SlackApiError(`http_${res.status}`, `upload: HTTP ${res.status}`, { retryAfterMs: retryAfterOf(res.headers.get("retry-after")) });
  await callSlack(
    target,
    "files.completeUploadExternal",
    { files: JSON.stringify([{ id: fileId, title: filename }]), channel_id: post.channel, initial_comment: post.text || undefined },
    signal,
  );
}

/** What a `slack-app` config node offers the Slack nodes (RED.nodes.getNode(config.app)). */
export interface SlackAppSettings extends SlackTarget {
  signingSecret: string;
  allowedUsers: string[];
  channel: string;
}

export interface SlackAppNode {
  slack: SlackAppSettings;
  /** A configuration error, or null. */
  problem: string | null;
}
