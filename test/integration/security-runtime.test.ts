// The runtime's broker with the data dir's identities (the launcher's wiring): a TLS listener on PIFOG_MQTTS_PORT for
// the devices the CLI enrols while it runs, a revocation honoured at once, anonymous clients held to the web page.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { MqttClient } from "mqtt";
import { Audit } from "../../nodes/lib/audit/audit";
import { topics } from "../../nodes/lib/contract";
import { addDevice, revokeDevice } from "../../nodes/lib/identity/admin";
import { MQTT_ADMIN, startRuntime, type TestRuntime } from "../support/runtime";
import { attempt, closed, subscribeGranted, tlsAs } from "../support/security";
import { until } from "../support/until";

describe("security: the runtime's broker and the data dir's identities (role hub)", function () {
  this.timeout(90_000);
  let rt: TestRuntime;

  before(async () => {
    rt = await startRuntime({ role: "hub" });
  });
  after(async () => {
    await rt?.stop();
  });

  it("serves TLS for a device enrolled while it runs, and drops it at once when it is revoked", async () => {
    assert.ok(rt.info.mqtts, "a TLS listener (the data dir has a CA)");
    const bundle = await addDevice(rt.dataDir, "frontdoor", "doorpi", { hubUrl: rt.info.mqtts!, now: new Date() });
    const ca = fs.readFileSync(path.join(rt.dataDir, "identity", "ca.crt"), "utf8");
    // the running broker reads the new device from the data dir (the store watches it)
    const connected: MqttClient[] = [];
    await until(async () => {
      const a = await attempt(rt.info.mqtts!, tlsAs("frontdoor", bundle, ca), 2000);
      if (a.ok) connected.push(a.client);
      return a.ok;
    }, "the new device's connection", 10_000);
    const client = connected[0]!;
    await client.publishAsync(topics.doors("frontdoor"), '{"device":"frontdoor"}', { qos: 1, retain: true });
    const gone = closed(client, 10_000);
    await revokeDevice(rt.dataDir, "frontdoor", new Date());
    assert.equal(await gone, true, "dropped at once");
    await until(() => new Audit(rt.dataDir).read().some((r) => r.event === "mqtt.client.revoked" && r.clientId === "frontdoor"), "the drop in the audit");
    assert.equal((await attempt(rt.info.mqtts!, tlsAs("frontdoor", bundle, ca))).ok, false, "and refused from then on");
  });

  it("an anonymous client on this machine reads the doors but not the faces, and may not command", async () => {
    const anon = await attempt(rt.info.mqtt, { clientId: "web-anon" });
    assert.ok(anon.ok);
    assert.deepEqual(await subscribeGranted(anon.client, { "pifog/+/doors": { qos: 1 }, "pifog/+/faces": { qos: 1 }, "pifog/forwarded/+/faces": { qos: 1 } }), [1, 128, 128]);
    const cut = closed(anon.client);
    anon.client.publish(topics.command("hub"), '{"command":"ping","id":"anon"}', { qos: 1 });
    assert.equal(await cut, true);
    const admin = await attempt(rt.info.mqtt, { clientId: "admin-check", ...MQTT_ADMIN });
    assert.ok(admin.ok, "the data dir's admin user logs in");
    admin.client.end(true);
  });
});
