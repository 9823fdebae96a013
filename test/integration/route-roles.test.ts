// Every HTTP route of the all-in-one runtime × anonymous / viewer / operator / admin, each person coming as a browser
// does after signing in (the session cookie; an admin also with the editor's token, which only an admin can get), and
// each answer as the roles say. The launcher's own routes, the dashboard, the editor and its API, PiFog's API, the
// flows' own routes (the hub's Slack command; the shipped flows have no `http in` nodes) and detectordag's /v1 API,
// which keeps its own accounts: nobody's PiFog sign-in opens it.
// To add a route: one row in ROUTES (what each role gets, and why if it is not obvious).
import assert from "node:assert/strict";
import type { UserRole } from "../../nodes/lib/identity/types";
import { signInCookie, TEST_PEOPLE } from "../support/people";
import { startRuntime, type TestRuntime } from "../support/runtime";

type Who = "anonymous" | UserRole;
const WHO: readonly Who[] = ["anonymous", "viewer", "operator", "admin"];

/** A person as the test sends them: their session cookie, and the editor's token if they could get one. */
interface Visitor {
  who: Who;
  cookie?: string;
  editorToken?: string;
  password: string;
  name: string;
}

interface RouteRow {
  method: "GET" | "HEAD" | "POST" | "PUT" | "DELETE";
  path: string;
  /** The body (form-encoded unless `json`), by who sends it. */
  form?: (v: Visitor) => Record<string, string>;
  json?: (v: Visitor) => unknown;
  /** Sent as a browser opening a page (Accept: text/html). */
  page?: boolean;
  /** The status each one gets; [anonymous, viewer, operator, admin]. */
  expect: [number, number, number, number];
  /** For a 3xx: where it sends each one (a RegExp, or null when the row does not care). */
  location?: RegExp;
}

const ALL = (s: number): [number, number, number, number] => [s, s, s, s];
const SIGNED_IN = (s: number): [number, number, number, number] => [401, s, s, s];
const ADMINS = (s: number): [number, number, number, number] => [401, 401, 401, s];

export const ROUTES: RouteRow[] = [
  // the launcher's own
  { method: "GET", path: "/", expect: ALL(302), location: /^\/ui\/$/ },
  { method: "GET", path: "/signin?next=/ui/", page: true, expect: ALL(200) },
  { method: "POST", path: "/signin", form: (v) => ({ username: v.name, password: "a wrong password", next: "/ui/" }), expect: ALL(401) },
  { method: "POST", path: "/signin", form: () => ({ username: "", password: "" }), expect: ALL(400) },
  { method: "GET", path: "/signout", page: true, expect: ALL(200) },
  // the dashboard: a page sends one without a session to sign in; anything else is refused
  { method: "GET", path: "/ui/", page: true, expect: [302, 200, 200, 200], location: /^\/signin\?next=%2Fui%2F$/ },
  { method: "GET", path: "/ui/manifest.json", expect: SIGNED_IN(200) },
  { method: "GET", path: "/ui/index.html", expect: SIGNED_IN(200) },
  // the editor: its page is public (it asks for a sign-in), its API only with an admin's editor token
  { method: "GET", path: "/admin/", page: true, expect: ALL(200) },
  {
    method: "POST",
    path: "/admin/auth/token",
    form: (v) => ({ client_id: "node-red-editor", grant_type: "password", scope: "*", username: v.name, password: v.password }),
    expect: [403, 403, 403, 200],
  },
  { method: "GET", path: "/admin/flows", expect: ADMINS(200) },
  { method: "GET", path: "/admin/nodes", expect: ADMINS(200) },
  { method: "POST", path: "/admin/inject/no-such-node", expect: ADMINS(404) },
  { method: "GET", path: "/admin/pifog/accounts", expect: ADMINS(200) },
  { method: "POST", path: "/admin/pifog/accounts", json: () => ({}), expect: ADMINS(400) },
  // PiFog's own API: a viewer's session (or token) reads; POST /api/auth gives a token to any user
  { method: "POST", path: "/api/auth", json: (v) => ({ username: v.name, password: v.password }), expect: [401, 200, 200, 200] },
  { method: "GET", path: "/api/history/topics", expect: SIGNED_IN(200) },
  { method: "GET", path: "/api/history?topic=pifog%2Fhub%2Fnothing", expect: SIGNED_IN(200) },
  // the hub's clips and time-lapse stills: signed-in people (viewer or higher) only
  { method: "GET", path: "/api/clips", expect: SIGNED_IN(200) },
  { method: "GET", path: "/api/clips?camera=camerapi&day=2026-06-01&kind=still&order=asc", expect: SIGNED_IN(200) },
  { method: "GET", path: "/api/clips?day=yesterday", expect: SIGNED_IN(400) },
  { method: "GET", path: "/api/clips/camerapi/clip-1/thumbnail", expect: SIGNED_IN(404) },
  { method: "GET", path: "/api/clips/camerapi/clip-1/media", expect: SIGNED_IN(404) },
  { method: "GET", path: "/api/clips/camerapi/clip-1/play", expect: SIGNED_IN(404) },
  // a camera's live video (multipart JPEG, never ending: HEAD answers as GET would, without starting the camera)
  { method: "HEAD", path: "/api/cameras/camerapi/live", expect: SIGNED_IN(200) },
  { method: "GET", path: "/api/cameras/no-such-camera/live", expect: SIGNED_IN(404) },
  { method: "GET", path: "/api/cameras/hub/live", expect: SIGNED_IN(404) },
  { method: "GET", path: "/api/cameras/bad%20id/live", expect: SIGNED_IN(400) },
  // the runtime's metrics (Prometheus: a viewer's token) for signed-in people; its health: up or down for anyone (a
  // container's healthcheck), the whole judgement for signed-in people (test/integration/metrics-health.test.ts)
  { method: "GET", path: "/metrics", expect: SIGNED_IN(200) },
  { method: "GET", path: "/health", expect: ALL(200) },
  // detectordag's /v1: its own accounts (e-mail addresses), never a PiFog session
  // pairing a Pi: anyone may ask (a bad request is refused the same for all), an admin approves and revokes
  { method: "POST", path: "/api/pairing", json: () => ({}), expect: ALL(400) },
  { method: "GET", path: "/api/pairing/no-such-pairing", expect: ALL(401) },
  { method: "GET", path: "/api/pairing", expect: [401, 403, 403, 200] },
  { method: "GET", path: "/api/devices", expect: [401, 403, 403, 200] },
  { method: "POST", path: "/api/pairing/approve", json: () => ({ code: "ZZZZ-ZZZZ", id: "new-pi", owner: TEST_PEOPLE.admin.name }), expect: [401, 403, 403, 404] },
  { method: "POST", path: "/api/devices/no-such-device/revoke", expect: [401, 403, 403, 404] },
  // OpenID Connect: not set up on this runtime, so not there for anyone
  { method: "GET", path: "/signin/oidc?next=/ui/", page: true, expect: ALL(404) },
  { method: "GET", path: "/signin/oidc/callback?state=x&code=y", page: true, expect: ALL(404) },
  // …but who one is, is answered whatever signed them in
  { method: "GET", path: "/signin/oidc/whoami", expect: SIGNED_IN(200) },
  // detectordag's API: its own accounts
  { method: "POST", path: "/v1/auth", json: (v) => ({ username: v.name, password: v.password }), expect: ALL(403) },
  { method: "GET", path: "/v1/accounts/1", expect: ALL(401) },
  { method: "GET", path: "/v1/accounts/1/devices", expect: ALL(401) },
  // the hub flow's Slack slash command: not listening until its Slack app is set up in the editor (then Slack's
  // signature decides, whoever is signed in: test/integration/front-door-slack.test.ts)
  { method: "POST", path: "/slack/command", form: () => ({ command: "/door", text: "open" }), expect: ALL(404) },
  // nothing else answers
  { method: "GET", path: "/nothing-here", expect: ALL(404) },
  // sign-out last: it ends the session
  { method: "POST", path: "/signout", expect: ALL(303), location: /^\/signin$/ },
];

describe("every HTTP route × anonymous, viewer, operator, admin (all-in-one runtime)", function () {
  this.timeout(90_000);
  let fog: TestRuntime;
  const visitors = new Map<Who, Visitor>();

  before(async () => {
    fog = await startRuntime({ role: "all" });
    const http = fog.info.http;
    visitors.set("anonymous", { who: "anonymous", name: "nobody-at-all", password: "nobody's password" });
    for (const role of ["viewer", "operator", "admin"] as const) {
      const p = TEST_PEOPLE[role];
      const v: Visitor = { who: role, name: p.name, password: p.password, cookie: await signInCookie(http, role) };
      if (role === "admin") {
        const res = await fetch(`${http}/admin/auth/token`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ client_id: "node-red-editor", grant_type: "password", scope: "*", username: p.name, password: p.password }),
        });
        v.editorToken = ((await res.json()) as { access_token: string }).access_token;
      }
      visitors.set(role, v);
    }
  });
  after(async () => {
    await fog?.stop();
  });

  it("answers each route as the roles say", async () => {
    const wrong: string[] = [];
    for (const row of ROUTES) {
      for (const [i, who] of WHO.entries()) {
        const v = visitors.get(who)!;
        const headers: Record<string, string> = {};
        if (v.cookie) headers.cookie = v.cookie;
        if (v.editorToken && row.path.startsWith("/admin/") && row.path !== "/admin/auth/token") headers.authorization = `Bearer ${v.editorToken}`;
        if (row.page) headers.accept = "text/html,application/xhtml+xml";
        let body: string | undefined;
        if (row.form) {
          headers["content-type"] = "application/x-www-form-urlencoded";
          body = new URLSearchParams(row.form(v)).toString();
        } else if (row.json) {
          headers["content-type"] = "application/json";
          body = JSON.stringify(row.json(v));
        }
        // the sign-out row ends the sessions: every other row first
        const res = await fetch(`${fog.info.http}${row.path}`, { method: row.method, headers, body, redirect: "manual" });
        await res.arrayBuffer();
        const label = `${row.method} ${row.path} as ${who}`;
        if (res.status !== row.expect[i]) wrong.push(`${label}: ${res.status}, expected ${row.expect[i]}`);
        else if (row.location && res.status >= 300 && res.status < 400 && !row.location.test(res.headers.get("location") ?? "")) {
          wrong.push(`${label}: sent to ${res.headers.get("location")}, expected ${row.location}`);
        }
      }
    }
    assert.deepEqual(wrong, [], `\n${wrong.join("\n")}`);
  });

  it("ended every session it signed out: the dashboard wants a sign-in again", async () => {
    for (const role of ["viewer", "operator", "admin"] as const) {
      const res = await fetch(`${fog.info.http}/ui/`, { redirect: "manual", headers: { cookie: visitors.get(role)!.cookie!, accept: "text/html" } });
      assert.equal(res.status, 302, role);
    }
  });
});
