// What the broker is handed instead of a raw connection (TCP socket or WebSocket stream): the same bytes both ways,
// with two limits aedes does not have.
// - Inbound: a packet announced bigger than the limit closes the connection at its fixed header (packet-guard.ts),
//   before aedes' parser buffers its payload.
// - Outbound: aedes waits for 'drain' before it calls a delivery done, and its message router runs a bounded number
//   of deliveries at once, so one subscriber that stops reading freezes delivery to everyone until aedes' drain
//   timeout. Here a write is always done at once (aedes never waits); what the peer has not taken stays in the
//   connection's own buffer, bounded: over `maxBufferedBytes`, or no progress for `stallMs`, the client is cut.
import { Duplex } from "node:stream";
import type { AuditEvent } from "../audit/audit";
import { systemClock, type Clock } from "../clock";
import { PacketSizeGuard, type PacketVerdict } from "./packet-guard";

export interface ConnectionLimits {
  maxPacketBytes: number;
  /** Bytes waiting for a peer that does not read, before it is cut. */
  maxBufferedBytes: number;
  /** How long bytes may wait without the peer taking any, before it is cut. */
  stallMs: number;
}

export type Refusal =
  /** `size`, `packetType`: as the fixed header announced them (null when ws refused the frame before MQTT saw it). */
  | { kind: "too-large"; size: number | null; packetType: number | null }
  | { kind: "malformed" }
  | { kind: "not-reading"; bufferedBytes: number; stalledMs: number | null };

export interface GuardOptions extends ConnectionLimits {
  /** The listener (`mqtt`, `mqtt-ws`) and the peer's address, for the record. */
  via: string;
  address: string;
  clock?: Clock;
  /** Called once, when the guard closes the connection: the refusal as the audit records it. */
  onRefusal: (event: AuditEvent, refusal: Refusal) => void;
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/** A refusal in the audit's words; `who` is the MQTT client id once the CONNECT was read, else the address. */
export function refusalEvent(refusal: Refusal, clientId: string | null, o: Pick<GuardOptions, "via" | "address" | "maxPacketBytes" | "maxBufferedBytes">): AuditEvent {
  const base = { via: o.via, who: clientId ? `mqtt:${clientId}` : o.address, address: o.address };
  switch (refusal.kind) {
    case "too-large":
      return {
        ...base,
        event: "mqtt.packet.too-large",
        reason:
          refusal.size !== null
            ? `a packet of ${refusal.size} bytes (${mib(refusal.size)}) is over the ${o.maxPacketBytes}-byte limit (PIFOG_MQTT_MAX_PACKET); connection closed before its payload was read`
            : `a WebSocket message over the ${o.maxPacketBytes}-byte limit (PIFOG_MQTT_MAX_PACKET); connection closed before it was read`,
        size: refusal.size ?? undefined,
        packetType: refusal.packetType ?? undefined,
      };
    case "malformed":
      return { ...base, event: "mqtt.packet.malformed", reason: "a packet length that is not MQTT; connection closed" };
    case "not-reading":
      return {
        ...base,
        event: "mqtt.client.cut",
        reason:
          refusal.stalledMs === null
            ? `not reading: ${mib(refusal.bufferedBytes)} waiting for it, over the ${mib(o.maxBufferedBytes)} bound; cut so the others keep their deliveries`
            : `not reading: nothing taken for ${refusal.stalledMs / 1000} s with ${mib(refusal.bufferedBytes)} waiting; cut so the others keep their deliveries`,
        bufferedBytes: refusal.bufferedBytes,
      };
  }
}

export class GuardedConnection extends Duplex {
  private readonly sizes: PacketSizeGuard;
  private readonly clock: Clock;
  /** Bytes handed to the inner stream; minus what it still buffers, what the peer (or the kernel) took. */
  private written = 0;
  /** What waits here while the inner stream is above its high-water mark: kept as a few large pieces, not as the
   * inner stream's thousands of small queued writes (each of which would cost an error object when it is cut). */
  private readonly waiting: Array<{ parts: Buffer[]; bytes: number }> = [];
  private waitingBytes = 0;
  private stallTimer: unknown = null;
  private flushedAtMark = 0;
  private refused = false;

  constructor(private readonly inner: Duplex, private readonly o: GuardOptions) {
    // aedes must never see backpressure from this side: a write is done at once, the bound is ours
    super({ allowHalfOpen: false, writableHighWaterMark: o.maxBufferedBytes + o.maxPacketBytes });
    this.sizes = new PacketSizeGuard(o.maxPacketBytes);
    this.clock = o.clock ?? systemClock;
    inner.on("data", (chunk: Buffer) => this.received(chunk));
    inner.on("end", () => this.push(null));
    inner.on("error", (err: Error) => this.destroy(err));
    inner.on("drain", () => this.flush());
    // once refused, aedes is told by the end of what it reads (refuse()), not by a destroyed stream
    inner.on("close", () => {
      if (!this.refused) this.destroy();
    });
  }

  /** The peer's address (a TCP socket's; a WebSocket's is on its HTTP request), for who-is-who checks. */
  get remoteAddress(): string | undefined {
    return (this.inner as { remoteAddress?: string }).remoteAddress;
  }

  /** The MQTT client id, once aedes has read the CONNECT (aedes sets `conn.client` on what it handles). */
  get clientId(): string | null {
    return (this as unknown as { client?: { id?: string | null } }).client?.id ?? null;
  }

  private received(chunk: Buffer): void {
    if (this.refused) return;
    const verdict: PacketVerdict = this.sizes.feed(chunk);
    if (!verdict.ok) {
      this.refuse(verdict.reason === "too-large" ? { kind: "too-large", size: verdict.size, packetType: verdict.type } : { kind: "malformed" });
      return;
    }
    if (!this.push(chunk)) this.inner.pause();
  }

  override _read(): void {
    this.inner.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.forward([chunk]);
    callback();
  }

  // mqtt-packet corks the stream for each packet (header, topic, payload): hand them on as one write, as the
  // socket would have sent them (one system call instead of one per piece)
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.forward(chunks.map((c) => c.chunk));
    callback();
  }

  private forward(chunks: Buffer[]): void {
    if (this.refused || this.inner.destroyed) return;
    if (this.waiting.length === 0 && !this.inner.writableNeedDrain) {
      if (chunks.length > 1) this.inner.cork();
      for (const chunk of chunks) this.handOn(chunk);
      if (chunks.length > 1) this.inner.uncork();
    } else {
      for (const chunk of chunks) this.wait(chunk);
    }
    const buffered = this.buffered();
    if (buffered > this.o.maxBufferedBytes) this.refuse({ kind: "not-reading", bufferedBytes: buffered, stalledMs: null });
    else if (buffered > 0) this.watchStall();
  }

  private handOn(chunk: Buffer): void {
    this.inner.write(chunk);
    this.written += chunk.length;
  }

  /** Appends to the waiting pieces: small chunks are grouped into pieces of up to 64 KiB, joined when handed on. */
  private wait(chunk: Buffer): void {
    const last = this.waiting.at(-1);
    if (last && last.bytes + chunk.length <= 65_536) {
      last.parts.push(chunk);
      last.bytes += chunk.length;
    } else {
      this.waiting.push({ parts: [chunk], bytes: chunk.length });
    }
    this.waitingBytes += chunk.length;
  }

  private nextPiece(): Buffer {
    const piece = this.waiting.shift()!;
    this.waitingBytes -= piece.bytes;
    return piece.parts.length === 1 ? piece.parts[0]! : Buffer.concat(piece.parts, piece.bytes);
  }

  /** The inner stream took its buffer: hand on what waits, until it is full again. */
  private flush(): void {
    while (this.waiting.length > 0 && !this.refused && !this.inner.destroyed && !this.inner.writableNeedDrain) {
      this.handOn(this.nextPiece());
    }
  }

  /** Everything not yet taken by the peer: what waits here and what the inner stream still buffers. */
  private buffered(): number {
    return this.waitingBytes + this.inner.writableLength;
  }

  override _final(callback: (error?: Error | null) => void): void {
    // a graceful end: what still waits goes first
    while (this.waiting.length > 0) this.handOn(this.nextPiece());
    this.inner.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.stopWatching();
    this.inner.destroy();
    callback(error);
  }

  private flushed(): number {
    return this.written - this.inner.writableLength;
  }

  private watchStall(): void {
    if (this.stallTimer !== null) return;
    this.flushedAtMark = this.flushed();
    this.stallTimer = this.clock.setTimeout(() => {
      this.stallTimer = null;
      if (this.refused || this.destroyed) return;
      const buffered = this.buffered();
      if (buffered === 0) return;
      // a slow reader that takes something is left alone (the byte bound still holds); one that takes nothing is cut
      if (this.flushed() > this.flushedAtMark) return this.watchStall();
      this.refuse({ kind: "not-reading", bufferedBytes: buffered, stalledMs: this.o.stallMs });
    }, this.o.stallMs);
  }

  private stopWatching(): void {
    if (this.stallTimer !== null) this.clock.clearTimeout(this.stallTimer);
    this.stallTimer = null;
  }

  /** Closes the connection for `refusal` (also for one found below this stream: ws refusing a message's size). */
  refuse(refusal: Refusal): void {
    if (this.refused) return;
    this.refused = true;
    this.inner.pause();
    try {
      this.o.onRefusal(refusalEvent(refusal, this.clientId, this.o), refusal);
    } finally {
      // the peer is cut at once; aedes learns it from the end of what it reads and closes the client (destroying
      // this stream) before it writes again. Destroying this stream first would make every delivery still under way
      // for this client fail with an error object built for each piece: hundreds of ms for a `#` subscriber.
      this.stopWatching();
      this.waiting.length = 0;
      this.waitingBytes = 0;
      this.inner.destroy();
      this.push(null);
    }
  }
}
