// The `slack-app` config node: one Slack app (bot token and signing secret as Node-RED credentials, never in
// the flow file), the Web API base URL (a test's fake or https://slack.com/api/), the Slack user ids allowed to
// open the door, and the default channel. HTTP only for now (no Socket Mode).
import type { NodeAPI, NodeDef } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { given } from "../lib/node-red/settings";
import { DEFAULT_SLACK_API_URL, normaliseApiUrl, type SlackAppNode, type SlackAppSettings } from "../lib/slack/api";
import { parseUserIds } from "../lib/slack/request";

export interface SlackAppDef extends NodeDef {
  slackApiUrl?: string;
  allowedUsers?: string;
  channel?: string;
}

export interface SlackAppCredentials {
  botToken?: string;
  signingSecret?: string;
}

export function normaliseSlackApp(config: SlackAppDef, credentials: SlackAppCredentials): SlackAppSettings {
  return {
    apiUrl: normaliseApiUrl(given(config.slackApiUrl)),
    token: given(credentials.botToken) ?? "",
    signingSecret: given(credentials.signingSecret) ?? "",
    allowedUsers: parseUserIds(given(config.allowedUsers)),
    channel: given(config.channel) ?? "",
  };
}

function defineSlackApp(RED: NodeAPI) {
  return class SlackApp extends Node implements SlackAppNode {
    readonly slack: SlackAppSettings;
    readonly problem: string | null = null;

    constructor(config: SlackAppDef) {
      super(RED);
      this.createNode(config);
      const credentials = (this as unknown as { credentials?: SlackAppCredentials }).credentials ?? {};
      let s: SlackAppSettings;
      try {
        s = normaliseSlackApp(config, credentials);
      } catch (err) {
        this.problem = (err as Error).message;
        this.error(this.problem);
        s = normaliseSlackApp({ ...config, slackApiUrl: DEFAULT_SLACK_API_URL }, credentials);
      }
      this.slack = s;
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineSlackApp(RED).registerType(RED, "slack-app", {
    credentials: { botToken: { type: "password" }, signingSecret: { type: "password" } },
  });
}
