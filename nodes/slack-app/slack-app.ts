// The `slack-app` config node: one Slack app (bot token, signing secret and app-level token as Node-RED
// credentials, never in the flow file), the Web API base URL (a test's fake or https://slack.com/api/), the Slack
// user ids allowed to open the door, the default channel, and how slash commands arrive: `http` (a slack-command
// node's URL, signed requests) or `socket` (Socket Mode: this node owns the one WebSocket to Slack, connected
// while the node runs, and hands each slash command to the slack-command node registered with it, whose answer
// goes back in the envelope's ack; the connection's state shows on that node).
import type { NodeAPI, NodeDef } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { given } from "../lib/node-red/config-value";
import { servicesOf } from "../lib/services";
import {
  DEFAULT_SLACK_API_URL,
  normaliseApiUrl,
  type SlackAppMode,
  type SlackAppNode,
  type SlackAppSettings,
  type SlackCommandReply,
  type SlackCommandUser,
  type SlackSocketState,
} from "../lib/slack/api";
import { SlackReplayCache } from "../lib/slack/replay-cache";
import { parseUserIds } from "../lib/slack/request";
import { SlackSocket } from "../lib/slack/socket";

export interface SlackAppDef extends NodeDef {
  slackApiUrl?: string;
  allowedUsers?: string;
  channel?: string;
  /** "http" (default) or "socket". */
  mode?: string;
}

export interface SlackAppCredentials {
  botToken?: string;
  signingSecret?: string;
  appToken?: string;
}

function modeOf(value: string | undefined): SlackAppMode {
  const mode = (given(value) ?? "http").toLowerCase();
  if (mode !== "http" && mode !== "socket") throw new Error(`Slack mode "${mode}" is not http or socket`);
  return mode;
}

export function normaliseSlackApp(config: SlackAppDef, credentials: SlackAppCredentials): SlackAppSettings {
  const settings: SlackAppSettings = {
    mode: modeOf(config.mode),
    apiUrl: normaliseApiUrl(given(config.slackApiUrl)),
    token: given(credentials.botToken) ?? "",
    signingSecret: given(credentials.signingSecret) ?? "",
    appToken: given(credentials.appToken) ?? "",
    allowedUsers: parseUserIds(given(config.allowedUsers)),
    channel: given(config.channel) ?? "",
  };
  if (settings.mode === "socket" && !settings.appToken) throw new Error("Socket Mode needs the app-level token (xapp-…)");
  return settings;
}

function defineSlackApp(RED: NodeAPI) {
  return class SlackApp extends Node implements SlackAppNode {
    readonly slack: SlackAppSettings;
    readonly problem: string | null = null;
    readonly replays: SlackReplayCache;
    private user: SlackCommandUser | null = null;
    private socket: SlackSocket | null = null;
    private socketState: SlackSocketState = { state: "connecting" };

    constructor(config: SlackAppDef) {
      super(RED);
      this.createNode(config);
      const clock = servicesOf(RED).clock;
      this.replays = new SlackReplayCache(() => clock.now());
      const credentials = (this as unknown as { credentials?: SlackAppCredentials }).credentials ?? {};
      let s: SlackAppSettings;
      try {
        s = normaliseSlackApp(config, credentials);
      } catch (err) {
        this.problem = (err as Error).message;
        this.error(this.problem);
        s = normaliseSlackApp({ ...config, slackApiUrl: DEFAULT_SLACK_API_URL, mode: "http" }, credentials);
      }
      this.slack = s;
      if (s.mode === "socket" && !this.problem) this.startSocket(s);
      this.on("close", (done: () => void) => {
        const socket = this.socket;
        this.socket = null;
        (socket ? socket.close() : Promise.resolve()).then(() => done(), () => done());
      });
    }

    private startSocket(s: SlackAppSettings): void {
      const runtime = servicesOf(RED).tuning;
      this.socket = new SlackSocket({
        appToken: s.appToken,
        apiUrl: s.apiUrl,
        clock: servicesOf(RED).clock,
        backoffMaxMs: runtime.slackBackoffMaxMs ?? 60_000,
        log: (text) => this.debug(text),
        onSlashCommand: (fields) => this.answer(fields),
        onState: (state) => {
          if (state.state === "disconnected" && this.socketState.state === "connected") {
            this.log(RED._("slack-app.log.disconnected", { reason: state.reason }));
          }
          if (state.state === "connected") this.log(RED._("slack-app.log.connected"));
          this.socketState = state;
          this.user?.socketState(state);
        },
      });
      this.socket.start();
    }

    private answer(fields: Record<string, unknown>): SlackCommandReply {
      if (!this.user) return { response_type: "ephemeral", text: RED._("slack-app.reply.no-command") };
      try {
        return this.user.answer(fields);
      } catch (err) {
        this.error(RED._("slack-app.errors.command", { error: (err as Error).message }));
        return { response_type: "ephemeral", text: RED._("slack-app.reply.failed") };
      }
    }

    register(user: SlackCommandUser): boolean {
      if (this.user && this.user !== user) return false;
      this.user = user;
      user.socketState(this.socketState);
      return true;
    }

    deregister(user: SlackCommandUser): void {
      if (this.user === user) this.user = null;
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineSlackApp(RED).registerType(RED, "slack-app", {
    credentials: { botToken: { type: "password" }, signingSecret: { type: "password" }, appToken: { type: "password" } },
  });
}
