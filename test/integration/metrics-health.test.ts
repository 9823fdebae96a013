// GET /metrics and GET /health on the real hub runtime (its own process, free ports, a temp data dir): a device's
// QoS 0 and 1 messages, a publish the broker refuses and a report the health monitor dead-letters all move the
// counters Prometheus scrapes (read with a strict reader of the text format); /health tells anyone only up or down,
// and a signed-in viewer (session or a token from `pifog user token`) the whole judgement. Every refusal is 401 with
// its reason, in the audit record.
import assert from "node:assert/strict";
import { Audit } from "../../nodes/lib/audit/audit";
import { addUser } from "../../nodes/lib/identity/admin";
import { runCli } from "../../nodes/lib/identity/cli";
import { METRIC_NAMES } from "../../nodes/lib/metrics/runtime-metrics";
import { TestClient } from "../support/mqtt";
import { parseExposition, sampleSum, sampleValue, type Family } from "../support/prometheus";
import { MQTT_ADMIN, redeploy, startRuntime, type TestRuntime } from "../support/runtime";
import { until } from "../support/until";

const SCRAPER = { name: "prometheus", password: "prometheus-scraper-password" };

describe("metrics and health of the hub runtime", function () {
  this.timeout(90_000);
  let rt: TestRuntime;
  let token: string;
  const audit = () => new Audit(rt.dataDir).read();

  before(async () => {
    rt = await startRuntime({ role: "hub" });
    // what a person does for Prometheus: a viewer, and a long-lived token of it (`pifog user token prometheus`)
    await addUser(rt.dataDir, SCRAPER.name, "viewer", SCRAPER.password);
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(["user", "token", SCRAPER.name, "--days", "30"], { env: { PIFOG_DATA_DIR: rt.dataDir }, out: (l) => out.push(l), err: (l) => err.push(l) });
    assert.equal(code, 0, err.join("\n"));
    assert.equal(out.length, 1, "only the token on stdout");
    token = out[0]!;
    assert.match(err.join("\n"), /valid until/);
  });
  after(async () => {
    await rt?.stop();
  });

  async function scrape(headers: Record<string, string> = { authorization: `Bearer ${token}` }): Promise<Map<string, Family>> {
    const res = await fetch(`${rt.info.http}/metrics`, { headers });
    assert.equal(res.status, 200, await res.clone().text());
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    return parseExposition(await res.text());
  }

  it("refuses /metrics to anyone not signed in, saying why, in the audit record", async () => {
    const anonymous = await fetch(`${rt.info.http}/metrics`);
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get("www-authenticate") ?? "", /^Bearer realm="pifog"/);
    assert.match(((await anonymous.json()) as { error: string }).error, /sign in first/);
    const forged = await fetch(`${rt.info.http}/metrics`, { headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA` } });
    assert.equal(forged.status, 401);
    assert.match(((await forged.json()) as { error: string }).error, /invalid token/);
    await until(() => audit().filter((r) => r.event === "api.refused" && r.path === "/metrics").length >= 2, "both refusals in the audit");
    const records = audit().filter((r) => r.event === "api.refused" && r.path === "/metrics");
    assert.ok(records.every((r) => r.status === 401));
  });

  it("counts a device's QoS 0 and 1 messages, a refused publish and a dead letter", async () => {
    const before = await scrape();
    const received = (f: Map<string, Family>, qos: string) => sampleValue(f, METRIC_NAMES.received, { qos }) ?? 0;
    const device = await TestClient.connect(rt.info.mqtt, { ...MQTT_ADMIN, clientId: "metrics-device" });
    try {
      // it listens to its own messages too: each goes out once to it
      await device.subscribe("pifog/sensorpi/metrics-test/#");
      for (let i = 0; i < 3; i++) await device.publish(`pifog/sensorpi/metrics-test/q0-${i}`, String(i), { qos: 0 });
      for (let i = 0; i < 4; i++) await device.publish(`pifog/sensorpi/metrics-test/q1-${i}`, String(i), { qos: 1 });
      await until(() => device.received.filter((m) => m.topic.startsWith("pifog/sensorpi/metrics-test/")).length === 7, "its 7 messages back");
      // a health report that is not JSON: the hub's health monitor cannot take it (the dead-letter record)
      await device.publish("pifog/sensorpi/health", "this is not a health report", { qos: 1 });
      // an anonymous client may not command a door: refused, and the connection closed
      const mallory = await TestClient.connect(rt.info.mqtt, { clientId: "metrics-mallory" });
      const closed = new Promise<void>((resolve) => mallory.client.once("close", () => resolve()));
      void mallory.client.publish("pifog/buttonpi/command", JSON.stringify({ command: "open-door", id: "metrics" }), { qos: 1 });
      await closed;
      await mallory.end();

      // QoS 0 has no acknowledgement: the counters are read until the broker has seen them all
      let after = await scrape();
      await until(
        async () => {
          after = await scrape();
          return received(after, "0") - received(before, "0") >= 3 && (sampleValue(after, METRIC_NAMES.deadLetters, { type: "health-monitor" }) ?? 0) >= 1;
        },
        "the QoS 0 messages and the dead letter in /metrics",
      );
      // (the hub's own devices publish too: at least these)
      assert.ok(received(after, "1") - received(before, "1") >= 5, "four messages and the health report at QoS 1");
      assert.ok(received(after, "0") - received(before, "0") >= 3);
      assert.equal((sampleValue(after, METRIC_NAMES.refused, { reason: "not-allowed" }) ?? 0) - (sampleValue(before, METRIC_NAMES.refused, { reason: "not-allowed" }) ?? 0), 1);
      assert.equal(sampleValue(after, METRIC_NAMES.deadLetters, { type: "health-monitor" }), 1);
      assert.equal(sampleValue(after, METRIC_NAMES.refused, { reason: "not-stored" }), 0);
      const sent = (f: Map<string, Family>, qos: string) => sampleValue(f, METRIC_NAMES.sent, { qos }) ?? 0;
      assert.ok(sent(after, "0") - sent(before, "0") >= 3);
      assert.ok(sent(after, "1") - sent(before, "1") >= 4);
      assert.ok(sampleSum(after, METRIC_NAMES.sent) - sampleSum(before, METRIC_NAMES.sent) >= 7);
      assert.ok((sampleValue(after, METRIC_NAMES.brokerClients) ?? 0) >= 2, "this device and the runtime's own links");
      // the process
      assert.ok((sampleValue(after, "process_resident_memory_bytes") ?? 0) > 10e6);
      assert.equal(after.get("nodejs_eventloop_lag_p99_seconds")?.type, "gauge");
      // the hub's bridges open their outboxes once set up (Slack, e-mail): the families are there (test/unit/runtime-metrics)
      assert.equal(after.get(METRIC_NAMES.outboxDepth)?.type, "gauge");
      assert.equal(after.get(METRIC_NAMES.commitSeconds)?.type, "histogram");
    } finally {
      await device.end();
    }
  });

  it("counts the errors a node logs, by type and id (Node-RED's log, through the settings' handler)", async () => {
    // an admin deploys a tab whose function node fails once, on its inject at start
    await redeploy(
      rt.info.http,
      (flows) => {
        flows.push(
          { id: "metrics-tab", type: "tab", label: "metrics test" },
          { id: "metrics-inject", type: "inject", z: "metrics-tab", once: true, onceDelay: 0.1, repeat: "", payload: "", payloadType: "date", wires: [["metrics-fail"]] },
          { id: "metrics-fail", type: "function", z: "metrics-tab", func: 'throw new Error("a failing node")', outputs: 1, wires: [] },
        );
      },
      "nodes",
    );
    let f = await scrape();
    await until(
      async () => {
        f = await scrape();
        return (sampleValue(f, METRIC_NAMES.nodeErrors, { type: "function", node: "metrics-fail" }) ?? 0) >= 1;
      },
      "the function node's error in /metrics",
    );
    assert.equal(sampleValue(f, METRIC_NAMES.nodeErrors, { type: "function", node: "metrics-fail" }), 1);
  });

  it("takes a signed-in viewer's session as well as a token", async () => {
    const f = await scrape({ cookie: rt.cookies.viewer });
    assert.equal(f.get(METRIC_NAMES.received)?.type, "counter");
  });

  it("tells anyone only up or down, and a signed-in viewer the whole judgement", async () => {
    const anonymous = await fetch(`${rt.info.http}/health`);
    assert.equal(anonymous.status, 200);
    assert.deepEqual(await anonymous.json(), { status: "up" });
    // a stale cookie is nobody: the short answer
    const stale = await fetch(`${rt.info.http}/health`, { headers: { cookie: "pifog_session=not-a-session" } });
    assert.deepEqual(await stale.json(), { status: "up" });

    const visitors: Array<Record<string, string>> = [{ cookie: rt.cookies.viewer }, { authorization: `Bearer ${token}` }];
    for (const headers of visitors) {
      const res = await fetch(`${rt.info.http}/health`, { headers });
      assert.equal(res.status, 200);
      const report = (await res.json()) as {
        status: string;
        components: Record<string, { status: string; reasons: string[]; details?: Record<string, unknown> }>;
      };
      assert.notEqual(report.status, "down", JSON.stringify(report));
      assert.deepEqual(Object.keys(report.components).sort(), ["broker", "flows", "outboxes", "stores"]);
      assert.equal(report.components.broker!.status, "ok", JSON.stringify(report.components.broker));
      assert.equal(report.components.broker!.details!.kind, "embedded");
      assert.equal(report.components.broker!.details!.persistent, true);
      assert.notEqual(report.components.flows!.status, "down");
      assert.ok((report.components.flows!.details!.nodes as number) > 10);
      assert.equal(report.components.stores!.status, "ok");
      for (const c of Object.values(report.components)) assert.equal(c.reasons.length === 0, c.status === "ok");
    }

    // credentials that do not hold are refused, not taken for anonymous
    const forged = await fetch(`${rt.info.http}/health`, { headers: { authorization: "Bearer not-a-token" } });
    assert.equal(forged.status, 401);
    assert.match(((await forged.json()) as { error: string }).error, /invalid token/);
    await until(() => audit().some((r) => r.event === "api.refused" && r.path === "/health"), "the refusal in the audit");
  });
});
