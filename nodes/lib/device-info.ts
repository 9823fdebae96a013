// What a device says about itself when it comes online.
import os from "node:os";
import type { NetworkAddress } from "./contract";

export function ipv4Addresses(): NetworkAddress[] {
  const out: NetworkAddress[] = [];
  for (const [iface, infos] of Object.entries(os.networkInterfaces())) {
    for (const info of infos ?? []) {
      if (info.family === "IPv4" && !info.internal) out.push({ iface, address: info.address });
    }
  }
  return out;
}

export function bootTime(now: number = Date.now()): Date {
  return new Date(now - os.uptime() * 1000);
}

export function pifogVersion(): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require("../../../package.json") as { version: string }).version;
  } catch {
    return "0.0.0";
  }
}
