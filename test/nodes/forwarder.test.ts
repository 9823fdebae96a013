import assert from "node:assert/strict";
import crypto from "node:crypto";
import { RUNTIME_USER } from "../../nodes/lib/broker/client-guard";
import { EmbeddedBroker } from "../../nodes/lib/broker/embedded-broker";
import { DeadLetterFile } from "../../nodes/lib/dead-letter";
import forwarder from "../../nodes/forwarder/forwarder";
import { normaliseForwarder, remapTopic, type ForwarderDef } from "../../nodes/forwarder/rules";
import pifogDevice from "../../nodes/pifog-device/pifog-device";
import { freePort } from "../support/ports";
import { helper, hubFlow, loadUntilOnline, startHarness, type Harness } from "../support/node-harness";
import { until } from "../support/until";

const nodes = [pifogDevice, forwarder];
const REMOTE_PASSWORD = "remote-broker-secret";

interface Arrived {
  topic: string;
  payload: Buffer;
  clientId: string | null;
}

/** The remote side: an embedded broker that records every PUBLISH a client sends it, across restarts on one port. */
class Remote {
  readonly arrived: Arrived[] = [];
  broker: EmbeddedBroker | null = null;
  login: { username: string; password: string } | null = null;
  /** Logins the broker refused. */
  refusedLogins = 0;

  constructor(readonly port: number) {}

  /** Without a login of its own, the forwarder logs in as the remote broker's runtime user (in the URL). */
  get url(): string {
    return this.login ? `mqtt://127.0.0.1:${this.port}` : `mqtt://${RUNTIME_USER}:${REMOTE_PASSWORD}@127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const broker = await EmbeddedBroker.start({ port: this.port, host: "127.0.0.1", runtimePassword: REMOTE_PASSWORD });
    const login = this.login;
    if (login) {
      // the test's own user: once it is checked, the client is the broker's runtime user (it may publish anything)
      broker.aedes.authenticate = (client, username, password, callback) => {
        const ok = username === login.username && password?.toString() === login.password;
        if (!ok) {
          this.refusedLogins++;
          return callback(Object.assign(new Error("bad login"), { returnCode: 4 }), false);
        }
        broker.guard.authenticate(client, RUNTIME_USER, Buffer.from(REMOTE_PASSWORD), callback);
      };
    }
    broker.aedes.on("publish", (packet, client) => {
      if (client) this.arrived.push({ topic: packet.topic, payload: Buffer.from(packet.payload), clientId: client.id });
    });
    this.broker = broker;
  }

  async stop(): Promise<void> {
    const broker = this.broker;
    this.broker = null;
    await broker?.close();
  }

  on(prefix: string): Arrived[] {
    return this.arrived.filter((a) => a.topic.startsWith(prefix));
  }
}


describe("forwarder node", () => {
  let h: Harness;
  let remote: Remote;

  function flow(extra: Record<string, unknown> = {}) {
    return hubFlow(h.url, {
      id: "fwd",
      type: "forwarder",
      z: "tab",
      device: "cfg-hub",
      remoteUrl: remote.url,
      qos: "1",
      rules: [
        { filter: "local/faces/#", from: "local/", to: "remote/" },
        { filter: "faces", from: "", to: "" },
      ],
      retained: false,
      maxItems: 100_000,
      maxMegabytes: 100,
      policy: "refuse",
      batchSize: 50,
      wires: [],
      ...extra,
    });
  }

  function publishLocal(topic: string, payload: Buffer | string, retain = false): Promise<unknown> {
    return h.client.client.publishAsync(topic, payload, { qos: 1, retain });
  }

  /** Sends one more message through the forwarder and waits for it at the remote broker: the node forwards in
   * order, so anything it would send again (a duplicate, a refused message) has arrived before it. */
  async function barrier(): Promise<void> {
    await publishLocal("local/faces/barrier", "barrier");
    await until(() => remote.on("remote/faces/barrier").length === 1, "the barrier message");
  }
  const notBarrier = (a: Arrived) => a.topic !== "remote/faces/barrier";

  /** Messages in the node's queue. */
  function queued(): number {
    return (helper.getNode("fwd") as unknown as { outbox: { size: number } | null }).outbox?.size ?? -1;
  }

  beforeEach(async () => {
    h = await startHarness();
    h.useServices({ tuning: { forwarderReconnectMs: 100 } });
    remote = new Remote(await freePort());
  });
  afterEach(async () => {
    await h.close();
    await remote.stop();
  });

  it("forwards the chosen filters remapped, binary payloads byte for byte, and skips retained replays", async () => {
    await remote.start();
    await publishLocal("local/faces/old", "stored before the node started", true);
    await loadUntilOnline(h, nodes, flow());
    const png = crypto.randomBytes(4096);
    png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff]);
    await publishLocal("local/faces/cam1", png);
    await publishLocal("faces", Buffer.from([0, 1, 2, 254, 255]));
    await publishLocal("local/other", "not chosen");
    await publishLocal("local/faces/cam2", "last");
    await until(() => remote.on("remote/faces/cam2").length === 1, "the last face");

    const forwarded = remote.arrived.filter((a) => a.topic !== "" && !a.topic.startsWith("$SYS"));
    assert.deepEqual(
      forwarded.map((a) => a.topic),
      ["remote/faces/cam1", "faces", "remote/faces/cam2"],
      "only the chosen topics, remapped, in order; the retained replay is not forwarded",
    );
    assert.ok((forwarded[0] as Arrived).payload.equals(png), "the PNG arrives byte for byte");
    assert.deepEqual([...(forwarded[1] as Arrived).payload], [0, 1, 2, 254, 255]);
  });

  it("loses nothing, in order and none twice, when the remote broker stops during a burst and comes back", async () => {
    await remote.start();
    await loadUntilOnline(h, nodes, flow());
    const total = 500;
    const publishing = (async () => {
      for (let i = 0; i < total; i++) {
        await publishLocal(`local/faces/${i}`, Buffer.from(`face ${i}`));
        if (i === 100) await remote.stop();
        if (i === 400) await remote.start();
      }
    })();
    await publishing;
    await until(() => remote.on("remote/faces/").length >= total, `all ${total} messages`, 60_000);
    await barrier(); // a duplicate would arrive before it
    const got = remote.on("remote/faces/").filter(notBarrier).map((a) => a.topic);
    assert.deepEqual(got, Array.from({ length: total }, (_v, i) => `remote/faces/${i}`), "each once, in order");
  });

  it("keeps what it queued across a node restart while the remote broker is down, and delivers it after", async () => {
    await loadUntilOnline(h, nodes, flow()); // the remote broker is not running
    for (let i = 0; i < 20; i++) await publishLocal(`local/faces/${i}`, Buffer.from([i, 0xff]));
    await until(() => queued() === 20, "20 queued");
    await helper.unload();
    await loadUntilOnline(h, nodes, flow()); // back, the remote broker still down
    const statuses: Array<{ fill?: string; text?: string }> = [];
    (helper.getNode("fwd") as unknown as NodeJS.EventEmitter).on("call:status", (call: { args: [{ fill?: string; text?: string }] }) =>
      statuses.push(call.args[0]),
    );
    await until(() => statuses.some((st) => st.fill === "yellow" && /disconnected-queued/.test(st.text ?? "")), "the node showing it waits, queued");
    assert.equal(remote.arrived.length, 0);
    assert.equal(queued(), 20, "the queue survived the restart");
    await remote.start();
    await until(() => remote.on("remote/faces/").length >= 20, "the 20 queued messages");
    await until(() => queued() === 0 && statuses.some((st) => st.fill === "green"), "a green status, nothing queued");
    const got = remote.on("remote/faces/");
    assert.deepEqual(got.map((a) => a.topic), Array.from({ length: 20 }, (_v, i) => `remote/faces/${i}`));
    got.forEach((a, i) => assert.deepEqual([...a.payload], [i, 0xff]));
  });

  it("refuses new messages when the quota is full: a Catch-able error, a dead-letter record and a red status", async () => {
    await loadUntilOnline(h, nodes, flow({ maxItems: 3 })); // the remote broker is down: nothing drains
    const caught: Array<{ error: { message: string }; topic: string }> = [];
    (helper.getNode("caught") as unknown as NodeJS.EventEmitter).on("input", (msg: { error: { message: string }; topic: string }) =>
      caught.push(msg),
    );
    const statuses: Array<{ fill?: string; text?: string }> = [];
    (helper.getNode("fwd") as unknown as NodeJS.EventEmitter).on("call:status", (call: { args: [{ fill?: string; text?: string }] }) =>
      statuses.push(call.args[0]),
    );
    for (let i = 0; i < 5; i++) await publishLocal(`local/faces/${i}`, `face ${i}`);
    await until(() => caught.length === 2, "two refusals caught");
    assert.deepEqual(caught.map((m) => m.topic), ["local/faces/3", "local/faces/4"]);
    assert.match(caught[0]?.error.message ?? "", /full/);
    const letters = new DeadLetterFile(h.dataDir).read().filter((l) => l.type === "forwarder");
    assert.deepEqual(letters.map((l) => [l.topic, l.payload]), [["local/faces/3", "face 3"], ["local/faces/4", "face 4"]]);
    assert.ok(statuses.some((s) => s.fill === "red" && /full/.test(s.text ?? "")), "a red 'full' status");

    await remote.start(); // what was queued still goes
    await until(() => remote.on("remote/faces/").length >= 3, "the 3 queued");
    await barrier(); // a refused message sent after all would arrive before it
    assert.deepEqual(remote.on("remote/faces/").filter(notBarrier).map((a) => a.topic), ["remote/faces/0", "remote/faces/1", "remote/faces/2"]);
  });

  it("drops the oldest queued messages when so configured, with a dead-letter record of each", async () => {
    await loadUntilOnline(h, nodes, flow({ maxItems: 3, policy: "drop-oldest" }));
    for (let i = 0; i < 5; i++) await publishLocal(`local/faces/${i}`, `face ${i}`);
    await until(() => new DeadLetterFile(h.dataDir).read().length === 2, "two dropped");
    assert.deepEqual(new DeadLetterFile(h.dataDir).read().map((l) => l.topic), ["local/faces/0", "local/faces/1"]);
    await remote.start();
    await until(() => remote.on("remote/faces/").length >= 3, "the 3 kept");
    assert.deepEqual(remote.on("remote/faces/").map((a) => a.topic), ["remote/faces/2", "remote/faces/3", "remote/faces/4"]);
  });

  it("forwards at QoS 0 too", async () => {
    await remote.start();
    await loadUntilOnline(h, nodes, flow({ qos: "0" }));
    for (let i = 0; i < 10; i++) await publishLocal(`local/faces/${i}`, Buffer.from([i]));
    await until(() => remote.on("remote/faces/").length >= 10, "10 messages");
    assert.deepEqual(remote.on("remote/faces/").map((a) => a.payload[0]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await until(() => queued() === 0, "an empty queue");
  });

  it("logs in to the remote broker with its credentials", async () => {
    remote.login = { username: "fog", password: "s3cret" };
    await remote.start();
    await helper.load(nodes, flow() as Parameters<typeof helper.load>[1], { fwd: { username: "fog", password: "s3cret" } });
    await h.client.waitFor("pifog/hub/status", (m) => m.payload.includes('"online"'), 10_000, false);
    await publishLocal("faces", "hello");
    await until(() => remote.on("faces").length === 1, "the face through a logged-in connection");
    assert.equal(remote.on("faces")[0]?.payload.toString(), "hello");
  });

  it("does not get in with a wrong password: the message stays queued", async () => {
    remote.login = { username: "fog", password: "s3cret" };
    await remote.start();
    await helper.load(nodes, flow() as Parameters<typeof helper.load>[1], { fwd: { username: "fog", password: "wrong" } });
    await h.client.waitFor("pifog/hub/status", (m) => m.payload.includes('"online"'), 10_000, false);
    await publishLocal("faces", "hello");
    await until(() => queued() === 1, "queued");
    // the broker refused the login and the node has the refusal (mqtt.js does not retry a refused CONNACK)
    const warned = () => helper.log().args.some((a) => JSON.stringify(a).includes("forwarder.errors.remote"));
    await until(() => remote.refusedLogins >= 1 && warned(), "the refused login, reported");
    assert.equal(remote.on("faces").length, 0);
  });
});

describe("forwarder topic remapping", () => {
  const base = { id: "n1", type: "forwarder", name: "", z: "", remoteUrl: "mqtt://r:1883" } as unknown as ForwarderDef;

  it("replaces a prefix, prepends with an empty 'from', keeps other topics, and the first matching filter decides", () => {
    const s = normaliseForwarder(
      {
        ...base,
        rules: [
          { filter: "local/faces/#", from: "local/", to: "site1/" },
          { filter: "local/#", from: "local/", to: "other/" },
          { filter: "cams/+", from: "", to: "fog/" },
          { filter: "x/#", from: "y/", to: "z/" },
        ],
      },
      {},
      "n1",
    );
    assert.equal(remapTopic(s.rules, "local/faces/1"), "site1/faces/1");
    assert.equal(remapTopic(s.rules, "local/door"), "other/door");
    assert.equal(remapTopic(s.rules, "cams/1"), "fog/cams/1");
    assert.equal(remapTopic(s.rules, "x/1"), "x/1");
    assert.equal(s.qos, 1);
    assert.equal(s.policy, "refuse");
  });

  it("refuses settings a user must fix", () => {
    assert.throws(() => normaliseForwarder({ ...base, rules: [] }, {}, "n1"), /at least one/);
    assert.throws(() => normaliseForwarder({ ...base, rules: [{ filter: "a/#/b", from: "", to: "" }] }, {}, "n1"), /filter/);
    assert.throws(() => normaliseForwarder({ ...base, remoteUrl: "http://x", rules: [{ filter: "a", from: "", to: "" }] }, {}, "n1"), /mqtt/);
    assert.throws(() => normaliseForwarder({ ...base, qos: 2, rules: [{ filter: "a", from: "", to: "" }] }, {}, "n1"), /QoS/);
  });
});
