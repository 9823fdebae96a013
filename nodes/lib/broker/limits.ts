// The broker's transport limits as the runtime configures them (PIFOG_MQTT_MAX_PACKET); the nodes read the packet
// limit from the runtime's services (the history stores whatever the broker accepted, so it uses the same number).
import { MQTT_MAX_PACKET_BYTES } from "./packet-guard";

/** A reader that takes nothing is cut after this long without progress (aedes' own default waits 60 s). */
export const DEFAULT_STALL_MS = 5_000;

/** What may wait for one client that does not read: two of the largest packets, and never less than 16 MiB. */
export function maxBufferedBytesFor(maxPacketBytes: number): number {
  return Math.max(16 * 1024 * 1024, 2 * maxPacketBytes);
}

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2 };
/** The smallest limit that still lets the fog's own messages through (CONNECT with credentials, a door event). */
const MIN_PACKET_BYTES = 1024;

/** `8388608`, `8MiB`, `8 MB`, `512k`, `512KiB` → bytes; throws with the accepted forms. */
export function parseByteSize(raw: string, name: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(raw);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  const bytes = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!Number.isFinite(bytes) || bytes < MIN_PACKET_BYTES || bytes > MQTT_MAX_PACKET_BYTES) {
    throw new Error(`${name} must be a size from 1KiB to 256MiB (bytes, or with a unit: 512KiB, 8MiB, 8MB), not "${raw}"`);
  }
  return bytes;
}
