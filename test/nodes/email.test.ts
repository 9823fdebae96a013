import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { AccountStore } from "../../nodes/lib/accounts/store";
import type { TransitionEvent } from "../../nodes/lib/contract";
import { DeadLetterFile } from "../../nodes/lib/dead-letter";
import { dataDatabase } from "../../nodes/lib/store/sqlite";
import email, { emailQueue } from "../../nodes/email/email";
import { advance, advanceUntil } from "../support/clock-pump";
import { FakeClock } from "../support/fake-clock";
import { helper } from "../support/node-harness";
import { TestSmtpServer } from "../support/smtp";
import { testServices } from "../support/services";

const ALICE = "alice@example.com";
const BOB = "bob@example.org";
const FROM = "PiFog <pifog@example.net>";

interface Status {
  fill?: string;
  text?: string;
}
interface Result {
  to: string;
  subject: string;
  result: string;
  detail: string;
  messageId: string;
  device?: string;
  transition?: string;
}
interface Caught {
  error: { message: string };
  payload?: { to?: string };
}


function outage(): TransitionEvent {
  return { device: "powerpi", name: "Garage", transition: "Off", connection: "connected", power: "off", at: "2026-03-05T07:04:09.000Z" };
}

describe("email node", () => {
  let dataDir: string;
  let smtp: TestSmtpServer;
  let accounts: AccountStore;
  let results: Result[];
  let caught: Caught[];
  let statuses: Status[];
  /** The node's time: its retries and backoffs run on it. */
  let clock: FakeClock;

  /** A mail is on its way to the SMTP server: time stands still meanwhile. */
  function sending(): boolean {
    const node = helper.getNode("mail") as unknown as { sender?: { snapshot(): { delivering: boolean } } | null } | null;
    return node?.sender?.snapshot().delivering ?? false;
  }
  const pump = { stepMs: 10, busy: sending };
  /** Lets the node's time pass until `test` holds. */
  const until = (test: () => boolean, what: string) => advanceUntil(clock, test, what, pump);
  /** Lets `ms` of the node's time pass: every retry due meanwhile is made. */
  const later = (ms: number) => advance(clock, ms, pump);

  function flow(mail: Record<string, unknown> = {}) {
    return [
      {
        id: "mail",
        type: "email",
        z: "tab",
        host: "localhost",
        port: smtp.port,
        security: "starttls",
        from: FROM,
        retries: 2,
        dashboardUrl: "http://hub.local:1880/ui/",
        timeZone: "UTC",
        wires: [["out"]],
        ...mail,
      },
      { id: "out", type: "helper", z: "tab" },
      { id: "catcher", type: "catch", z: "tab", scope: null, uncaught: false, wires: [["caught"]] },
      { id: "caught", type: "helper", z: "tab" },
      { id: "tab", type: "tab" },
    ];
  }

  async function load(mail: Record<string, unknown> = {}, password = smtp.password): Promise<void> {
    await helper.load([email], flow(mail), { mail: { username: smtp.username, password } });
    results = [];
    caught = [];
    statuses = [];
    (helper.getNode("out") as unknown as NodeJS.EventEmitter).on("input", (msg: { payload: Result }) => results.push(msg.payload));
    (helper.getNode("caught") as unknown as NodeJS.EventEmitter).on("input", (msg: Caught) => caught.push(msg));
    (helper.getNode("mail") as unknown as NodeJS.EventEmitter).on("call:status", (call: { args: [Status] }) => statuses.push(call.args[0]));
  }

  function receive(payload: unknown, extra: Record<string, unknown> = {}): void {
    (helper.getNode("mail") as unknown as { receive(msg: unknown): void }).receive({ payload, ...extra });
  }

  function queuedOnDisk(): number {
    const handle = dataDatabase(dataDir, "outbox");
    try {
      return (handle.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE queue = ?").get(emailQueue("mail")) as { n: number }).n;
    } finally {
      handle.release();
    }
  }

  const deadLetters = () => new DeadLetterFile(dataDir).read();
  const retrying = () => statuses.some((s) => s.fill === "yellow" && s.text === "email.status.connection");

  beforeEach(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-email-"));
    clock = new FakeClock(Date.now());
    helper.settings({
      pifogServices: testServices({ dataDir, clock, tuning: { emailBackoff: { initialMs: 50, maxMs: 200 }, emailTimeoutMs: 3000, emailTlsRejectUnauthorized: false } }),
    });
    smtp = await TestSmtpServer.start();
    accounts = new AccountStore(dataDir);
    const account = await accounts.createAccount("sam", "correct horse battery", [ALICE, BOB]);
    accounts.attachDevice(account.id, "powerpi", "Garage");
  });

  afterEach(async () => {
    await helper.unload();
    accounts.close();
    await smtp.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("mails a power transition to every address of the device's account, once each, as detectordag wrote it", async () => {
    await load();
    receive(outage());
    await until(() => results.length === 2, "both mails reported");
    await later(5000); // 25 times the longest backoff: anything more would be a duplicate
    assert.equal(smtp.received.length, 2);
    assert.deepEqual(smtp.received.map((m) => m.envelopeTo).sort(), [[ALICE], [BOB]]);
    for (const m of smtp.received) {
      assert.equal(m.secure, true, "upgraded with STARTTLS");
      assert.equal(m.user, smtp.username, "logged in");
      assert.equal(m.envelopeFrom, "pifog@example.net");
      assert.equal(m.parsed.from?.text, '"PiFog" <pifog@example.net>');
      assert.equal(m.parsed.subject, "You've lost power!");
      assert.equal(
        (m.parsed.text ?? "").trimEnd(),
        [
          "There's been an update for your dag Garage",
          "At 07:04 05-Mar-2026",
          "You've lost power!",
          "Off",
          "Your dag says that the power is off",
        ].join("\n"),
      );
      const html = String(m.parsed.html);
      assert.ok(html.includes("changed status at 07:04 05-Mar-2026 to:"));
      assert.ok(html.includes("Your dag says that the power is off"));
      assert.ok(html.includes('href="http://hub.local:1880/ui/"'));
    }
    assert.deepEqual(results.map((r) => [r.to, r.result, r.device, r.transition]).sort(), [
      [ALICE, "sent", "powerpi", "Off"],
      [BOB, "sent", "powerpi", "Off"],
    ]);
    assert.equal(queuedOnDisk(), 0);
    assert.deepEqual(statuses[statuses.length - 1], { fill: "green", shape: "dot", text: "email.status.sent" });
  });

  it("keeps the mails while the SMTP server is down and sends them, once each, when it is back", async () => {
    await smtp.stop();
    await load();
    receive(outage());
    receive({ ...outage(), transition: "On", power: "on", at: "2026-03-05T09:30:00.000Z" });
    await until(retrying, "a failed attempt");
    assert.equal(queuedOnDisk(), 4, "all four mails are on disk");
    assert.equal(statuses[statuses.length - 1]?.fill, "yellow");
    await later(1000); // several more failed attempts
    assert.equal(results.length, 0);
    await smtp.start();
    await until(() => smtp.received.length >= 4, "four mails");
    await until(() => results.length === 4, "four results");
    await later(5000);
    assert.equal(smtp.received.length, 4, "none twice");
    for (const to of [ALICE, BOB]) {
      assert.deepEqual(
        smtp.to(to).map((m) => m.parsed.subject),
        ["You've lost power!", "Your power's back!"],
        `${to}: both, in order`,
      );
      assert.equal(smtp.to(to)[1]?.parsed.text?.split("\n")[1], "At 09:30 05-Mar-2026", "the event's time, not the sending time");
    }
    assert.equal(queuedOnDisk(), 0);
    assert.deepEqual(deadLetters(), []);
  });

  it("gives up on an address the server rejects for good, dead-letters it, and still delivers to the other", async () => {
    smtp.rejectPermanently.add(ALICE); // Alice's mail is queued first
    await load();
    receive(outage());
    await until(() => results.length === 2, "both mails done");
    assert.deepEqual(smtp.received.map((m) => m.envelopeTo), [[BOB]]);
    assert.equal(smtp.attempts.get(ALICE), 1, "a permanent refusal is not retried");
    const rejected = results.find((r) => r.to === ALICE);
    assert.equal(rejected?.result, "rejected");
    assert.match(rejected?.detail ?? "", /550/);
    const letters = deadLetters();
    assert.equal(letters.length, 1);
    assert.equal(letters[0]?.topic, ALICE);
    assert.equal(letters[0]?.type, "email");
    assert.match(letters[0]?.error ?? "", /^email\.errors\.rejected: 550 .*mailbox unavailable/);
    assert.match(letters[0]?.payload ?? "", /You've lost power!/);
    await until(() => caught.length === 1, "the Catch node");
    assert.equal(caught[0]?.payload?.to, ALICE);
    assert.equal(queuedOnDisk(), 0);
  });

  it("retries a temporary refusal the configured number of times, then gives up on that mail only", async () => {
    smtp.rejectTemporarily.add(ALICE);
    await load({ retries: 2 });
    receive(outage());
    await until(() => results.length === 2, "both mails done");
    assert.equal(smtp.attempts.get(ALICE), 3, "the first try and two retries");
    assert.deepEqual(results.map((r) => [r.to, r.result]), [[ALICE, "gave-up"], [BOB, "sent"]]);
    assert.deepEqual(smtp.received.map((m) => m.envelopeTo), [[BOB]]);
    assert.match(deadLetters()[0]?.error ?? "", /^email\.errors\.gave-up: 451 /);
  });

  it("sends the mails queued before a restart after it", async () => {
    await smtp.stop();
    await load();
    receive(outage());
    await until(retrying, "a failed attempt");
    await helper.unload();
    assert.equal(queuedOnDisk(), 2, "still on disk after the node stopped");
    await smtp.start();
    await load();
    await until(() => smtp.received.length >= 2, "the queued mails");
    await until(() => results.length === 2, "both results");
    await later(5000);
    assert.deepEqual(smtp.received.map((m) => m.envelopeTo).sort(), [[ALICE], [BOB]], "once each");
    assert.equal(queuedOnDisk(), 0);
  });

  it("holds the mails while the server refuses the login, with a red status and nothing dead-lettered", async () => {
    await load({}, "wrong password");
    receive(outage());
    await until(() => statuses.some((s) => s.fill === "red" && s.text === "email.status.auth"), "the red status");
    await later(1000); // several retries meanwhile, refused the same way
    assert.equal(smtp.received.length, 0);
    assert.equal(queuedOnDisk(), 2);
    assert.deepEqual(deadLetters(), []);
    assert.deepEqual(caught, []);
  });

  it("sends a plain mail {to, subject, text} to each address", async () => {
    await load();
    receive("The hub restarted.", { to: [ALICE, "carol@example.com"], subject: "PiFog notice" });
    await until(() => results.length === 2, "both sent");
    assert.deepEqual(smtp.received.map((m) => [m.envelopeTo[0], m.parsed.subject, m.parsed.text?.trim()]).sort(), [
      [ALICE, "PiFog notice", "The hub restarted."],
      ["carol@example.com", "PiFog notice", "The hub restarted."],
    ]);
  });

  it("refuses bad input with an error Catch nodes see and a dead-letter record, and keeps working", async () => {
    await load();
    receive({ ...outage(), transition: "Flicker" });
    await until(() => caught.length === 1, "the Catch node");
    assert.match(caught[0]?.error.message ?? "", /transition must be one of/);
    assert.equal(statuses[statuses.length - 1]?.fill, "red");
    receive("no address", { subject: "x" });
    await until(() => caught.length === 2, "the second error");
    assert.match(caught[1]?.error.message ?? "", /to must/);
    const letters = deadLetters();
    assert.equal(letters.length, 2);
    assert.match(letters[0]?.payload ?? "", /Flicker/);
    assert.equal(queuedOnDisk(), 0);
    receive(outage());
    await until(() => results.length === 2, "good input still mailed");
    assert.equal(smtp.received.length, 2);
  });

  it("sends nothing for a device without an account, with a warning", async () => {
    await load();
    receive({ ...outage(), device: "stray" });
    await until(() => statuses.some((s) => s.fill === "yellow" && s.text === "email.status.no-recipients"), "the warning status");
    await later(5000);
    assert.equal(queuedOnDisk(), 0);
    assert.equal(smtp.received.length, 0);
    assert.deepEqual(caught, []);
  });
});
