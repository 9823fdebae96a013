// A raw MQTT connection for what mqtt.js will not send (an empty client id with a persistent session, malformed
// packets) or where it will not connect from (a chosen local address): bytes out, parsed packets back.
import net from "node:net";
import mqttPacket, { type Packet } from "mqtt-packet";

export interface RawConnection {
  socket: net.Socket;
  packets: Packet[];
  send(packet: Packet | Buffer): void;
  /** The next packet of type `cmd` (already received, or to come), or null when the connection closes first. */
  next(cmd: Packet["cmd"], timeoutMs?: number): Promise<Packet | null>;
  closed: Promise<void>;
  end(): void;
}

export function rawConnect(port: number, options: { host?: string; localAddress?: string } = {}): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: options.host ?? "127.0.0.1", localAddress: options.localAddress });
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const packets: Packet[] = [];
    const waiters = new Set<() => void>();
    parser.on("packet", (p: Packet) => {
      packets.push(p);
      for (const w of [...waiters]) w();
    });
    parser.on("error", () => socket.destroy());
    socket.on("data", (d: Buffer) => parser.parse(d));
    let isClosed = false;
    const closed = new Promise<void>((r) =>
      socket.once("close", () => {
        isClosed = true;
        for (const w of [...waiters]) w();
        r();
      }),
    );
    socket.on("error", () => undefined);
    socket.once("connect", () => {
      resolve({
        socket,
        packets,
        closed,
        send: (packet) => {
          if (!socket.destroyed) socket.write(Buffer.isBuffer(packet) ? packet : mqttPacket.generate(packet));
        },
        next: (cmd, timeoutMs = 5000) =>
          new Promise((done) => {
            let seen = 0;
            const check = () => {
              for (; seen < packets.length; seen++) {
                if (packets[seen]!.cmd === cmd) {
                  finish(packets[seen]!);
                  return;
                }
              }
              if (isClosed) finish(null);
            };
            const timer = setTimeout(() => finish(null), timeoutMs);
            const finish = (p: Packet | null) => {
              clearTimeout(timer);
              waiters.delete(check);
              done(p);
            };
            waiters.add(check);
            check();
          }),
        end: () => socket.destroy(),
      });
    });
    socket.once("error", reject);
  });
}

export function connectPacket(clientId: string, extra: Partial<mqttPacket.IConnectPacket> = {}): mqttPacket.IConnectPacket {
  return { cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clientId, clean: true, keepalive: 30, ...extra };
}
