// The `slack-command` node: Slack slash commands, by Socket Mode or by HTTP, as its slack-app says. It
// understands "open the door" / "open" (output 1, for a door-opener; only Slack users on the slack-app's list) and
// "take a picture" / "picture" (output 2, for a camera); anything else gets a short help. Every answer is an
// ephemeral reply in Slack: the HTTP response, or the Socket Mode envelope's ack; the outcome (the door's result,
// the picture) comes back later through a slack-notify (msg.slack.response_url travels with the message).
//
// HTTP: a POST endpoint on Node-RED's httpNode (default /slack/command) checks Slack's signature over the raw body
// (5-minute window), and takes each signed request once: the same request again (a replay) is refused. Socket Mode: the slack-app owns the WebSocket and hands this node the commands; this node
// shows whether it is connected. Refused requests are logged and recorded: a bad signature in the dead-letter
// record, a replay there and in the audit record (`audit.jsonl`), a user not allowed to open the door in the door
// audit (`door-audit.jsonl`).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { NodeAPI, NodeDef } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import type { Clock } from "../lib/clock";
import { DoorAudit } from "../lib/door-audit";
import { given } from "../lib/node-red/config-value";
import { servicesOf } from "../lib/services";
import { showStatus } from "../lib/node-red/status";
import type { SlackAppNode, SlackCommandReply, SlackCommandUser, SlackSocketState } from "../lib/slack/api";
import { checkSlackSignature, intentOf, parseSlashCommand, slashCommandOf, type SlashCommand } from "../lib/slack/request";

export interface SlackCommandDef extends NodeDef {
  app: string;
  path?: string;
  device?: string;
}

export const DEFAULT_SLACK_COMMAND_PATH = "/slack/command";
/** A slash command is a small form: anything bigger is not Slack. */
const MAX_BODY = 64 * 1024;

export function normaliseCommandPath(value: string | undefined): string {
  const p = (given(value) ?? DEFAULT_SLACK_COMMAND_PATH).trim();
  const withSlash = p.startsWith("/") ? p : `/${p}`;
  if (!/^\/[A-Za-z0-9._~\/-]*$/.test(withSlash)) throw new Error(`"${p}" is not a plain URL path`);
  return withSlash;
}

type Req = IncomingMessage & { body?: unknown };
type Res = ServerResponse;

/** The raw request body: read from the stream, or the Buffer a raw parser left in req.body. */
function rawBodyOf(req: Req): Promise<Buffer> {
  if (Buffer.isBuffer(req.body)) return Promise.resolve(req.body);
  if (req.readableEnded || (req as { _body?: boolean })._body) {
    return Promise.reject(new Error("the request body was already parsed: the raw body is gone"));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error("request body too large"));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function reply(res: Res, status: number, body: unknown): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "content-type": typeof body === "string" ? "text/plain; charset=utf-8" : "application/json; charset=utf-8" });
  res.end(text);
}

function header(req: Req, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function defineSlackCommand(RED: NodeAPI) {
  return class SlackCommand extends Node {
    private readonly clock: Clock;

    constructor(config: SlackCommandDef) {
      super(RED);
      this.createNode(config);
      this.clock = servicesOf(RED).clock;
      const app = RED.nodes.getNode(config.app) as unknown as SlackAppNode | null;
      if (!app || !app.slack) {
        showStatus(this, "error", RED._("slack-command.errors.no-app"));
        this.error(RED._("slack-command.errors.no-app"));
        return;
      }
      if (app.problem) {
        showStatus(this, "error", app.problem);
        return;
      }
      const device = given(config.device) ?? "door";
      if (app.slack.mode === "socket") {
        this.useSocket(app, device);
        return;
      }
      let path: string;
      try {
        path = normaliseCommandPath(config.path);
      } catch (err) {
        showStatus(this, "error", (err as Error).message);
        this.error((err as Error).message);
        return;
      }
      if (!app.slack.signingSecret) {
        showStatus(this, "error", RED._("slack-command.errors.no-secret"));
        this.error(RED._("slack-command.errors.no-secret"));
      }
      const handler = (req: Req, res: Res) => {
        this.handle(app, device, req, res).catch((err: Error) => {
          this.error(RED._("slack-command.errors.failed", { error: err.message }));
          if (!res.headersSent) reply(res, 500, "error");
        });
      };
      RED.httpNode.post(path, handler as never);
      showStatus(this, "ok", RED._("slack-command.status.listening", { path }));

      this.on("close", (done: () => void) => {
        const router = (RED.httpNode as unknown as { _router?: { stack: { route?: { path: string; methods: Record<string, boolean>; stack: { handle: unknown }[] } }[] } })._router;
        if (router) {
          router.stack = router.stack.filter(
            (layer) => !(layer.route && layer.route.path === path && layer.route.methods.post && layer.route.stack.some((s) => s.handle === handler)),
          );
        }
        done();
      });
    }

    private async handle(app: SlackAppNode, device: string, req: Req, res: Res): Promise<void> {
      let raw: Buffer;
      try {
        raw = await rawBodyOf(req);
      } catch (err) {
        this.refuse(RED._("slack-command.errors.body", { error: (err as Error).message }), undefined);
        reply(res, 400, "bad request");
        return;
      }
      const check = checkSlackSignature(
        app.slack.signingSecret,
        header(req, "x-slack-request-timestamp"),
        header(req, "x-slack-signature"),
        raw,
        this.clock.now(),
      );
      if (!check.ok) {
        this.refuse(`${RED._("slack-command.errors.signature")}: ${check.reason}`, raw);
        reply(res, 401, "invalid request signature");
        return;
      }
      // checked above: both headers are there and well formed
      const signature = header(req, "x-slack-signature")!;
      const verdict = app.replays.accept(signature, Number(header(req, "x-slack-request-timestamp")) * 1000);
      if (verdict !== "first") {
        const why = RED._(`slack-command.errors.${verdict}`);
        this.refuse(why, raw);
        const command = parseSlashCommand(raw);
        servicesOf(RED).audit.record({
          event: verdict === "replayed" ? "slack.replayed" : "slack.replay-cache-full",
          via: "slack",
          who: req.socket.remoteAddress ?? "unknown",
          reason: why,
          node: this.id,
          slackUser: command.userId,
          text: command.text.slice(0, 100),
        });
        reply(res, verdict === "replayed" ? 401 : 503, { error: why });
        return;
      }
      reply(res, 200, this.answer(app, device, parseSlashCommand(raw)));
    }

    /** Socket Mode: the slack-app hands over the commands (one slack-command per app). */
    private useSocket(app: SlackAppNode, device: string): void {
      const user: SlackCommandUser = {
        answer: (fields) => this.answer(app, device, slashCommandOf(fields)),
        socketState: (state) => this.showSocket(state),
      };
      if (!app.register(user)) {
        showStatus(this, "warn", RED._("slack-command.status.taken"));
        this.warn(RED._("slack-command.errors.taken"));
        return;
      }
      this.on("close", (done: () => void) => {
        app.deregister(user);
        done();
      });
    }

    private showSocket(state: SlackSocketState): void {
      if (state.state === "connected") showStatus(this, "ok", RED._("slack-command.status.connected"));
      else if (state.state === "connecting") showStatus(this, "busy", RED._("slack-command.status.connecting"));
      else showStatus(this, "warn", RED._("slack-command.status.disconnected", { reason: state.reason }));
    }

    /** One command, however it came: the intent, the allow list, the audit, the outputs, and the reply. */
    private answer(app: SlackAppNode, device: string, command: SlashCommand): SlackCommandReply {
      const who = command.userName ? `${command.userName} (${command.userId})` : command.userId;
      const intent = intentOf(command.text);
      if (intent === "open-door") {
        if (!command.userId || !app.slack.allowedUsers.includes(command.userId)) {
          this.auditRefusal(device, command);
          this.warn(RED._("slack-command.log.refused", { user: who }));
          showStatus(this, "warn", RED._("slack-command.status.refused", { user: who }));
          return { response_type: "ephemeral", text: RED._("slack-command.reply.refused") };
        }
        this.send([{ payload: { by: command.userId, via: "slack" }, slack: slackOf(command) }, null]);
        showStatus(this, "ok", RED._("slack-command.status.opened", { user: who }));
        return { response_type: "ephemeral", text: RED._("slack-command.reply.opening") };
      }
      if (intent === "take-picture") {
        this.send([null, { payload: this.clock.now(), by: command.userId, via: "slack", slack: slackOf(command) }]);
        showStatus(this, "ok", RED._("slack-command.status.picture", { user: who }));
        return { response_type: "ephemeral", text: RED._("slack-command.reply.picture") };
      }
      return { response_type: "ephemeral", text: RED._("slack-command.reply.help") };
    }

    /** A request that is not Slack's: logged and kept in the dead-letter record, nothing sent on. */
    private refuse(why: string, raw: Buffer | undefined): void {
      this.warn(why);
      showStatus(this, "warn", why);
      try {
        servicesOf(RED).deadLetters.append(
          { node: this.id, type: this.type, error: why, ...(raw ? { payload: raw.toString("utf8").slice(0, 4096) } : {}) },
          new Date(this.clock.now()),
        );
      } catch (err) {
        this.warn(`could not write the dead-letter record: ${(err as Error).message}`);
      }
    }

    private auditRefusal(device: string, command: SlashCommand): void {
      const at = new Date(this.clock.now()).toISOString();
      try {
        new DoorAudit(servicesOf(RED).dataDir).append({
          at,
          node: this.id,
          device,
          command: "open-door",
          id: null,
          by: command.userId || command.userName || null,
          via: "slack",
          result: "refused",
          reason: "not-allowed",
          pulseMs: 0,
          requestedAt: at,
        });
      } catch (err) {
        this.error(RED._("slack-command.errors.audit", { error: (err as Error).message }));
      }
    }
  };
}

function slackOf(c: SlashCommand) {
  return { user_id: c.userId, user_name: c.userName, channel_id: c.channelId, response_url: c.responseUrl, text: c.text };
}

export default function register(RED: NodeAPI): void {
  defineSlackCommand(RED).registerType(RED, "slack-command");
}
