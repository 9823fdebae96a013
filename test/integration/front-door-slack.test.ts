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
import { startRuntime, type TestRuntime } from "../support/runtime";

const SECRET = "8f742231b10e8888abcd99yyyzzz85a5";
const ALLOWED = "UALLOWED1";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, test: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) assert.fail(`timed out: ${what}`);
    await sleep(100);
  }
}

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
    const token = await adminToken(fog.info.http);
    const auth = { authorization: `Bearer ${token}` };
    const flows = (await (await fetch(`${fog.info.http}/admin/flows`, { headers: auth })).json()) as Array<Record<string, unknown>>;
    Object.assign(flows.find((n) => n.type === "slack-app")!, {
      slackApiUrl: slack.apiUrl,
      allowedUsers: ALLOWED,
      channel: "C0DOOR",
      credentials: { botToken: slack.token, signingSecret: SECRET },
    });
    for (const n of flows.filter((n) => n.type === "slack-command" || n.type === "slack-notify")) n.d = false;
    const deployed = await fetch(`${fog.info.http}/admin/flows`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json", "Node-RED-Deployment-Type": "full" },
      body: JSON.stringify(flows),
    });
    assert.ok([200, 204].includes(deployed.status), `deploy: ${deployed.status}`);
    client = await TestClient.connect(fog.info.mqtt);
    await client.subscribe(topics.simState("buttonpi", "door"), topics.event("buttonpi"), topics.simState("camerapi", "scene"));
  });

  after(async () => {
    await client?.end();
    await fog?.stop();
    await slack?.close();
  });

  async function adminToken(http: string): Promise<string> {
    const res = await fetch(`${http}/admin/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_id: "node-red-editor", grant_type: "password", scope: "*", username: "admin", password: "test-admin-password" }),
    });
    return ((await res.json()) as { access_token: string }).access_token;
  }

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
    const forged = await slash(ALLOWED, "open the door", { secret: "not-the-secret" });
    assert.equal(forged.status, 401);
    const stale = await slash(ALLOWED, "open the door", { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
    assert.equal(stale.status, 401);
    await sleep(1000);
    assert.equal(pulses(), 0, "the door did not move");
    const letters = new DeadLetterFile(fog.dataDir).read().filter((l) => /signature/i.test(String(l.error)));
    assert.equal(letters.length, 2, "both are in the dead-letter record");
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
    await until("both outcomes replied", () => slack.responses.filter((r) => r.id === a.id || r.id === b.id).length === 2, 20_000);
    const outcomes = slack.responses.filter((r) => r.id === a.id || r.id === b.id).map((r) => r.body.text).sort();
    assert.deepEqual(outcomes, ["Door not opened: busy", "Door opened (5 s)"]);
    assert.equal(pulses(), 1, "the door output went high once");
    const attempts = new DoorAudit(fog.dataDir).read().filter((x) => x.by === `slack:${ALLOWED}`);
    assert.deepEqual(attempts.map((x) => x.result).sort(), ["opened", "refused"]);
  });

  it("take a picture with a visitor at the door: the snapshot is posted to the channel", async () => {
    for (let attempt = 1; ; attempt++) {
      const confirmed = client.waitFor(topics.simState("camerapi", "scene"), (m) => m.payload.toString().startsWith("visitor-"), 1500, false);
      await client.publish(topics.simSet("camerapi", "scene"), "visitor");
      try {
        await confirmed;
        break;
      } catch (err) {
        if (attempt >= 10) throw err;
      }
    }
    const r = await slash(ALLOWED, "take a picture");
    assert.match(r.text, /picture/i);
    await until("a snapshot in the channel", () => slack.messages.some((m) => m.file && /Someone is at the door/.test(m.text)), 30_000);
    const posted = slack.messages.find((m) => m.file)!;
    assert.equal(posted.channel, "C0DOOR");
    assert.deepEqual([...posted.file!.bytes.subarray(0, 2)], [0xff, 0xd8], "the snapshot is the camera's JPEG");
  });
});
