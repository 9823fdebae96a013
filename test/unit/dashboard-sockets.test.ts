// Who is on each dashboard socket: only a browser with a live session connects; the middleware notes its person
// (asked of the sessions again on every look-up) and peer address, forgets them on disconnect, stays bounded, and
// makes every packet's `socketid` the socket's own (a page cannot speak as another).
import os from "node:os";
import assert from "node:assert/strict";
import { DashboardSockets, type DashboardSocket } from "../../nodes/lib/security/dashboard-sockets";
import { servicesOf } from "../../nodes/lib/services";
import type { AuditEvent } from "../../nodes/lib/audit/audit";
import type { UserRole } from "../../nodes/lib/identity/types";
import { WebSessions } from "../../nodes/lib/security/web-sessions";
import { FakeClock } from "../support/fake-clock";
import { testServices } from "../support/services";

const clock = new FakeClock(Date.UTC(2026, 11, 7, 9, 0, 0));
const roles = new Map<string, UserRole>();
const audits: AuditEvent[] = [];
const webSessions = new WebSessions({ file: null, clock, lifetimeMs: 60 * 60_000, roleOf: (name) => roles.get(name) ?? null });
const options = { sessions: () => webSessions, audit: () => ({ record: (e: AuditEvent) => void audits.push(e) }) };
let cookie = "";

class FakeSocket implements DashboardSocket {
  private readonly onDisconnect: Array<() => void> = [];
  private readonly packetMiddleware: Array<(packet: unknown[], next: (err?: Error) => void) => void> = [];

  constructor(
    readonly id: string,
    address: string,
  ) {
    this.handshake = { address, headers: { cookie } };
  }

  readonly handshake: { address: string; headers: { cookie: string } };

  on(_event: "disconnect", listener: () => void): void {
    this.onDisconnect.push(listener);
  }

  use(fn: (packet: unknown[], next: (err?: Error) => void) => void): void {
    this.packetMiddleware.push(fn);
  }

  /** A packet as socket.io hands it to the per-socket middleware. */
  receive(packet: unknown[]): unknown[] {
    for (const fn of this.packetMiddleware) fn(packet, () => undefined);
    return packet;
  }

  disconnect(): void {
    for (const l of this.onDisconnect) l();
  }
}

function connect(sockets: DashboardSockets, id: string, address: string): FakeSocket {
  const socket = new FakeSocket(id, address);
  let passed = false;
  sockets.middleware(socket, (err) => {
    assert.equal(err, undefined);
    passed = true;
  });
  assert.ok(passed, "the connection goes on");
  return socket;
}

describe("dashboard sockets", () => {
  before(() => {
    roles.set("pat", "operator");
    cookie = webSessions.start({ name: "pat", role: "operator", via: "password" }).setCookie.split(";")[0]!;
  });

  it("refuses a browser without a live session, clearly and audited", () => {
    const sockets = new DashboardSockets(options);
    for (const c of ["", "pifog_session=not-a-session-value-at-all-0000", "other=1"]) {
      const socket = new FakeSocket("anon", "192.0.2.9");
      socket.handshake.headers.cookie = c;
      let error: Error | undefined;
      sockets.middleware(socket, (err) => (error = err));
      assert.match(String(error?.message), /sign in first/);
      assert.equal(sockets.personOf("anon"), null);
    }
    assert.deepEqual(audits.slice(-1).map((a) => [a.event, a.who]), [["dashboard.socket.refused", "192.0.2.9"]]);
  });

  it("knows each socket's person with the role they have now, until their session ends", () => {
    const sockets = new DashboardSockets(options);
    connect(sockets, "A", "127.0.0.1");
    assert.deepEqual(sockets.personOf("A"), { name: "pat", role: "operator" });
    roles.set("pat", "viewer");
    assert.deepEqual(sockets.personOf("A"), { name: "pat", role: "viewer" }, "demoted: at once");
    roles.set("pat", "operator");
    clock.tick(61 * 60_000);
    assert.equal(sockets.personOf("A"), null, "expired");
    cookie = webSessions.start({ name: "pat", role: "operator", via: "password" }).setCookie.split(";")[0]!;
    connect(sockets, "B", "127.0.0.1");
    assert.equal(sockets.personOf("B")?.name, "pat");
    webSessions.endFor("pat");
    assert.equal(sockets.personOf("B"), null, "signed out everywhere");
    assert.equal(sockets.personOf(undefined), null);
    cookie = webSessions.start({ name: "pat", role: "operator", via: "password" }).setCookie.split(";")[0]!;
  });

  it("knows each connected socket's address (IPv4-mapped as IPv4) until it disconnects", () => {
    const sockets = new DashboardSockets(options);
    const a = connect(sockets, "A", "::ffff:127.0.0.2");
    connect(sockets, "B", "127.0.0.1");
    assert.equal(sockets.addressOf("A"), "127.0.0.2");
    assert.equal(sockets.addressOf("B"), "127.0.0.1");
    assert.equal(sockets.addressOf("C"), undefined);
    assert.equal(sockets.addressOf({ toString: () => "A" }), undefined);
    a.disconnect();
    assert.equal(sockets.addressOf("A"), undefined);
    assert.equal(sockets.size, 1);
  });

  it("overwrites the socketid a page writes into its messages with the socket's own", () => {
    const sockets = new DashboardSockets(options);
    const evil = connect(sockets, "evil", "127.0.0.2");
    connect(sockets, "victim", "127.0.0.1");
    const [, data] = evil.receive(["update-value", { id: "hub-front-ops-ui", socketid: "victim", msg: { topic: "sign-in" } }]);
    assert.equal((data as { socketid: string }).socketid, "evil");
    const [, none] = evil.receive(["update-value", { id: "x", value: 1 }]);
    assert.equal((none as { socketid: string }).socketid, "evil", "and adds it when missing");
    // anything else is left for the dashboard's own checks
    assert.deepEqual(evil.receive(["ui-change", 3]), ["ui-change", 3]);
    assert.deepEqual(evil.receive(["update-value", null]), ["update-value", null]);
  });

  it("stays bounded whatever happens to disconnects", () => {
    const sockets = new DashboardSockets({ ...options, maxSockets: 100 });
    for (let i = 0; i < 1000; i++) connect(sockets, `s${i}`, "127.0.0.1");
    assert.equal(sockets.size, 100);
    assert.equal(sockets.addressOf("s999"), "127.0.0.1");
    assert.equal(sockets.addressOf("s0"), undefined);
  });

  it("is found in the runtime's services", () => {
    const sockets = new DashboardSockets(options);
    const services = testServices({ dataDir: os.tmpdir(), dashboardSockets: sockets });
    assert.equal(servicesOf({ settings: { pifogServices: services } } as never).dashboardSockets, sockets);
  });
});
