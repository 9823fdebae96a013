// A broker setting names one broker or a cluster's nodes; a client tries them in turn.
import assert from "node:assert/strict";
import net from "node:net";
import { BrokerUrlError, brokerUrls, connectBrokers, firstBrokerUrl } from "../../nodes/lib/mqtt/broker-urls";
import { freePort } from "../support/ports";

describe("broker URLs", () => {
  it("splits a comma list, trimmed, and checks every URL", () => {
    assert.deepEqual(brokerUrls(" mqtt://a:1883 , mqtts://b ,ws://c/mqtt"), ["mqtt://a:1883", "mqtts://b", "ws://c/mqtt"]);
    assert.throws(() => brokerUrls("mqtt://a,http://b"), BrokerUrlError);
    assert.throws(() => brokerUrls(" , "), BrokerUrlError);
    assert.equal(firstBrokerUrl("mqtt://a:1,mqtt://b:2"), "mqtt://a:1");
  });

  it("connects to the next node when the first one is down", async () => {
    const dead = await freePort(); // nothing listens there
    const alive = net.createServer((s) => {
      got(s.remotePort ?? 0);
      s.destroy();
    });
    let got: (port: number) => void = () => undefined;
    const reached = new Promise<number>((resolve) => (got = resolve));
    await new Promise<void>((resolve) => alive.listen(0, "127.0.0.1", () => resolve()));
    const port = (alive.address() as net.AddressInfo).port;
    const client = connectBrokers(`mqtt://127.0.0.1:${dead},mqtt://127.0.0.1:${port}`, { reconnectPeriod: 10, connectTimeout: 1000 });
    try {
      assert.ok((await reached) > 0, "the second node was tried");
    } finally {
      client.end(true);
      await new Promise((r) => alive.close(r));
    }
  });
});
