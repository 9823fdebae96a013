// Slack at the front door, end to end on the all-in-one runtime with its shipped flows: the user sets up the hub's
// Slack nodes in the editor (against a local fake Slack API), then slash commands arrive over HTTP as Slack signs
// them. Forged and stale requests are refused; a user not on the allow list is refused and audited; two "open the
// door" commands at once open it once (the other is refused as busy) and both people get the outcome as a reply;
// "take a picture" with a visitor at the door posts the snapshot to the channel.
import assert from "node:assert/strict";
import { topics } from "../../nodes/lib/contract";
import { DeadLetterFile } from "../../nodes/lib/dead-letter";
import { DoorAudit } from "../../nodes/lib/door-audit";
import { slackSignature } from "../../nodes/lib/slack/request";
import { FakeSlack } from "../support/fake-slack";
import { TestClient } from "../support/mqtt";
import { showScene } from "../support/camera-scene";
import { MQTT_ADMIN, redeploy, startRuntime, type TestRuntime } from "../support/runtime";
import { until } from "../support/until";

const SECRET = "8f742231b10e8888abcd99yyyzzz85a5";
const ALLOWED = "UALLOWED1";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("front door through Slack (all-in-one, HTTP slash commands)", function () {
  this.timeout(90_000);
  let fog: TestRuntime;
  let slack: FakeSlack;
  let client: TestClient;
  let replies = 0;

  before(async function () {
    this.timeout(60_000);
    slack = await FakeSlack.start();
    fog = await startRuntime({ role: "all" });
    await redeploy(fog.info.http, (flows) => {
      Object.assign(flows.find((n) => n.type === "slack-app")!, {
        slackApiUrl: slack.apiUrl,
        allowedUsers: ALLOWED,
        channel: "C0DOOR",
        credentials: { botToken: slack.token, signingSecret: SECRET },
      });
      for (const n of flows.filter((n) => n.type === "slack-command" || n.type === "slack-notify")) n.d = false;
    });
    // the deploy has answered; wait until the slash-command endpoint is mounted (an unsigned probe is refused)
    await until(async () => (await fetch(`${fog.info.http}/slack/command`, { method: "POST", body: "probe" })).status === 401, "the slash-command endpoint");
    client = await TestClient.connect(fog.info.mqtt, MQTT_ADMIN);
    await client.subscribe(topics.simState("buttonpi", "door"), topics.event("buttonpi"));
  });

  after(async () => {
    await client?.end();
    await fog?.stop();
    await slack?.close();
  });

  /** A slash command as Slack sends it (signed with `secret`, at `timestamp`), answered by the runtime. */
  async function slash(user: string, text: string, options: { secret?: string; timestamp?: number } = {}) {
    const id = `r${++replies}`;
    const body = new URLSearchParams({
      team_id: "T1",
      channel_id: "C0DOOR",
      user_id: user,
      user_name: user.toLowerCase(),
      command: "/door",
      text,
      response_url: slack.responseUrl(id),
    }).toString();
    const ts = String(options.timestamp ?? Math.floor(Date.now() / 1000));
    const res = await fetch(`${fog.info.http}/slack/command`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": slackSignature(options.secret ?? SECRET, ts, Buffer.from(body)),
      },
      body,
    });
    const raw = await res.text();
    let reply: { text?: string } = {};
    try {
      reply = JSON.parse(raw) as { text?: string };
    } catch {
      reply = { text: raw };
    }
    return { status: res.status, text: reply.text ?? "", id };
  }

  const pulses = () => client.received.filter((m) => m.topic === topics.simState("buttonpi", "door") && m.payload.toString() === "1").length;

  it("refuses a forged signature and a stale timestamp, and records both", async () => {
    const lettersBefore = new DeadLetterFile(fog.dataDir).read().length;
    const forged = await slash(ALLOWED, "open the door", { secret: "not-the-secret" });
    assert.equal(forged.status, 401);
    const stale = await slash(ALLOWED, "open the door", { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
    assert.equal(stale.status, 401);
    await sleep(1000);
    assert.equal(pulses(), 0, "the door did not move");
    const letters = new DeadLetterFile(fog.dataDir).read().slice(lettersBefore);
    assert.equal(letters.filter((l) => /signature/i.test(String(l.error))).length, 2, "both are in the dead-letter record");
  });

  it("refuses a user who is not on the allow list, in a reply, and audits it", async () => {
    const r = await slash("UINTRUDER", "open the door");
    assert.equal(r.status, 200);
    assert.match(r.text, /not allowed to open the door/);
    await sleep(500);
    assert.equal(pulses(), 0);
    const refused = new DoorAudit(fog.dataDir).read().filter((a) => a.via === "slack" && a.result === "refused");
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.by, "UINTRUDER");
    assert.equal(refused[0]!.reason, "not-allowed");
  });

  it("two open-door commands at once: one pulse, the other refused as busy, and each asker gets the outcome", async () => {
    const [a, b] = await Promise.all([slash(ALLOWED, "open the door"), slash(ALLOWED, "open the door")]);
    assert.match(a.text, /Opening the door/);
    assert.match(b.text, /Opening the door/);
    await until(() => slack.responses.filter((r) => r.id === a.id || r.id === b.id).length === 2, "both outcomes replied");
    const outcomes = slack.responses.filter((r) => r.id === a.id || r.id === b.id).map((r) => r.body.text).sort();
    assert.deepEqual(outcomes, ["Door not opened: busy", "Door opened (5 s)"]);
    assert.equal(pulses(), 1, "the door output went high once");
    // the door opener records the hub's MQTT client as the sender and the Slack user the hub names as a claim
    const attempts = new DoorAudit(fog.dataDir).read().filter((x) => x.claimedBy === `slack:${ALLOWED}`);
    assert.deepEqual(attempts.map((x) => x.result).sort(), ["opened", "refused"]);
    for (const x of attempts) assert.match(x.by ?? "", /^mqtt:\S+$/);
  });

  it("take a picture with a visitor at the door: the snapshot is posted to the channel", async () => {
    await showScene(client, "camerapi", "visitor");
    const r = await slash(ALLOWED, "take a picture");
    assert.match(r.text, /picture/i);
    await until(() => slack.messages.some((m) => m.file && /Someone is at the door/.test(m.text)), "a snapshot in the channel", 30_000);
    const posted = slack.messages.find((m) => m.file)!;
    assert.equal(posted.channel, "C0DOOR");
    assert.deepEqual([...posted.file!.bytes.subarray(0, 2)], [0xff, 0xd8], "the snapshot is the camera's JPEG");
  });
});
