// Who may connect without credentials (PIFOG_BROKER_ANONYMOUS): `loopback` (the default: this machine only, so the
// README's `mosquitto_pub … sim/door1/set` still works here), `off`, or a comma list of CIDRs (`10.0.0.0/24,::1/128`).
// What an anonymous client may then do is acl.ts' ANONYMOUS_RULES.
import net from "node:net";

export type AnonymousSetting = "loopback" | "off" | readonly string[];

export const LOOPBACK_CIDRS: readonly string[] = ["127.0.0.0/8", "::1/128"];

/** Parses the setting; throws naming the first entry that is not a CIDR (or a bare address, taken as one host). */
export function parseAnonymous(raw: string | undefined): AnonymousSetting {
  const text = (raw ?? "").trim().toLowerCase();
  if (text === "" || text === "loopback") return "loopback";
  if (text === "off" || text === "none") return "off";
  const entries = text.split(",").map((e) => e.trim()).filter(Boolean);
  for (const entry of entries) parseCidr(entry);
  return entries;
}

function parseCidr(entry: string): { address: string; prefix: number; family: "ipv4" | "ipv6" } {
  const [address = "", bits] = entry.split("/");
  const family = net.isIPv4(address) ? "ipv4" : net.isIPv6(address) ? "ipv6" : null;
  if (family === null) throw new Error(`"${entry}" is not an address or a CIDR (127.0.0.1/32, 10.0.0.0/24, ::1/128)`);
  const max = family === "ipv4" ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) throw new Error(`"${entry}": the prefix must be 0..${max}`);
  return { address, prefix, family };
}

/** A check of a peer's address against the setting (an IPv4-mapped IPv6 address counts as its IPv4 address). */
export function anonymousAllowed(setting: AnonymousSetting): (address: string | undefined) => boolean {
  if (setting === "off") return () => false;
  const list = new net.BlockList();
  for (const entry of setting === "loopback" ? LOOPBACK_CIDRS : setting) {
    const { address, prefix, family } = parseCidr(entry);
    list.addSubnet(address, prefix, family);
  }
  return (address) => {
    if (!address) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return list.check(mapped[1]!, "ipv4");
    if (net.isIPv4(address)) return list.check(address, "ipv4");
    if (net.isIPv6(address)) return list.check(address, "ipv6");
    return false;
  };
}

/** The setting in words, for the log and the audit. */
export function describeAnonymous(setting: AnonymousSetting): string {
  if (setting === "off") return "off";
  if (setting === "loopback") return `loopback (${LOOPBACK_CIDRS.join(", ")})`;
  return setting.join(", ");
}
