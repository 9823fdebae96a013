// A server listening on a configured port: the port it got (0 asks for a free one), or a PortInUseError naming the
// setting to change. Shared by the broker's listeners, the HTTP server and the device listener; its own module so a
// runtime without the embedded broker never loads aedes for it.
import type { Server as HttpServer } from "node:http";
import type net from "node:net";

export class PortInUseError extends Error {
  constructor(readonly port: number, readonly variable: string) {
    super(`port ${port} is already in use`);
  }
}

export function listen(server: net.Server | HttpServer, port: number, host: string, variable: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off("listening", onListening);
      reject(err.code === "EADDRINUSE" || err.code === "EACCES" ? new PortInUseError(port, variable) : err);
    };
    const onListening = () => {
      server.off("error", onError);
      resolve((server.address() as net.AddressInfo).port);
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
}
