// Where flows/facewriter.json's folder store puts a forwarded face crop (pifog/forwarded/<device>/faces):
// <data dir>/faces/<device>/<yyyy>/<mm>/<dd>/<hhmmss>-<ms>-<n>.png, UTC; `n` counts the crops this flow wrote.
import { isTopicLevel } from "../contract";
import { levels } from "./payload";

export function faceFile(topic: unknown, dataDir: string, now: Date, n: number): { device: string; timestamp: string; filename: string } | null {
  const l = levels(topic);
  const device = l[2] || "unknown";
  // a topic level may be `..`, a path's level may not: it would file the crop outside faces/
  if (!isTopicLevel(device) || /^\.+$/.test(device)) return null;
  const p2 = (v: number) => String(v).padStart(2, "0");
  const time = `${p2(now.getUTCHours())}${p2(now.getUTCMinutes())}${p2(now.getUTCSeconds())}-${String(now.getUTCMilliseconds()).padStart(3, "0")}`;
  const day = `${now.getUTCFullYear()}/${p2(now.getUTCMonth() + 1)}/${p2(now.getUTCDate())}`;
  return { device, timestamp: now.toISOString(), filename: `${dataDir}/faces/${device}/${day}/${time}-${n}.png` };
}
