// The power-outage pipeline end to end, as a user sets it up: the all-in-one fog with its simulated power Pi,
// an account with two addresses owning that Pi (made with the store, as `npm run accounts` does), the e-mail
// node enabled and pointed at a real SMTP server (STARTTLS + login) through the editor's API, then the mains
// flipped on the simulator: one mail per address per transition, with detectordag's texts and the event's time.
import assert from "node:assert/strict";
import path from "node:path";
import Database from "better-sqlite3";
import { AccountStore } from "../../nodes/lib/accounts/store";
import type { PowerState } from "../../nodes/lib/contract";
import { formatGoTime } from "../../nodes/lib/email/templates";
import { TestClient } from "../support/mqtt";
import { MQTT_ADMIN, ROOT, startRuntime, type TestRuntime, redeploy } from "../support/runtime";
import { TestSmtpServer } from "../support/smtp";
import { until } from "../support/until";

const A = "owner@example.com";
const B = "partner@example.com";

describe("power outage e-mails, end to end", function () {
  this.timeout(120_000);
  let smtp: TestSmtpServer;
  let fog: TestRuntime;
  let client: TestClient;

  before(async () => {
    smtp = await TestSmtpServer.start();
    // the SMTP server's certificate is trusted the standard way, as a user with a private CA would
    fog = await startRuntime({ role: "all", env: { NODE_EXTRA_CA_CERTS: path.join(ROOT, "test", "fixtures", "smtp-cert.pem") } });
    const store = new AccountStore(fog.dataDir);
    const account = await store.createAccount("owner", "correct horse", [A, B]);
    store.attachDevice(account.id, "powerpi", "Garage");
    store.close();

    // as the editor's default deploy: only the changed node restarts
    await redeploy(
      fog.info.http,
      (flows) => {
        // the power hub's (the hub's tab has one of its own, for health and motion notices)
        const email = flows.find((n) => n.id === "powerhub-email");
        assert.ok(email, "the shipped power hub flow has an e-mail node");
        Object.assign(email, {
          d: false,
          host: "127.0.0.1",
          port: String(smtp.port),
          security: "starttls",
          from: "PiFog <pifog@example.com>",
          credentials: { username: smtp.username, password: smtp.password },
        });
      },
      "nodes",
    );

    client = await TestClient.connect(fog.info.mqtt, MQTT_ADMIN);
    await client.subscribe("pifog/powerpi/#", "pifog/powerhub/#");
    await client.waitFor("pifog/powerpi/connection", (m) => m.payload.includes('"connected"'), 20_000);
    await client.waitFor("pifog/powerpi/power", (m) => m.payload.includes('"on"'), 20_000);
  });

  after(async () => {
    await client?.end();
    await fog?.stop();
    await smtp?.stop();
  });

  async function flip(mains: "on" | "off"): Promise<PowerState> {
    const before = new Set(client.received);
    await client.publish("pifog/powerpi/sim/mains/set", mains);
    const m = await client.waitFor("pifog/powerpi/power/events", (e) => !before.has(e) && e.payload.includes(`"mains":"${mains}"`), 15_000);
    return client.json<PowerState>(m);
  }

  /** The e-mail node's queue as the runtime keeps it on disk: one row per mail it still has to send, with its attempts. */
  function mailQueue(): Array<{ attempts: number }> {
    const db = new Database(path.join(fog.dataDir, "outbox.db"), { readonly: true, fileMustExist: true });
    try {
      return db.prepare("SELECT attempts FROM outbox WHERE queue LIKE 'email/%'").all() as Array<{ attempts: number }>;
    } finally {
      db.close();
    }
  }

  function mailsTo(address: string, subject: string) {
    return smtp.to(address).filter((m) => m.parsed.subject === subject);
  }

  it("mains off: exactly one 'You've lost power!' to each address, with the state and the event's time", async () => {
    const event = await flip("off");
    await smtp.until(() => mailsTo(A, "You've lost power!").length >= 1 && mailsTo(B, "You've lost power!").length >= 1, "two power-lost mails", 30_000);
    await until(() => mailQueue().length === 0, "the mail queue emptied"); // nothing left that could come twice
    for (const address of [A, B]) {
      const mails = mailsTo(address, "You've lost power!");
      assert.equal(mails.length, 1, `one mail to ${address}`);
      const text = mails[0]!.parsed.text ?? "";
      assert.match(text, /There's been an update for your dag Garage/);
      assert.ok(text.includes(`At ${formatGoTime(new Date(event.changedAt))}`), `the event's time in:\n${text}`);
      assert.match(text, /\nOff\nYour dag says that the power is off/);
      assert.equal(mails[0]!.secure, true, "sent over STARTTLS");
    }
  });

  it("mains back: 'Your power's back!' to each address", async () => {
    await flip("on");
    await smtp.until(() => mailsTo(A, "Your power's back!").length === 1 && mailsTo(B, "Your power's back!").length === 1, "two power-back mails", 30_000);
    assert.match(mailsTo(A, "Your power's back!")[0]!.parsed.text ?? "", /\nOn\nThe power is on!/);
  });

  it("with the SMTP server down for a while, the mails arrive once it is back", async () => {
    await smtp.stop();
    await flip("off");
    await until(() => mailQueue().some((m) => m.attempts >= 1), "an attempt while the server is down", 30_000);
    assert.equal(mailsTo(A, "You've lost power!").length, 1, "nothing new while the server is down");
    await smtp.start();
    await smtp.until(() => mailsTo(A, "You've lost power!").length === 2 && mailsTo(B, "You've lost power!").length === 2, "the queued mails", 60_000);
  });
});
