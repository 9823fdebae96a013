// When the fog outgrows the embedded broker: a Mosquitto 2 configuration with the same policy, generated from the
// same ACL table (acl.ts) and the data dir's identities. `pifog broker mosquitto-conf` calls writeMosquittoConf.
//
// What it writes to `outDir`:
//   mosquitto.conf  a TLS listener for the devices (require_certificate, use_identity_as_username: the certificate's
//                   CN is the user name the ACL knows; the local CA, the hub's server certificate, the CRL), a password
//                   listener for users (and devices that cannot do TLS), an anonymous listener when anonymous clients
//                   are allowed, persistence on, queue limits that are counted and logged when reached;
//   acl             the anonymous rules first, then a `user` block per device (its role's rules with its id and PiFog
//                   name filled in) and per user (its role's rules);
//   passwd          Mosquitto's own password format (`mosquitto_passwd`), for the users whose passwords are given:
//                   PiFog keeps only bcrypt hashes, which Mosquitto cannot check.
//
// Differences from the embedded broker, said once here and in the files' comments: Mosquitto's ACL has no notion
// of retain (a device may clear what it may publish); it does not require the client id to equal the certificate's
// CN (the ACL still goes by the CN); Mosquitto 2.0 grants any subscription and applies the ACL to each delivery (a
// device's `#` gets a SUBACK 0 but only what it may read, where the embedded broker answers 0x80); anonymous clients cannot be limited by address in its configuration (the
// anonymous listener is bound to loopback for `loopback`, and to a firewall's care for a CIDR list); it reads the
// CRL and the ACL at start and on SIGHUP, so a revocation or a new device needs this file written again and a reload.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureServerTls } from "../identity/admin";
import { identityPaths } from "../identity/paths";
import { IdentityStore } from "../identity/store";
import type { DeviceRecord, IdentityDirectory, UserRecord } from "../identity/types";
import { ANONYMOUS_RULES, COMPAT_PI, DEFAULT_ACL_POLICY, USER_ROLE_RULES, expandPattern, rulesFor, type AclPolicy, type AclRule, type Placeholders } from "./acl";
import { describeAnonymous, type AnonymousSetting } from "./anonymous";

export interface MosquittoConfOptions {
  /** The password listener (users, devices with a password); default 1883. */
  port?: number;
  /** The TLS listener (devices by certificate); default 8883. */
  tlsPort?: number;
  /** The anonymous listener's port when anonymous clients are allowed; default 1884. */
  anonymousPort?: number;
  /** The address the password and TLS listeners bind to; default every address. */
  host?: string;
  anonymous?: AnonymousSetting;
  /** Where Mosquitto keeps its persistence file; default `<outDir>/data`. */
  persistenceDir?: string;
  /** Messages queued per offline persistent client before Mosquitto drops (counted and logged); default 100 000. */
  maxQueuedMessages?: number;
  maxInflightMessages?: number;
  /** The largest packet, as PIFOG_MQTT_MAX_PACKET; default 8 MiB. */
  maxPacketBytes?: number;
  /** The Home Assistant discovery prefix each device may announce its own entities under (PIFOG_HA_DISCOVERY). */
  discoveryPrefix?: string;
  /** Passwords to put in the password file, by user (or password device) name. */
  passwords?: Readonly<Record<string, string>>;
  /** `mosquitto_passwd`'s path; null: do not use it (the passwords are then left to be set by hand). */
  mosquittoPasswd?: string | null;
  /** The user Mosquitto runs as once started (it reads the server key and the files here, private to PiFog's user);
   * default the user writing the configuration. */
  user?: string;
  /** The host names and addresses Pis dial, for the server certificate when the data dir has none yet. */
  hosts?: readonly string[];
}

export interface MosquittoConfFiles {
  conf: string;
  acl: string;
  passwd: string;
  /** Names whose passwords were not given (or mosquitto_passwd is missing): to be set with mosquitto_passwd. */
  passwordsToSet: string[];
}

/** What the CA, the server certificate and the CRL are called in the data dir. */
interface TlsFiles {
  caCert: string;
  serverCert: string;
  serverKey: string;
  crl: string;
}

function access(rule: AclRule): "read" | "write" | "readwrite" | null {
  if (rule.read && rule.publish) return "readwrite";
  if (rule.read) return "read";
  if (rule.publish) return "write";
  return null;
}

function topicLines(rules: readonly AclRule[], values: Placeholders): string[] {
  const lines: string[] = [];
  for (const rule of rules) {
    const pattern = expandPattern(rule.pattern, values);
    const how = access(rule);
    if (pattern === null || how === null) continue;
    lines.push(`topic ${how} ${pattern}`);
  }
  return lines;
}

/** The ACL file for `devices` and `users`, from acl.ts' table. */
export function mosquittoAcl(
  devices: readonly DeviceRecord[],
  users: readonly UserRecord[],
  anonymous: AnonymousSetting,
  policy: AclPolicy = DEFAULT_ACL_POLICY,
): string {
  const out: string[] = [
    "# PiFog's broker policy for Mosquitto, generated from nodes/lib/broker/acl.ts and the data dir's identities",
    "# (pifog broker mosquitto-conf). Write it again after enrolling, revoking or removing anyone, then reload Mosquitto.",
    "# Mosquitto's ACL has no retain control: the embedded broker's refusal of retained commands is not repeated here.",
    "",
  ];
  if (anonymous !== "off") {
    out.push(`# anonymous clients (the anonymous listener; PIFOG_BROKER_ANONYMOUS = ${describeAnonymous(anonymous)})`);
    out.push(...topicLines(ANONYMOUS_RULES, {}), "");
  }
  for (const device of devices) {
    if (device.revokedAt) {
      out.push(`# device ${device.id}: revoked ${device.revokedAt}`, "");
      continue;
    }
    const { rules, values } = rulesFor({ kind: "device", id: device.id, role: device.role, via: "certificate" }, policy);
    out.push(`# device ${device.id} (${device.role}${COMPAT_PI[device.role] ? `, PiFog's ${COMPAT_PI[device.role]}` : ""})`);
    out.push(`user ${device.id}`, ...topicLines(rules, values), "");
  }
  for (const user of users) {
    out.push(`# user ${user.name} (${user.role})`, `user ${user.name}`, ...topicLines(USER_ROLE_RULES[user.role], {}), "");
  }
  return out.join("\n");
}

/** The main configuration file. */
export function mosquittoMainConf(tlsFiles: TlsFiles, outDir: string, o: MosquittoConfOptions): string {
  const port = o.port ?? 1883;
  const tlsPort = o.tlsPort ?? 8883;
  const anonymous = o.anonymous ?? "loopback";
  const acl = path.join(outDir, "acl");
  const passwd = path.join(outDir, "passwd");
  const bind = o.host ? ` ${o.host}` : "";
  const lines = [
    "# PiFog's broker for Mosquitto 2 (pifog broker mosquitto-conf): the embedded broker's policy (nodes/lib/broker/acl.ts).",
    "# Every listener has its own authentication, all share one ACL.",
    "per_listener_settings true",
    "# the server key, the ACL and the password file are private to PiFog's user: Mosquitto runs as it",
    `user ${o.user ?? os.userInfo().username}`,
    "",
    "# sessions, queued QoS 1 messages and retained messages survive a restart",
    "persistence true",
    `persistence_location ${(o.persistenceDir ?? path.join(outDir, "data")).replace(/\/?$/, "/")}`,
    "autosave_interval 30",
    "",
    "# queue limits: what is over them is dropped, never silently: counted in $SYS/broker/publish/messages/dropped and",
    "# logged (log_type warning). max_queued_messages bounds an offline persistent client's queue (0 would be no bound",
    "# but the memory); max_inflight_messages the QoS 1 messages in flight per client.",
    `max_queued_messages ${o.maxQueuedMessages ?? 100_000}`,
    "max_queued_bytes 0",
    `max_inflight_messages ${o.maxInflightMessages ?? 20}`,
    `max_packet_size ${o.maxPacketBytes ?? 8 * 1024 * 1024}`,
    "log_type error",
    "log_type warning",
    "log_type notice",
    "sys_interval 10",
    "",
    "# the devices: a client certificate from PiFog's CA, its CN as the user name (the ACL's `user <device id>`); the",
    "# revocation list is read at start and on SIGHUP (reload after `pifog device revoke`)",
    `listener ${tlsPort}${bind}`,
    `cafile ${tlsFiles.caCert}`,
    `certfile ${tlsFiles.serverCert}`,
    `keyfile ${tlsFiles.serverKey}`,
    `crlfile ${tlsFiles.crl}`,
    "require_certificate true",
    "use_identity_as_username true",
    "tls_version tlsv1.2",
    "allow_anonymous false",
    `acl_file ${acl}`,
    "",
    "# users (and devices that cannot do TLS): name and password",
    `listener ${port}${bind}`,
    "allow_anonymous false",
    `password_file ${passwd}`,
    `acl_file ${acl}`,
  ];
  if (anonymous !== "off") {
    const where = anonymous === "loopback" ? "127.0.0.1" : "";
    lines.push(
      "",
      `# anonymous clients (PIFOG_BROKER_ANONYMOUS = ${describeAnonymous(anonymous)}): what PiFog's web page shows, and the`,
      "# simulators' inputs (the ACL's first block).",
      ...(anonymous === "loopback"
        ? ["# Bound to loopback: only this machine."]
        : ["# Mosquitto cannot limit this by address: let a firewall take this port only from " + anonymous.join(", ") + "."]),
      `listener ${o.anonymousPort ?? 1884}${where ? ` ${where}` : ""}`,
      "allow_anonymous true",
      `acl_file ${acl}`,
    );
  }
  return lines.join("\n") + "\n";
}

/** Mosquitto's password file for the names whose passwords are given (written with mosquitto_passwd). */
function writePasswords(file: string, names: readonly string[], o: MosquittoConfOptions): string[] {
  fs.writeFileSync(file, "", { mode: 0o600 });
  const tool = o.mosquittoPasswd === undefined ? findMosquittoPasswd() : o.mosquittoPasswd;
  const toSet: string[] = [];
  for (const name of names) {
    const password = o.passwords?.[name];
    if (password === undefined || !tool) {
      toSet.push(name);
      continue;
    }
    execFileSync(tool, ["-b", file, name, password], { stdio: ["ignore", "ignore", "pipe"] });
  }
  return toSet;
}

export function findMosquittoPasswd(): string | null {
  return ["/usr/bin/mosquitto_passwd", "/usr/local/bin/mosquitto_passwd", "/usr/sbin/mosquitto_passwd"].find((p) => fs.existsSync(p)) ?? null;
}

/** The files for `directory` (devices and users) and the data dir's CA, server certificate and CRL, written to `outDir`. */
export function mosquittoConf(directory: Pick<IdentityDirectory, "devices" | "users">, tlsFiles: TlsFiles, outDir: string, o: MosquittoConfOptions = {}): MosquittoConfFiles {
  fs.mkdirSync(outDir, { recursive: true, mode: 0o700 });
  fs.mkdirSync(o.persistenceDir ?? path.join(outDir, "data"), { recursive: true, mode: 0o700 });
  const devices = directory.devices();
  const users = directory.users();
  const files = { conf: path.join(outDir, "mosquitto.conf"), acl: path.join(outDir, "acl"), passwd: path.join(outDir, "passwd") };
  fs.writeFileSync(files.acl, mosquittoAcl(devices, users, o.anonymous ?? "loopback", o.discoveryPrefix ? { discoveryPrefix: o.discoveryPrefix } : DEFAULT_ACL_POLICY), { mode: 0o600 });
  fs.writeFileSync(files.conf, mosquittoMainConf(tlsFiles, outDir, o), { mode: 0o600 });
  const names = [...users.map((u) => u.name), ...devices.filter((d) => d.password && !d.revokedAt).map((d) => d.id)];
  const passwordsToSet = writePasswords(files.passwd, names, o);
  return { ...files, passwordsToSet };
}

/** `pifog broker mosquitto-conf`: the data dir's identities (a CA and the hub's server certificate are needed). */
export async function writeMosquittoConf(dataDir: string, outDir: string, options: MosquittoConfOptions = {}): Promise<MosquittoConfFiles> {
  const p = identityPaths(dataDir);
  if (!fs.existsSync(p.serverCert)) await ensureServerTls(dataDir, [...(options.hosts ?? ["localhost", "127.0.0.1", os.hostname()])], new Date());
  const store = await IdentityStore.open(dataDir);
  try {
    return mosquittoConf(store, { caCert: p.caCert, serverCert: p.serverCert, serverKey: p.serverKey, crl: p.crl }, path.resolve(outDir), options);
  } finally {
    store.close();
  }
}
