import assert from "node:assert/strict";
import type { NodeMessage } from "node-red";
import { PayloadError, type ConnectionStatus, type MainsState, type PowerTransition, type TransitionEvent } from "../../nodes/lib/contract";
import { classifySmtpError } from "../../nodes/lib/email/sender";
import { formatGoTime, parseTransitionEvent, renderTransitionMail } from "../../nodes/lib/email/templates";
import { normaliseEmail, parsePlainMail } from "../../nodes/email/email";

const SUBJECTS: Record<PowerTransition, string> = {
  On: "Your power's back!",
  Off: "You've lost power!",
  Connected: "Your dag is back!",
  Disconnected: "We've lost contact with your dag!",
};

const STATES: Array<{ connection: ConnectionStatus; power: MainsState; title: string; description: string }> = [
  { connection: "connected", power: "on", title: "On", description: "The power is on!" },
  { connection: "connected", power: "off", title: "Off", description: "Your dag says that the power is off" },
  {
    connection: "disconnected",
    power: "on",
    title: "Was On",
    description: "We've lost contact with your dag. The power was on the last we heard...",
  },
  {
    connection: "disconnected",
    power: "off",
    title: "Was Off",
    description: "Your dag noticed the power go, and then we lost contact. It may have run out of battery.",
  },
];

function event(over: Partial<TransitionEvent> = {}): TransitionEvent {
  return {
    device: "powerpi",
    name: "Garage",
    transition: "Off",
    connection: "connected",
    power: "off",
    at: "2026-03-05T07:04:09.000Z",
    ...over,
  };
}

describe("e-mail templates (detectordag's status mail)", () => {
  for (const transition of Object.keys(SUBJECTS) as PowerTransition[]) {
    for (const state of STATES) {
      it(`${transition} with ${state.connection}/${state.power}: subject, title, description and the five-line text body`, () => {
        const mail = renderTransitionMail(event({ transition, connection: state.connection, power: state.power }), { timeZone: "UTC" });
        assert.equal(mail.subject, SUBJECTS[transition]);
        assert.equal(
          mail.text,
          [
            "There's been an update for your dag Garage",
            "At 07:04 05-Mar-2026",
            SUBJECTS[transition],
            state.title,
            state.description,
          ].join("\n"),
        );
        assert.ok(mail.html.includes(`>${state.title.replace("'", "&#39;")}<`), "the card shows the title");
        assert.ok(mail.html.includes(state.description.replace(/'/g, "&#39;")), "the card shows the description");
        assert.ok(mail.html.includes(SUBJECTS[transition].replace(/'/g, "&#39;")), "the HTML title is the transition");
      });
    }
  }

  it("formats the event time as Go's 15:04 02-Jan-2006 in the chosen zone", () => {
    assert.equal(formatGoTime(new Date("2026-03-05T07:04:09Z"), "UTC"), "07:04 05-Mar-2026");
    assert.equal(formatGoTime(new Date("2026-12-31T23:59:59Z"), "UTC"), "23:59 31-Dec-2026");
    assert.equal(formatGoTime(new Date("2026-01-01T00:00:00Z"), "UTC"), "00:00 01-Jan-2026");
    // British Summer Time: an hour ahead, and past midnight into the next day
    assert.equal(formatGoTime(new Date("2026-07-15T23:30:00Z"), "Europe/London"), "00:30 16-Jul-2026");
    assert.equal(formatGoTime(new Date("2026-09-10T13:05:00Z"), "America/New_York"), "09:05 10-Sep-2026");
    for (const [i, m] of ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].entries()) {
      assert.equal(formatGoTime(new Date(Date.UTC(2025, i, 9, 14, 7)), "UTC"), `14:07 09-${m}-2025`);
    }
  });

  it("uses the runtime's local zone (TZ) when no zone is set", () => {
    const before = process.env.TZ;
    try {
      process.env.TZ = "Asia/Tokyo";
      assert.equal(formatGoTime(new Date("2026-03-05T20:04:00Z")), "05:04 06-Mar-2026");
      assert.equal(renderTransitionMail(event({ at: "2026-03-05T20:04:00Z" })).text.split("\n")[1], "At 05:04 06-Mar-2026");
    } finally {
      if (before === undefined) delete process.env.TZ;
      else process.env.TZ = before;
    }
  });

  it("reports the event's time, not the time of rendering", () => {
    const mail = renderTransitionMail(event({ at: "2020-02-29T12:00:00Z" }), { timeZone: "UTC" });
    assert.equal(mail.text.split("\n")[1], "At 12:00 29-Feb-2020");
    assert.ok(mail.html.includes("changed status at 12:00 29-Feb-2020 to:"));
  });

  it("HTML: the original's parts in order, the name escaped, nothing remote, a button only with a dashboard URL", () => {
    const mail = renderTransitionMail(event({ name: "<b>Shed & \"Co\"</b>" }), { timeZone: "UTC" });
    const html = mail.html;
    assert.ok(!html.includes("<b>Shed"), "the name is escaped");
    assert.ok(html.includes("&#60;b&#62;Shed &#38; &#34;Co&#34;&#60;/b&#62;"));
    const order = ["changed status at 07:04 05-Mar-2026</div>", "detector dag", "You&#39;ve lost power!", "changed status at 07:04 05-Mar-2026 to:", ">Off<"];
    let at = -1;
    for (const part of order) {
      const i = html.indexOf(part, at + 1);
      assert.ok(i > at, `"${part}" comes next`);
      at = i;
    }
    assert.ok(!/\bsrc=|url\(|<link|@import/i.test(html), "loads nothing");
    assert.ok(!html.includes("See live status"), "no dashboard URL, no button");
    const withButton = renderTransitionMail(event(), { timeZone: "UTC", dashboardUrl: "http://hub.local:1880/ui/" }).html;
    assert.ok(withButton.includes('href="http://hub.local:1880/ui/"') && withButton.includes("See live status"));
  });

  it("a missing name falls back to the device id; bad events are refused with the reason", () => {
    assert.equal(parseTransitionEvent({ ...event(), name: "" }).name, "powerpi");
    const bad: unknown[] = [
      null,
      "Off",
      [],
      { ...event(), transition: "Flicker" },
      { ...event(), connection: "maybe" },
      { ...event(), power: "ON" },
      { ...event(), at: "yesterday" },
      { ...event(), device: "" },
    ];
    for (const b of bad) assert.throws(() => parseTransitionEvent(b), PayloadError, JSON.stringify(b));
  });
});

describe("e-mail node settings and plain mails", () => {
  it("normalises the SMTP settings with defaults per security, and refuses bad ones", () => {
    const s = normaliseEmail({ host: "smtp.example.com", security: "", from: "PiFog <p@example.com>" }, { username: "u", password: "p" });
    assert.deepEqual(s.smtp, { host: "smtp.example.com", port: 587, security: "starttls", from: "PiFog <p@example.com>", username: "u", password: "p" });
    assert.equal(s.retries, 5);
    assert.equal(normaliseEmail({ host: "h", security: "tls", from: "a@b.cd" }, {}).smtp.port, 465);
    assert.equal(normaliseEmail({ host: "h", security: "none", from: "a@b.cd", port: "2525" }, {}).smtp.port, 2525);
    assert.equal(normaliseEmail({ host: "h", from: "a@b.cd" }, {}).smtp.username, undefined);
    assert.throws(() => normaliseEmail({ host: "", from: "a@b.cd" }, {}), /host/);
    assert.throws(() => normaliseEmail({ host: "h", from: "nobody" }, {}), /from/);
    assert.throws(() => normaliseEmail({ host: "h", from: "a@b.cd", port: "70000" }, {}), /port/);
    assert.throws(() => normaliseEmail({ host: "h", from: "a@b.cd", security: "ssl" }, {}), /security/);
    assert.throws(() => normaliseEmail({ host: "h", from: "a@b.cd", retries: "-1" }, {}), /retries/);
    assert.throws(() => normaliseEmail({ host: "h", from: "a@b.cd", timeZone: "Mars/Olympus" }, {}), /time zone/);
    assert.throws(() => normaliseEmail({ host: "h", from: "a@b.cd", dashboardUrl: "ftp://x" }, {}), /dashboard/);
  });

  it("a plain mail becomes one mail per address", () => {
    const msg = { to: "a@example.com, b@example.com", subject: "Hi", payload: "hello" } as unknown as NodeMessage;
    assert.deepEqual(parsePlainMail(msg), [
      { to: "a@example.com", subject: "Hi", text: "hello" },
      { to: "b@example.com", subject: "Hi", text: "hello" },
    ]);
    const inPayload = { payload: { to: ["c@example.com"], subject: "S", html: "<p>x</p>" } } as unknown as NodeMessage;
    assert.deepEqual(parsePlainMail(inPayload), [{ to: "c@example.com", subject: "S", html: "<p>x</p>" }]);
    for (const bad of [
      { to: "nobody", subject: "S", text: "t" },
      { to: "a@example.com", subject: "two\nlines", text: "t" },
      { to: "a@example.com", subject: "S" },
      { to: [], subject: "S", text: "t" },
    ]) {
      assert.throws(() => parsePlainMail(bad as unknown as NodeMessage), PayloadError, JSON.stringify(bad));
    }
  });

  it("classifies SMTP failures: 5xx per mail is final, 4xx per mail is retried, the rest is the server's", () => {
    const e = (code: string, responseCode?: number) => Object.assign(new Error("x"), { code, responseCode, response: `${responseCode} x` });
    assert.equal(classifySmtpError(e("EENVELOPE", 550)).kind, "rejected");
    assert.equal(classifySmtpError(e("EMESSAGE", 554)).kind, "rejected");
    assert.equal(classifySmtpError(e("EENVELOPE", 451)).kind, "deferred");
    assert.equal(classifySmtpError(e("EAUTH", 535)).kind, "auth");
    assert.equal(classifySmtpError(e("ESOCKET")).kind, "connection");
    assert.equal(classifySmtpError(e("ETIMEDOUT")).kind, "connection");
    assert.equal(classifySmtpError(e("ECONNECTION")).kind, "connection");
  });
});
