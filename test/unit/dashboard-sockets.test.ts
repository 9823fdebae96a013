// Where dashboard browsers connect from: the socket middleware notes each socket's peer address, forgets it on
import os from "node:os";
// disconnect, stays bounded, and makes every packet's `socketid` the socket's own (a page cannot speak as another).
import assert from "node:assert/strict";
import { DashboardSockets, type DashboardSocket } from "../../nodes/lib/security/dashboard-sockets";
import { servicesOf } from "../../nodes/lib/services";
import { testServices } from "../support/services";

class FakeSocket implements DashboardSocket {
  private readonly onDisconnect: Array<() => void> = [];
  private readonly packetMiddleware: Array<(packet: unknown[], next: (err?: Error) => void) => void> = [];

  constructor(
    readonly id: string,
    address: string,
  ) {
    this.handshake = { address };
  }

  readonly handshake: { address: string };

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
  it("knows each connected socket's address (IPv4-mapped as IPv4) until it disconnects", () => {
    const sockets = new DashboardSockets();
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
    const sockets = new DashboardSockets();
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
    const sockets = new DashboardSockets(100);
    for (let i = 0; i < 1000; i++) connect(sockets, `s${i}`, "127.0.0.1");
    assert.equal(sockets.size, 100);
    assert.equal(sockets.addressOf("s999"), "127.0.0.1");
    assert.equal(sockets.addressOf("s0"), undefined);
  });

  it("is found in the runtime's services", () => {
    const sockets = new DashboardSockets();
    const services = testServices({ dataDir: os.tmpdir(), dashboardSockets: sockets });
    assert.equal(servicesOf({ settings: { pifogServices: services } } as never).dashboardSockets, sockets);
  });
});
