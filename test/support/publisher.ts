// A separate publisher process for the zero-loss tests: sends N QoS 1 messages with up to `window` in flight,
// rides out broker restarts (mqtt.js resends what was not acknowledged), and prints what was acknowledged.
// usage: node publisher.js <url> <count> <topicPrefix> [window]
import mqtt from "mqtt";

const [url, countArg, prefix, windowArg] = process.argv.slice(2);
const count = Number(countArg);
const window = Number(windowArg ?? 100);
if (!url || !prefix || !Number.isInteger(count)) {
  console.error("usage: publisher <url> <count> <topicPrefix> [window]");
  process.exit(2);
}

const client = mqtt.connect(url, { clientId: `pifog-test-publisher-${process.pid}`, clean: true, reconnectPeriod: 200, connectTimeout: 3000 });
const acked: number[] = [];
const inFlight = new Set<number>();
let next = 0;
let inflight = 0;
let lastReport = 0;

function pump(): void {
  while (inflight < window && next < count) {
    const seq = next++;
    inflight++;
    inFlight.add(seq);
    client.publish(`${prefix}/${seq % 10}`, String(seq), { qos: 1 }, (err) => {
      inflight--;
      inFlight.delete(seq);
      if (err) {
        console.error(`error ${seq}: ${err.message}`);
        return;
      }
      acked.push(seq);
      if (acked.length - lastReport >= 1000) {
        lastReport = acked.length;
        console.log(`progress ${acked.length}`);
      }
      if (acked.length === count) finish();
      else pump();
    });
  }
}

function finish(): void {
  console.log(`acked ${JSON.stringify(acked)}`);
  client.end(true, () => process.exit(0));
}

let connects = 0;
client.on("connect", () => {
  // a second connect means a resend of whatever was in flight: the broker may then hold it twice (QoS 1)
  if (++connects > 1) console.log(`resent ${JSON.stringify([...inFlight])}`);
  pump();
});
client.on("error", () => undefined);
process.on("SIGTERM", () => {
  console.log(`acked ${JSON.stringify(acked)}`);
  process.exit(1);
});
