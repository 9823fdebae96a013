// Follows the MQTT fixed headers of one byte stream (a connection's inbound side) without parsing packets, so a
// packet announced bigger than the limit is refused from its first bytes, before its payload is read. The MQTT
// parser (mqtt-packet, under aedes) has no size limit: it buffers whatever the remaining length announces.

/** The default limit on one MQTT packet (fixed header included): a high-res still (1900×1200 JPEG, base64 in JSON,
 * as PiFog's camera sends it: 1 to 5 MB) fits with room to spare. */
export const DEFAULT_MAX_PACKET_BYTES = 8 * 1024 * 1024;

/** MQTT's own ceiling: a remaining length of at most four 7-bit digits (268,435,455) plus a 5-byte fixed header. */
export const MQTT_MAX_PACKET_BYTES = 268_435_455 + 5;

export type PacketVerdict =
  | { ok: true }
  /** `size`: the whole packet as announced (fixed header + remaining length). */
  | { ok: false; reason: "too-large"; size: number; type: number }
  /** a remaining length with a fifth continuation byte: not MQTT, nothing after it can be followed */
  | { ok: false; reason: "malformed" };

const OK: PacketVerdict = { ok: true };

export class PacketSizeGuard {
  /** Bytes of the current packet's body still to come; while 0 a fixed header is being read. */
  private skip = 0;
  private headerBytes = 0;
  private type = 0;
  private length = 0;
  private multiplier = 1;
  private verdict: PacketVerdict = OK;

  constructor(readonly maxPacketBytes: number) {}

  /** Follows one more chunk of the stream; the first refusal sticks (the caller closes the connection). */
  feed(chunk: Uint8Array): PacketVerdict {
    if (!this.verdict.ok) return this.verdict;
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      const byte = chunk[i++]!;
      if (this.headerBytes === 0) {
        this.type = byte >> 4;
        this.headerBytes = 1;
        this.length = 0;
        this.multiplier = 1;
        continue;
      }
      this.headerBytes++;
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      if (byte & 0x80) {
        if (this.headerBytes === 5) return (this.verdict = { ok: false, reason: "malformed" });
        continue;
      }
      const size = this.headerBytes + this.length;
      if (size > this.maxPacketBytes) return (this.verdict = { ok: false, reason: "too-large", size, type: this.type });
      this.skip = this.length;
      this.headerBytes = 0;
    }
    return OK;
  }
}
