// Hostile sign-ins against the real runtime (role powerhub: the /v1 API and the editor): a flood of wrong passwords
// from one address (127.0.0.2; on Linux all of 127/8 is loopback) while the right user signs in from another
// (127.0.0.1). Before: 400 wrong /v1 logins stalled the broker for seconds (synchronous bcrypt), and 5 wrong editor
// passwords from anywhere locked the admin out for 10 minutes (Node-RED's own lock). Now: the flood gets 403 then
// 429 with Retry-After, audited, the broker keeps its latency, and the right user is never refused. The dashboard
// takes no password at all any more (its socket carries the browser's session): a page guessing one is refused as
// whoever it is signed in as.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import http from "node:http";
import path from "node:path";
import { io, type Socket } from "socket.io-client";
import { Audit, type AuditRecord } from "../../nodes/lib/audit/audit";
import { RoundTripProbe, type RoundTrips } from "../support/rtt";
import { ROOT, startRuntime, type TestRuntime } from "../support/runtime";
import { until } from "../support/until";

const ACCOUNTS_CLI = path.join(ROOT, "dist", "nodes", "lib", "accounts", "cli.js");
const ATTACKER = "127.0.0.2";
const USER_ADDRESS = "127.0.0.1";
const ADMIN_PASSWORD = "test-admin-password";

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** One POST from a chosen local address (the test's stand-in for another machine). */
function post(base: string, url: string, from: string, body: string, type: string, agent?: http.Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${base}${url}`,
      { method: "POST", localAddress: from, agent, headers: { "content-type": type, "content-length": Buffer.byteLength(body) }, timeout: 30_000 },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (text += d));
        res.on("end", () => {
          let parsed: Record<string, unknown> = {};
          try {
            parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
          } catch {
            parsed = { text };
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`POST ${url} took over 30 s`)));
    req.on("error", reject);
    req.end(body);
  });
}

const v1Login = (base: string, from: string, username: string, password: string, agent?: http.Agent) =>
  post(base, "/v1/auth", from, JSON.stringify({ username, password }), "application/json", agent);

const editorLogin = (base: string, from: string, password: string, url = "/admin/auth/token") =>
  post(
    base,
    url,
    from,
    new URLSearchParams({ client_id: "node-red-editor", grant_type: "password", scope: "*", username: "admin", password }).toString(),
    "application/x-www-form-urlencoded",
  );

/** Sends `count` requests, `parallel` at a time, and stops early at `deadline`; answers in the order sent. */
/** `during` runs alongside the flood, seeing the answers so far. */
async function flood<T>(count: number, parallel: number, deadline: number, one: (i: number) => Promise<T>, during?: (sofar: () => T[]) => Promise<void>): Promise<T[]> {
  const answers: T[] = [];
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < count && Date.now() < deadline) {
      const i = next++;
      answers[i] = await one(i);
      done++;
    }
  };
  const workers = Array.from({ length: parallel }, worker);
  if (during) await during(() => answers.filter((a) => a !== undefined));
  await Promise.all(workers);
  assert.ok(done > 0);
  return answers.filter((a) => a !== undefined);
}

const show = (r: RoundTrips) => `p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms (${r.count} round trips, ${r.lost} lost)`;

function createAccount(fog: TestRuntime, username: string, password: string): void {
  const r = spawnSync(process.execPath, [ACCOUNTS_CLI, "create", "--username", username, "--password", password], {
    env: { ...process.env, PIFOG_DATA_DIR: fog.dataDir, PIFOG_ROLE: "powerhub" },
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
}

const auditOf = (fog: TestRuntime): AuditRecord[] => new Audit(fog.dataDir).read();

describe("hostile sign-ins", function () {
  this.timeout(120_000);

  describe("with the default limits", () => {
    let fog: TestRuntime;
    let probe: RoundTripProbe;

    before(async () => {
      fog = await startRuntime({ role: "powerhub" });
      createAccount(fog, "sam@example.com", "correct horse");
      probe = await RoundTripProbe.connect(fog.info.mqtt, "signin");
    });
    after(async () => {
      await probe?.close();
      await fog?.stop();
    });

    it("a flood of wrong /v1 logins from one address gets 403 then 429, audited; the broker keeps its latency; the right user at another address signs in", async () => {
      const base = fog.info.http;
      const quiet = await probe.measure(20);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
      const userAnswers: Answer[] = [];
      probe.start(20);
      const started = performance.now();
      const answers = await flood(400, 8, Date.now() + 60_000, (i) =>
        // the attacker tries the real user's name and guessed ones
        v1Login(base, ATTACKER, i % 2 === 0 ? "sam@example.com" : `guess${i}@example.com`, `wrong password ${i}`, agent),
        async (sofar) => {
          // the right user, from another address, in the middle of the flood: once the attacker is told to wait
          await until(() => sofar().some((a) => a.status === 429), "the attacker throttled", 60_000);
          userAnswers.push(await v1Login(base, USER_ADDRESS, "sam@example.com", "correct horse"));
        },
      );
      const floodMs = performance.now() - started;
      const during = await probe.stop();
      agent.destroy();
      userAnswers.push(await v1Login(base, USER_ADDRESS, "sam@example.com", "correct horse"));

      const statuses = answers.map((a) => a.status);
      const refused = statuses.filter((s) => s === 403).length;
      const throttled = answers.filter((a) => a.status === 429);
      console.log(
        `      /v1/auth flood: ${answers.length} wrong logins from ${ATTACKER} in ${(floodMs / 1000).toFixed(1)} s: ${refused} × 403, ${throttled.length} × 429\n` +
          `      MQTT round trips quiet: ${show(quiet)}\n      MQTT round trips during the flood: ${show(during)}`,
      );
      assert.equal(answers.length, 400, "every request answered within the time");
      assert.deepEqual([...new Set(statuses)].sort(), [403, 429]);
      assert.ok(refused >= 5 && refused <= 20, `at most the address's 20 wrong passwords are checked (saw ${refused})`);
      assert.deepEqual([statuses[0], statuses.at(-1)], [403, 429], "wrong first, then told to wait");
      for (const a of throttled) {
        assert.ok(Number(a.headers["retry-after"]) >= 1, `Retry-After in seconds: ${String(a.headers["retry-after"])}`);
        assert.match(String(a.body.error), /try again in \d+ s/);
      }
      // the right user: during the flood and after it
      assert.deepEqual(
        userAnswers.map((a) => a.status),
        [200, 200],
        JSON.stringify(userAnswers.map((a) => a.body)),
      );
      assert.match(String(userAnswers[0]!.body.token), /^[\w-]+\.[\w-]+\.[\w-]+$/);
      // the attacker's address waits, even with the right password
      const late = await v1Login(base, ATTACKER, "sam@example.com", "correct horse");
      assert.equal(late.status, 429);

      assert.equal(during.lost, 0);
      // generous against the failure (8.6 s here before, 13.7 s on main): these 2 cores are shared and busy
      assert.ok(during.p99 < 2000, `MQTT round trip p99 ${during.p99.toFixed(1)} ms during the flood (8.6 s before)`);

      const audit = auditOf(fog).filter((r) => r.via === "http");
      const auditRefused = audit.filter((r) => r.event === "auth.refused");
      const auditThrottled = audit.filter((r) => r.event === "auth.throttled");
      assert.equal(auditRefused.length, refused, "every wrong password is in the audit");
      assert.equal(auditThrottled.length, throttled.length + 1, "every throttled one too");
      assert.ok(auditRefused.every((r) => r.address === ATTACKER && typeof r.user === "string" && r.who === `${String(r.user)}@${ATTACKER}`));
      assert.ok(auditThrottled.some((r) => r.user === "sam@example.com" && /try again/.test(r.reason)));
    });

    it("the editor login: wrong admin passwords from one address get 403 then 429, and the admin at another address still gets a token", async () => {
      const base = fog.info.http;
      const answers: Answer[] = [];
      // well past Node-RED's own lock (5 wrong for a name from anywhere, then 10 minutes for everyone)
      // by every spelling of the path Node-RED answers (`//auth/token` too)
      const spellings = ["/admin/auth/token", "/admin//auth/token", "/Admin/Auth/Token/", "/admin/./auth/token?x=1"];
      for (let i = 0; i < 30; i++) answers.push(await editorLogin(base, ATTACKER, `wrong password ${i}`, spellings[i % spellings.length]));
      const statuses = answers.map((a) => a.status);
      console.log(`      editor login: 30 wrong admin passwords from ${ATTACKER}: ${statuses.filter((s) => s === 403).length} × 403, ${statuses.filter((s) => s === 429).length} × 429`);
      assert.deepEqual(statuses.slice(0, 5), [403, 403, 403, 403, 403]);
      assert.ok(statuses.slice(5).every((s) => s === 429), statuses.join(" "));
      assert.ok(Number(answers[5]!.headers["retry-after"]) >= 1);
      assert.match(String(answers[5]!.body.error), /try again in \d+ s/);

      const admin = await editorLogin(base, USER_ADDRESS, ADMIN_PASSWORD);
      assert.equal(admin.status, 200, JSON.stringify(admin.body));
      const token = String(admin.body.access_token);
      const flows = await fetch(`${base}/admin/flows`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(flows.status, 200, "the token opens the editor's API");
      // and again: Node-RED's own count never reached its lock
      assert.equal((await editorLogin(base, USER_ADDRESS, ADMIN_PASSWORD)).status, 200);
      assert.equal((await editorLogin(base, ATTACKER, ADMIN_PASSWORD)).status, 429, "the attacker's address waits, right password or not");

      const audit = auditOf(fog).filter((r) => r.via === "editor");
      assert.equal(audit.filter((r) => r.event === "auth.refused").length, 5);
      assert.equal(audit.filter((r) => r.event === "auth.throttled").length, 26);
      assert.ok(audit.every((r) => r.who === `admin@${ATTACKER}`));
    });
  });

  describe("with the limits raised (every wrong password checked)", () => {
    let fog: TestRuntime;
    let probe: RoundTripProbe;

    before(async () => {
      fog = await startRuntime({ role: "powerhub", env: { PIFOG_SIGNIN_ATTEMPTS: "1000", PIFOG_SIGNIN_ADDRESS_ATTEMPTS: "1000" } });
      createAccount(fog, "sam@example.com", "correct horse");
      probe = await RoundTripProbe.connect(fog.info.mqtt, "signin-raw");
    });
    after(async () => {
      await probe?.close();
      await fog?.stop();
    });

    it("200 wrong /v1 logins, each a full bcrypt check, do not stall the broker: the checks run off the event loop", async () => {
      const base = fog.info.http;
      const quiet = await probe.measure(20);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
      probe.start(20);
      const started = performance.now();
      const answers = await flood(200, 8, Date.now() + 90_000, (i) => v1Login(base, ATTACKER, "sam@example.com", `wrong password ${i}`, agent));
      const floodMs = performance.now() - started;
      const during = await probe.stop();
      agent.destroy();
      console.log(
        `      /v1/auth, limits raised: ${answers.length} wrong logins, all checked, in ${(floodMs / 1000).toFixed(1)} s\n` +
          `      MQTT round trips quiet: ${show(quiet)}\n      MQTT round trips during the checks: ${show(during)}`,
      );
      assert.equal(answers.length, 200);
      assert.ok(answers.every((a) => a.status === 403));
      assert.equal(during.lost, 0);
      assert.ok(during.p99 < 2000, `MQTT round trip p99 ${during.p99.toFixed(1)} ms while 200 passwords were checked (8.2 s before)`);
      assert.equal((await v1Login(base, USER_ADDRESS, "sam@example.com", "correct horse")).status, 200);
    });
  });

  describe("the dashboard: no password to guess, and no speaking as another browser", () => {
    let fog: TestRuntime;
    const sockets: Socket[] = [];

    before(async () => {
      fog = await startRuntime({ role: "hub" });
    });
    after(async () => {
      for (const s of sockets) s.disconnect();
      await fog?.stop();
    });

    interface OperatorAnswer {
      operator: string | null;
      canAct?: boolean;
      error?: string;
    }

    /** A signed-in dashboard browser at `from`, collecting what the Front door tab's operator widget is told. */
    async function browser(from: string, cookie: string): Promise<{ socket: Socket; answers: OperatorAnswer[]; toasts: string[]; gone: Promise<string> }> {
      const socket = io(fog.info.http, {
        path: "/ui/socket.io",
        transports: ["polling"],
        agent: new http.Agent({ localAddress: from }) as never,
        reconnection: false,
        extraHeaders: { cookie },
      });
      sockets.push(socket);
      const answers: OperatorAnswer[] = [];
      const toasts: string[] = [];
      socket.on("update-value", (data: { id?: string; msg?: { topic?: string; payload?: OperatorAnswer } }) => {
        if (data?.id === "hub-front-ops-ui" && data.msg?.topic === "operator" && data.msg.payload) answers.push(data.msg.payload);
      });
      socket.on("show-toast", (t: { message?: string }) => toasts.push(String(t.message)));
      const gone = new Promise<string>((resolve) => socket.once("disconnect", (reason) => resolve(String(reason))));
      await new Promise<void>((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("connect_error", reject);
      });
      return { socket, answers, toasts, gone };
    }

    it("a viewer's page guessing passwords under the operator's socket id is refused as the viewer, cut, and checks no password", async () => {
      const operator = await browser(USER_ADDRESS, fog.cookies.operator);
      const attacker = await browser(ATTACKER, fog.cookies.viewer);
      await until(() => operator.answers.length >= 1, "the operator's browser told who is signed in", 20_000);
      const told = operator.answers.length;
      for (let i = 0; i < 30; i++) {
        attacker.socket.emit("update-value", { id: "hub-front-ops-ui", msg: { topic: "sign-in", payload: { username: "operator", password: `guess ${i}` } }, socketid: operator.socket.id });
      }
      assert.equal(await attacker.gone, "io server disconnect", "cut after a bounded number of refusals");
      assert.ok(attacker.toasts.length >= 1 && attacker.toasts.every((t) => /operators only \(you are signed in as pat-viewer, viewer\)/.test(t)), JSON.stringify(attacker.toasts));
      const audit = auditOf(fog).filter((r) => r.via === "dashboard");
      const refused = audit.filter((r) => r.event === "dashboard.event.refused");
      assert.ok(refused.length >= 1 && refused.length <= 20, String(refused.length));
      assert.ok(refused.every((r) => r.who === `pat-viewer@${ATTACKER}`), "named by the attacker's own session and address");
      assert.equal(audit.filter((r) => r.event === "auth.refused" || r.event === "auth.throttled").length, 0, "no password is ever checked on the dashboard");
      assert.equal(operator.answers.length, told, "nothing reached the operator's browser");
      assert.deepEqual(operator.answers.at(-1), { operator: "pat-operator", role: "operator", canAct: true });
    });
  });
});
