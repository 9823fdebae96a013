// The few Slack Web API calls PiFog makes, through @slack/web-api's WebClient against a configurable base URL
// (the real https://slack.com/api/ or a test's fake): chat.postMessage, and filesUploadV2 for an image
// (files.getUploadURLExternal → the bytes to the upload_url → files.completeUploadExternal). The client's own
// retries are off and a rate limit is rejected at once: slack-notify's durable outbox does the retrying, and it
// needs to know what went wrong, so every failure becomes a SlackApiError with a plain code.
import type { Logger, LogLevel, WebClient, WebClientOptions } from "@slack/web-api";
import type { SlackReplayCache } from "./replay-cache";

type WebApi = typeof import("@slack/web-api");
/** @slack/web-api (with axios) costs a Pi ~20 MiB: loaded on the first Slack call, not when the runtime starts
 * (Node's module cache keeps it after). */
export function webApi(): WebApi {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("@slack/web-api") as WebApi;
}

export const DEFAULT_SLACK_API_URL = "https://slack.com/api/";
/** One HTTP request to Slack may take this long (an image over a slow uplink included). */
const REQUEST_TIMEOUT_MS = 60_000;
/** A 429 without a usable Retry-After waits this long. */
const DEFAULT_RATE_LIMIT_WAIT_MS = 30_000;

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

/** The WebClient's own logging says what our errors say again: it goes to `log` (a node's debug log) or nowhere. */
export function quietLogger(log?: (text: string) => void): Logger {
  let level = "info" as LogLevel;
  const write = (...parts: unknown[]) => log?.(parts.map(String).join(" "));
  return {
    debug: () => undefined,
    info: () => undefined,
    warn: write,
    error: write,
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

/** The WebClient settings every PiFog call uses (also the Socket Mode client's apps.connections.open). */
export function slackClientOptions(apiUrl: string, signal?: AbortSignal): WebClientOptions {
  return {
    slackApiUrl: apiUrl,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    allowAbsoluteUrls: false,
    timeout: REQUEST_TIMEOUT_MS,
    logger: quietLogger(),
    ...(signal
      ? {
          requestInterceptor: (config) => {
            config.signal = signal;
            return config;
          },
        }
      : {}),
  };
}

/** A client for one call (or a few): cheap to make, and the abort signal is its own. */
export function slackClient(target: SlackTarget, signal?: AbortSignal): WebClient {
  return new (webApi().WebClient)(target.token, slackClientOptions(target.apiUrl, signal));
}

function retryAfterOf(header: unknown): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value === null || value === "") return undefined;
  const seconds = Number(value);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

/** Any failure of a WebClient call as a SlackApiError (what the outbox and the status need). */
export function toSlackApiError(err: unknown, what: string): SlackApiError {
  if (err instanceof SlackApiError) return err;
  const e = (err ?? {}) as {
    code?: unknown;
    message?: string;
    data?: { error?: unknown; response_metadata?: { retryAfter?: number } };
    retryAfter?: number;
    statusCode?: number;
    headers?: Record<string, unknown>;
    original?: { message?: string };
  };
  const message = e.message ?? String(err);
  const { ErrorCode } = webApi();
  switch (e.code) {
    case ErrorCode.PlatformError: {
      const code = typeof e.data?.error === "string" && /^[a-z0-9_]{1,64}$/.test(e.data.error) ? e.data.error : "bad_response";
      const retryAfterMs = code === "ratelimited" ? retryAfterOf(e.data?.response_metadata?.retryAfter) ?? DEFAULT_RATE_LIMIT_WAIT_MS : undefined;
      return new SlackApiError(code, `${what}: ${code}`, { retryAfterMs, cause: err });
    }
    case ErrorCode.RateLimitedError:
      return new SlackApiError("ratelimited", `${what}: rate limited`, {
        retryAfterMs: retryAfterOf(e.retryAfter) ?? DEFAULT_RATE_LIMIT_WAIT_MS,
        cause: err,
      });
    case ErrorCode.HTTPError:
      return new SlackApiError(`http_${e.statusCode ?? 0}`, `${what}: HTTP ${e.statusCode ?? "?"}`, {
        retryAfterMs: retryAfterOf(e.headers?.["retry-after"]),
        cause: err,
      });
    case ErrorCode.RequestError:
      return new SlackApiError("network", `${what}: ${e.original?.message || message}`, { cause: err });
    case ErrorCode.FileUploadInvalidArgumentsError:
    case ErrorCode.FileUploadReadFileDataError:
      return new SlackApiError("invalid_arguments", `${what}: ${message}`, { cause: err });
    default:
      // a 429 whose Retry-After the client could not read comes as a plain Error
      if (/Retry header did not contain/.test(message)) {
        return new SlackApiError("ratelimited", `${what}: rate limited`, { retryAfterMs: DEFAULT_RATE_LIMIT_WAIT_MS, cause: err });
      }
      return new SlackApiError("network", `${what}: ${message}`, { cause: err });
  }
}

/** Calls one Web API method; resolves with the answer when `ok:true`, throws a SlackApiError otherwise. */
export async function callSlack(
  target: SlackTarget,
  method: string,
  args: Record<string, string | number | undefined>,
  signal?: AbortSignal,
): Promise<Record<string, unknown>> {
  try {
    return (await slackClient(target, signal).apiCall(method, args)) as unknown as Record<string, unknown>;
  } catch (err) {
    throw toSlackApiError(err, method);
  }
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
  try {
    await slackClient(target, signal).filesUploadV2({
      channel_id: post.channel,
      file: post.image,
      filename,
      title: filename,
      ...(post.text ? { initial_comment: post.text } : {}),
    });
  } catch (err) {
    throw toSlackApiError(err, "files.uploadV2");
  }
}

export type SlackAppMode = "http" | "socket";

/** What a `slack-app` config node offers the Slack nodes (RED.nodes.getNode(config.app)). */
export interface SlackAppSettings extends SlackTarget {
  mode: SlackAppMode;
  signingSecret: string;
  /** Socket Mode's app-level token (`xapp-…`). */
  appToken: string;
  allowedUsers: string[];
  channel: string;
}

/** The ephemeral (or in-channel) answer to a slash command: an HTTP response body or a Socket Mode ack. */
export interface SlackCommandReply {
  response_type: "ephemeral" | "in_channel";
  text: string;
}

/** The Socket Mode connection as the nodes using it show it. */
export type SlackSocketState = { state: "connecting" } | { state: "connected" } | { state: "disconnected"; reason: string };

/** A slack-command node taking the app's Socket Mode slash commands. */
export interface SlackCommandUser {
  /** Answers one slash command (its fields as Slack sent them); the reply goes back in the ack. */
  answer(fields: Record<string, unknown>): SlackCommandReply;
  /** The connection changed. */
  socketState(state: SlackSocketState): void;
}

export interface SlackAppNode {
  slack: SlackAppSettings;
  /** A configuration error, or null. */
  problem: string | null;
  /** The signed HTTP requests accepted within the window, shared by every slack-command of the app (one secret). */
  replays: SlackReplayCache;
  /** Socket mode: `user` answers the slash commands; false when another node already does. */
  register(user: SlackCommandUser): boolean;
  deregister(user: SlackCommandUser): void;
}
