// The simulated ESPEasy sensors of flows/sensors.json: plain numbers on their IoTitan topics (each sensor's own
// configured name, as ESPEasy publishes it), a daily curve plus noise.

interface SimSensor {
  topic: string;
  /** The value at the day's mean, how far the daily curve moves it (negative: opposite to temperature), the noise. */
  mean: number;
  swing: number;
  noise: number;
}

const SENSORS: readonly SimSensor[] = [
  { topic: "iotitan/home/up_bed1/dht11/temperature", mean: 20.5, swing: 2, noise: 0.4 },
  { topic: "iotitan/home/up_bed1/dht11/humidity", mean: 48, swing: -6, noise: 2 },
  { topic: "iotitan/home/downstairs/dht22/temperature", mean: 19, swing: 1.5, noise: 0.3 },
  { topic: "iotitan/home/downstairs/dht22/humidity", mean: 52, swing: -5, noise: 2 },
];
const PIR = "iotitan/home/up_bed1/xc-4444/pir";
const PIR_CHANCE = 0.1;

/** One round of readings at local time `at`; `random` gives 0..1. */
export function espeasyReadings(at: Date, random: () => number = Math.random): Array<{ topic: string; payload: string }> {
  const day = (at.getHours() * 60 + at.getMinutes()) / 1440; // 0..1 through the day
  const wave = Math.sin(2 * Math.PI * (day - 0.375)); // coolest near 03:00, warmest near 15:00
  const r1 = (v: number) => Math.round(v * 10) / 10;
  const reading = (s: SimSensor) => ({ topic: s.topic, payload: String(r1(s.mean + s.swing * wave + (random() - 0.5) * s.noise)) });
  const [bedT, bedH, downT, downH] = SENSORS.map(reading);
  return [bedT!, bedH!, { topic: PIR, payload: random() < PIR_CHANCE ? "1" : "0" }, downT!, downH!];
}
