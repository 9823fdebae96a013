import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { NodeAPI } from "node-red";
import slackApp from "../../nodes/slack-app/slack-app";
import slackCommand from "../../nodes/slack-command/slack-command";
import slackNotify from "../../nodes/slack-notify/slack-notify";
import type { DoorOpenResult } from "../../nodes/lib/contract";
import { DeadLetterFile } from "../../nodes/lib/dead-letter";
import { DoorAudit } from "../../nodes/lib/door-audit";
import { Audit } from "../../nodes/lib/audit/audit";
import { SlackReplayCache } from "../../nodes/lib/slack/replay-cache";
import { doorReplyText } from "../../nodes/lib/slack/reply";
import { slackSignature } from "../../nodes/lib/slack/request";
import { advanceUntil } from "../support/clock-pump";
import { FakeClock } from "../support/fake-clock";
import { FakeSlack } from "../support/fake-slack";
import { helper } from "../support/node-harness";
import { until } from "../support/until";
import { testServices } from "../support/services";

/** Node-RED hands a sent message on one event-loop turn later; slack-command sends before it answers, so once the
 * answer is in and that turn has passed, every output of the request has reached the helper nodes. */
const outputsDelivered = () => new Promise((resolve) => setImmediate(resolve));
const TOKEN = "xoxb-test-token";
const SECRET = "8f742231b10e8888abcd99yyyzzz85a5";
type Emitter = NodeJS.EventEmitter & { receive(msg: unknown): void };
type Status = { fill?: string; text?: string };
const APP_TOKEN = "xapp-test-token";

/** Every status a node showed so far (the helper spies on Node.prototype.status). */
function statusesOf(id: string): Status[] {
  const node = helper.getNode(id) as unknown as { status: { getCalls(): { thisValue: unknown; args: unknown[] }[] } };
  return node.status
    .getCalls()
    .filter((c) => c.thisValue === node)
    .map((c) => c.args[0] as Status);
}

/** A door-opener's answer to the message it got (it passes the message on with payload = the result). */
function doorResult(msg: object, result: Partial<DoorOpenResult>): object {
  const payload: DoorOpenResult = {
    device: "frontdoor",
    command: "open-door",
    id: null,
    by: "U0ANN",
    via: "slack",
    result: "opened",
    pulseMs: 5000,
    requestedAt: new Date().toISOString(),
    ...result,
  };
  return { ...msg, payload };
}

/** RED._ as the runtime does it, over a node's en-US messages (the test helper's RED._ returns the key). */
function english(node: string): (key: string, vars?: Record<string, string | number>) => string {
  const file = path.join(__dirname, "..", "..", "nodes", node, "locales", "en-US", `${node}.json`);
  const messages = (JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>)[node];
  return (key, vars = {}) => {
    const value = key.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], messages);
    if (typeof value !== "string") return `${node}.${key}`;
    return value.replace(/__(\w+)__/g, (_, name: string) => String(vars[name] ?? ""));
  };
}


describe("slack nodes (against a fake Slack)", function () {
  let slack: FakeSlack;
  let dataDir: string;
  let httpNode: http.RequestListener | null = null;
  let server: http.Server | null = null;
  let base = "";

  // the helper's httpNode is an express app it does not serve: serve it here
  const command = (RED: NodeAPI) => {
    httpNode = RED.httpNode as unknown as http.RequestListener;
    slackCommand(RED);
  };
  const nodes = [slackApp, slackNotify, command];

  function flow(extra: Record<string, unknown> = {}) {
    return [
      { id: "app", type: "slack-app", slackApiUrl: slack.apiUrl, channel: "C0DOOR", allowedUsers: "U0ANN, U0BOB" },
      { id: "notify", type: "slack-notify", z: "tab", app: "app" },
      { id: "cmd", type: "slack-command", z: "tab", app: "app", path: "/slack/command", device: "frontdoor", wires: [["door"], ["camera"]], ...extra },
      { id: "door", type: "helper", z: "tab" },
      { id: "camera", type: "helper", z: "tab" },
      { id: "tab", type: "tab" },
    ];
  }
  const credentials = (token = TOKEN) => ({ app: { botToken: token, signingSecret: SECRET } });

  async function load(token = TOKEN) {
    await helper.load(nodes as never, flow() as never, credentials(token));
    assert.ok(httpNode, "slack-command registered on httpNode");
    server = http.createServer(httpNode);
    await new Promise<void>((resolve) => (server as http.Server).listen(0, "127.0.0.1", () => resolve()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  beforeEach(async function () {
    slack = await FakeSlack.start(TOKEN);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-slack-"));
    helper.settings({ pifogServices: testServices({ dataDir, tuning: { slackBackoffMaxMs: 300, slackPermanentRetryMs: 300 } }) });
  });

  afterEach(async function () {
    await helper.unload();
    if (server) await new Promise<void>((resolve) => (server as http.Server).close(() => resolve()));
    server = null;
    await slack.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  type Signed = { body: string; headers: Record<string, string> };

  /** A slash command as Slack sends it, signed (unless told otherwise). */
  function signed(fields: Record<string, string>, options: { secret?: string; timestamp?: number } = {}): Signed {
    const body = new URLSearchParams({
      token: "legacy",
      team_id: "T1",
      channel_id: "C0DOOR",
      user_name: "someone",
      command: "/door",
      response_url: "https://hooks.slack.com/commands/T1/1/x",
      ...fields,
    }).toString();
    const ts = String(options.timestamp ?? Math.floor(Date.now() / 1000));
    const signature = slackSignature(options.secret ?? SECRET, ts, Buffer.from(body));
    return { body, headers: { "content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": ts, "x-slack-signature": signature } };
  }

  /** Sends a request as it is, byte for byte (as a replay would). */
  async function post(request: Signed, urlPath = "/slack/command"): Promise<{ status: number; body: string }> {
    const res = await fetch(`${base}${urlPath}`, { method: "POST", headers: request.headers, body: request.body });
    return { status: res.status, body: await res.text() };
  }

  /** Posts a slash command as Slack does, signed (unless told otherwise). */
  function slash(fields: Record<string, string>, options: { secret?: string; timestamp?: number } = {}): Promise<{ status: number; body: string }> {
    return post(signed(fields, options));
  }

  function outputs() {
    const door: unknown[] = [];
    const camera: unknown[] = [];
    (helper.getNode("door") as unknown as Emitter).on("input", (m: unknown) => door.push(m));
    (helper.getNode("camera") as unknown as Emitter).on("input", (m: unknown) => camera.push(m));
    return { door, camera };
  }

  describe("slack-notify", function () {
    it("posts the text with the image: the bytes reach Slack exactly, by files.uploadV2", async function () {
      await load();
      const image = crypto.randomBytes(30_000);
      image[0] = 0xff;
      image[1] = 0xd8; // a JPEG's start
      (helper.getNode("notify") as unknown as Emitter).receive({ payload: "Someone is at the door", image });
      await until(() => slack.messages.length === 1, "the message");
      const [message] = slack.messages;
      assert.equal(message?.channel, "C0DOOR");
      assert.equal(message?.text, "Someone is at the door");
      assert.ok(message?.file, "a file was shared");
      assert.ok(message.file.bytes.equals(image), "the uploaded bytes are the image");
      assert.deepEqual(
        slack.calls.map((c) => c.method),
        ["files.getUploadURLExternal", "files.completeUploadExternal"],
      );
      assert.ok(slack.calls.every((c) => c.authorized));
    });

    it("posts plain text by chat.postMessage", async function () {
      await load();
      (helper.getNode("notify") as unknown as Emitter).receive({ payload: "hello" });
      await until(() => slack.messages.length === 1, "the message");
      assert.deepEqual(slack.messages, [{ channel: "C0DOOR", text: "hello" }]);
    });

    it("keeps notifications while Slack is down and delivers them, in order, when it is back", async function () {
      // its retries run on the node's clock
      const clock = new FakeClock(Date.now());
      helper.settings({ pifogServices: testServices({ dataDir, clock, tuning: { slackBackoffMaxMs: 300, slackPermanentRetryMs: 300 } }) });
      await load();
      await slack.down();
      const notify = helper.getNode("notify") as unknown as Emitter;
      const queue = () => (notify as unknown as { outbox: { snapshot(): { delivering: boolean; failures: number } } | null }).outbox?.snapshot();
      const pump = { stepMs: 10, busy: () => queue()?.delivering ?? false };
      const image = crypto.randomBytes(5000);
      notify.receive({ payload: "first" });
      notify.receive({ payload: image, text: "second" });
      notify.receive({ payload: "third" });
      await advanceUntil(clock, () => (queue()?.failures ?? 0) >= 3, "three failed attempts", pump);
      assert.equal(slack.messages.length, 0);
      await slack.up();
      await advanceUntil(clock, () => slack.messages.length === 3, "the backlog", pump);
      assert.deepEqual(slack.messages.map((m) => m.text), ["first", "second", "third"]);
      assert.ok(slack.messages[1]?.file?.bytes.equals(image));
    });

    it("a bad token turns the status red and keeps the message; a fixed token delivers it", async function () {
      await load("xoxb-wrong");
      const notify = helper.getNode("notify") as unknown as Emitter & { on(e: "call:status", f: (c: unknown) => void): void };
      const statuses: { fill?: string; text?: string }[] = [];
      notify.on("call:status", (call: unknown) => statuses.push((call as { args: [{ fill?: string; text?: string }] }).args[0]));
      notify.receive({ payload: "hello" });
      await until(() => statuses.some((s) => s.fill === "red" && /invalid_auth/.test(s.text ?? "")), "a red invalid_auth status");
      assert.equal(slack.messages.length, 0);
      await helper.unload();
      if (server) await new Promise<void>((resolve) => (server as http.Server).close(() => resolve()));
      server = null;
      await load(TOKEN); // the same node id: the same queue on disk
      await until(() => slack.messages.length === 1, "the kept message");
      assert.equal(slack.messages[0]?.text, "hello");
    });

    it("waits out a rate limit and then posts", async function () {
      await load();
      slack.rateLimitOnce = 0;
      (helper.getNode("notify") as unknown as Emitter).receive({ payload: "after the limit" });
      await until(() => slack.messages.length === 1, "the message");
      assert.equal(slack.calls.filter((c) => c.method === "chat.postMessage").length, 2);
    });
  });

  describe("slack-command", function () {
    it("opens the door for an allow-listed user: output 1 with who asked", async function () {
      await load();
      const { door, camera } = outputs();
      const res = await slash({ user_id: "U0ANN", user_name: "ann", text: "open the door" });
      assert.equal(res.status, 200);
      const answer = JSON.parse(res.body) as { response_type: string; text: string };
      assert.equal(answer.response_type, "ephemeral");
      assert.match(answer.text, /opening/i); // the helper's RED._ gives the i18n key
      await until(() => door.length === 1, "the door message");
      assert.deepEqual((door[0] as { payload: unknown }).payload, { by: "U0ANN", via: "slack" });
      assert.equal(camera.length, 0);
      const short = await slash({ user_id: "U0BOB", text: "open" });
      assert.equal(short.status, 200);
      await until(() => door.length === 2, "the second door message");
    });

    it("refuses a user who is not allow-listed, says so in Slack, audits it, and sends nothing", async function () {
      await load();
      const { door, camera } = outputs();
      const res = await slash({ user_id: "U0EVE", user_name: "eve", text: "open the door" });
      assert.equal(res.status, 200);
      const answer = JSON.parse(res.body) as { response_type: string; text: string };
      assert.equal(answer.response_type, "ephemeral");
      assert.match(answer.text, /reply\.refused/);
      const audit = new DoorAudit(dataDir).read();
      assert.equal(audit.length, 1);
      assert.equal(audit[0]?.by, "U0EVE");
      assert.equal(audit[0]?.via, "slack");
      assert.equal(audit[0]?.result, "refused");
      assert.equal(audit[0]?.reason, "not-allowed");
      await outputsDelivered();
      assert.equal(door.length + camera.length, 0);
    });

    it("takes a picture: output 2", async function () {
      await load();
      const { door, camera } = outputs();
      const res = await slash({ user_id: "U0EVE", text: "take a picture" });
      assert.equal(res.status, 200);
      assert.match((JSON.parse(res.body) as { text: string }).text, /picture/i);
      await until(() => camera.length === 1, "the camera message");
      const msg = camera[0] as { payload: unknown; by: string; via: string };
      assert.equal(typeof msg.payload, "number");
      assert.equal(msg.by, "U0EVE");
      assert.equal(door.length, 0);
    });

    it("refuses a forged signature with 401 and sends nothing", async function () {
      await load();
      const { door, camera } = outputs();
      const res = await slash({ user_id: "U0ANN", text: "open the door" }, { secret: "not-the-secret" });
      assert.equal(res.status, 401);
      const letters = new DeadLetterFile(dataDir).read();
      assert.equal(letters.length, 1);
      assert.match(letters[0]?.error ?? "", /signature: mismatch/);
      await outputsDelivered();
      assert.equal(door.length + camera.length, 0);
    });

    it("refuses a correctly signed request older than 5 minutes with 401 and sends nothing", async function () {
      await load();
      const { door, camera } = outputs();
      const res = await slash({ user_id: "U0ANN", text: "open the door" }, { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
      assert.equal(res.status, 401);
      assert.match(new DeadLetterFile(dataDir).read()[0]?.error ?? "", /signature: stale/);
      await outputsDelivered();
      assert.equal(door.length + camera.length, 0);
    });

    it("takes a signed request once: the same request again is refused 401, dead-lettered, audited, and opens nothing", async function () {
      await load();
      const { door } = outputs();
      const request = signed({ user_id: "U0ANN", user_name: "ann", text: "open the door" });
      assert.equal((await post(request)).status, 200);
      await until(() => door.length === 1, "the door message");

      const replay = await post(request);
      assert.equal(replay.status, 401);
      assert.match((JSON.parse(replay.body) as { error: string }).error, /replayed/);
      const letters = new DeadLetterFile(dataDir).read();
      assert.equal(letters.length, 1);
      assert.match(letters[0]?.error ?? "", /replayed/);
      assert.match(letters[0]?.payload ?? "", /user_id=U0ANN/);
      const audit = new Audit(dataDir).read();
      assert.deepEqual(
        audit.map((r) => [r.event, r.via, r.who, r.slackUser]),
        [["slack.replayed", "slack", "127.0.0.1", "U0ANN"]],
      );
      assert.equal((await post(request)).status, 401, "and again");
      await outputsDelivered();
      assert.equal(door.length, 1, "one door message for one command");

      // the same words from the same user, signed anew by Slack, are a new command
      const again = await slash({ user_id: "U0ANN", user_name: "ann", text: "open the door" }, { timestamp: Math.floor(Date.now() / 1000) + 1 });
      assert.equal(again.status, 200);
      await until(() => door.length === 2, "the second door message");
    });

    it("refuses a replay sent to another slack-command of the same app (one signing secret, one memory)", async function () {
      const twoCommands = [
        ...flow(),
        { id: "cmd2", type: "slack-command", z: "tab", app: "app", path: "/slack/other", device: "backdoor", wires: [["door"], ["camera"]] },
      ];
      await helper.load(nodes as never, twoCommands as never, credentials());
      server = http.createServer(httpNode!);
      await new Promise<void>((resolve) => (server as http.Server).listen(0, "127.0.0.1", () => resolve()));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const { door } = outputs();
      const request = signed({ user_id: "U0BOB", text: "open" });
      assert.equal((await post(request, "/slack/command")).status, 200);
      assert.equal((await post(request, "/slack/other")).status, 401);
      assert.deepEqual(new Audit(dataDir).read().map((r) => [r.event, r.node]), [["slack.replayed", "cmd2"]]);
      await outputsDelivered();
      assert.equal(door.length, 1);
    });

    it("answers anything else with help", async function () {
      await load();
      const res = await slash({ user_id: "U0ANN", text: "dance" });
      assert.equal(res.status, 200);
      assert.match((JSON.parse(res.body) as { text: string }).text, /reply\.help/);
    });
  });

  describe("Socket Mode", function () {
    function socketFlow() {
      return [
        { id: "app", type: "slack-app", mode: "socket", slackApiUrl: slack.apiUrl, channel: "C0DOOR", allowedUsers: "U0ANN, U0BOB" },
        { id: "notify", type: "slack-notify", z: "tab", app: "app" },
        { id: "cmd", type: "slack-command", z: "tab", app: "app", device: "frontdoor", wires: [["door"], ["camera"]] },
        { id: "door", type: "helper", z: "tab" },
        { id: "camera", type: "helper", z: "tab" },
        { id: "tab", type: "tab" },
      ];
    }

    async function loadSocket(appToken = APP_TOKEN) {
      await helper.load(nodes as never, socketFlow() as never, { app: { botToken: TOKEN, appToken } });
      await slack.socket.connected();
    }

    it("connects with the app-level token (no public URL) and shows it on the command node", async function () {
      await loadSocket();
      const opens = slack.calls.filter((c) => c.method === "apps.connections.open");
      assert.equal(opens.length, 1);
      assert.ok(opens[0]?.authorized, "apps.connections.open got the xapp- token");
      await until(() => statusesOf("cmd").some((s) => s.fill === "green" && /status\.connected/.test(s.text ?? "")), "a connected status");
    });

    it("opens the door for an allow-listed user: output 1, and the ack carries the ephemeral reply", async function () {
      await loadSocket();
      const { door, camera } = outputs();
      const ack = await slack.socket.slashCommand({ user_id: "U0ANN", user_name: "ann", text: "open the door" });
      assert.equal(ack.payload?.response_type, "ephemeral");
      assert.match(ack.payload?.text ?? "", /reply\.opening/);
      await until(() => door.length === 1, "the door message");
      const msg = door[0] as { payload: unknown; slack: { user_id: string; response_url: string } };
      assert.deepEqual(msg.payload, { by: "U0ANN", via: "slack" });
      assert.equal(msg.slack.user_id, "U0ANN");
      assert.equal(msg.slack.response_url, "https://hooks.slack.com/commands/T1/1/x");
      assert.equal(camera.length, 0);
    });

    it("refuses a user who is not allow-listed: the refusal in the ack, audited, nothing sent", async function () {
      await loadSocket();
      const { door, camera } = outputs();
      const ack = await slack.socket.slashCommand({ user_id: "U0EVE", user_name: "eve", text: "open the door" });
      assert.equal(ack.payload?.response_type, "ephemeral");
      assert.match(ack.payload?.text ?? "", /reply\.refused/);
      const audit = new DoorAudit(dataDir).read();
      assert.equal(audit.length, 1);
      assert.equal(audit[0]?.by, "U0EVE");
      assert.equal(audit[0]?.result, "refused");
      assert.equal(audit[0]?.reason, "not-allowed");
      await outputsDelivered();
      assert.equal(door.length + camera.length, 0);
    });

    it("takes a picture: output 2", async function () {
      await loadSocket();
      const { door, camera } = outputs();
      const ack = await slack.socket.slashCommand({ user_id: "U0EVE", text: "take a picture" });
      assert.match(ack.payload?.text ?? "", /reply\.picture/);
      await until(() => camera.length === 1, "the camera message");
      assert.equal((camera[0] as { by: string }).by, "U0EVE");
      assert.equal(door.length, 0);
    });

    it("reconnects when Slack asks (disconnect: refresh_requested) and keeps answering", async function () {
      await loadSocket();
      const { door } = outputs();
      slack.socket.requestRefresh();
      await slack.socket.connected(2);
      assert.equal(slack.calls.filter((c) => c.method === "apps.connections.open").length, 2);
      assert.ok(statusesOf("cmd").some((s) => /status\.disconnected/.test(s.text ?? "")), "the status said disconnected");
      const ack = await slack.socket.slashCommand({ user_id: "U0BOB", text: "open" });
      assert.match(ack.payload?.text ?? "", /reply\.opening/);
      await until(() => door.length === 1, "the door message");
    });

    it("a wrong app token: no connection, the command node says so, and it keeps trying", async function () {
      await helper.load(nodes as never, socketFlow() as never, { app: { botToken: TOKEN, appToken: "xapp-wrong" } });
      await until(() => slack.calls.filter((c) => c.method === "apps.connections.open").length >= 2, "a second attempt");
      assert.ok(slack.calls.every((c) => !c.authorized));
      assert.equal(slack.socket.opened.length, 0);
      const statuses = statusesOf("cmd");
      assert.ok(statuses.some((st) => /status\.disconnected/.test(st.text ?? "")), "the status said disconnected");
      assert.ok(!statuses.some((st) => /status\.connected/.test(st.text ?? "")), "never connected");
    });

    it("comes back by itself after Slack was unreachable", async function () {
      await loadSocket();
      const seen = statusesOf("cmd").length;
      await slack.down(); // the socket drops and apps.connections.open fails (network) for a while
      await until(() => {
        const since = statusesOf("cmd").slice(seen).map((st) => st.text ?? "");
        const attempt = since.findIndex((t) => /status\.connecting/.test(t));
        return attempt >= 0 && since.slice(attempt + 1).some((t) => /status\.disconnected/.test(t));
      }, "a reconnection that failed while Slack was down");
      await slack.up();
      await until(() => slack.socket.current !== null && slack.socket.opened.length >= 2, "a new connection", 10_000);
      const ack = await slack.socket.slashCommand({ user_id: "U0ANN", text: "picture" });
      assert.match(ack.payload?.text ?? "", /reply\.picture/);
    });
  });

  describe("replies to the command (msg.slack.response_url)", function () {
    it("the door's result comes back as a reply to the command that asked", async function () {
      await helper.load(nodes as never, flow().map((n) => (n.id === "app" ? { ...n, mode: "socket" } : n)) as never, {
        app: { botToken: TOKEN, appToken: APP_TOKEN },
      });
      await slack.socket.connected();
      const { door } = outputs();
      await slack.socket.slashCommand({ user_id: "U0ANN", text: "open the door", response_url: slack.responseUrl("c1") });
      await until(() => door.length === 1, "the door message");
      const notify = helper.getNode("notify") as unknown as Emitter;
      notify.receive(doorResult(door[0] as object, { result: "opened", pulseMs: 5000 }));
      await until(() => slack.responses.length === 1, "the reply");
      assert.equal(slack.responses[0]?.id, "c1");
      assert.match(slack.responses[0]?.contentType ?? "", /application\/json/);
      assert.equal(slack.responses[0]?.body.response_type, "ephemeral");
      assert.match(slack.responses[0]?.body.text ?? "", /reply\.opened/);
      notify.receive({ ...doorResult(door[0] as object, { result: "refused", reason: "busy" }), response_type: "in_channel" });
      await until(() => slack.responses.length === 2, "the second reply");
      assert.equal(slack.responses[1]?.body.response_type, "in_channel");
      assert.match(slack.responses[1]?.body.text ?? "", /reply\.refused/);
      assert.equal(slack.messages.length, 0, "a reply, not a channel post");
    });

    it("reads as a person would: Door opened (5 s) / Door not opened: busy", function () {
      const t = english("slack-notify");
      const base = doorResult({}, {}) as { payload: DoorOpenResult };
      assert.equal(doorReplyText({ ...base.payload, result: "opened", pulseMs: 5000 }, t), "Door opened (5 s)");
      assert.equal(doorReplyText({ ...base.payload, result: "refused", reason: "busy" }, t), "Door not opened: busy");
      assert.equal(doorReplyText({ ...base.payload, result: "opened", pulseMs: 2500 }, t), "Door opened (2.5 s)");
    });

    it("does not post to a response_url that is not Slack's", async function () {
      await load();
      (helper.getNode("notify") as unknown as Emitter).receive({ payload: "hi", slack: { response_url: "http://203.0.113.9/steal" } });
      await until(() => new DeadLetterFile(dataDir).read().length === 1, "the failed message");
      assert.match(new DeadLetterFile(dataDir).read()[0]?.error ?? "", /response-url/);
      assert.equal(slack.responses.length + slack.messages.length, 0);
    });
  });
});

describe("slack replay cache", function () {
  const WINDOW = 5 * 60_000;

  it("remembers a signature until its timestamp leaves the 5-minute window, then forgets it", function () {
    let now = 1_000_000;
    const cache = new SlackReplayCache(() => now);
    assert.equal(cache.accept("v0=a", now), "first");
    assert.equal(cache.accept("v0=a", now), "replayed");
    now += WINDOW;
    assert.equal(cache.accept("v0=a", now - WINDOW), "replayed", "still inside the window: still a replay");
    now += 1;
    assert.equal(cache.accept("v0=b", now), "first");
    assert.equal(cache.size, 1, "the expired one is forgotten (the signature check refuses it as stale by now)");
  });

  it("is bounded: full of signatures still in their window, it refuses new ones; as they expire, it takes them again", function () {
    let now = 0;
    const cache = new SlackReplayCache(() => now, 3);
    // out of order timestamps (within the skew): the full sweep finds the expired one even behind a younger one
    assert.equal(cache.accept("v0=1", now + 60_000), "first");
    assert.equal(cache.accept("v0=2", now), "first");
    assert.equal(cache.accept("v0=3", now + 60_000), "first");
    assert.equal(cache.accept("v0=4", now), "full");
    assert.equal(cache.size, 3);
    now = WINDOW + 1;
    assert.equal(cache.accept("v0=4", now), "first", "v0=2 has expired behind v0=1");
    assert.equal(cache.accept("v0=1", now), "replayed", "v0=1 has not");
  });
});
