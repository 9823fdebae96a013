// Free loopback ports for the servers a test starts.
import net from "node:net";

export function freePort(): Promise<number> {
  return freePorts(1).then(([port]) => port);
}

/** `n` distinct free ports: every one is held open until all are picked, so the kernel cannot hand the same port out
 * twice (one after another, a just-closed port can come back at once). */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve());
      });
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
  }
}
