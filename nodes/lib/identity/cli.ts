#!/usr/bin/env node
// `pifog <command>` (in a checkout: `npm run pifog -- <command>`): the fog's identities in the data dir the runtime
// uses (PIFOG_DATA_DIR): the local CA, device certificates and their bundles, broker users, revocations.
// Exit codes: 0 done, 1 refused or failed, 2 bad usage. Passwords never come from the command line (they would stay
// in the shell's history and in `ps`): PIFOG_NEW_PASSWORD, or a prompt on a terminal.
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import {
  addDevice,
  addUser,
  initCa,
  listDevices,
  listUsers,
  MIN_PASSWORD_LENGTH,
  removeUser,
  revokeDevice,
  setPassword,
} from "./admin";
import { writeMosquittoConf } from "../broker/mosquitto-conf";
import { IdentityError } from "./errors";
import { identityPaths, isDeviceRole, isUserRoleName } from "./paths";
import { USER_ROLES, type DeviceRecord, type DeviceRole, type UserRecord, type UserRole } from "./types";
import { ConfigError, readConfig, ROLES } from "../runtime/config";
import { ApiTokens } from "../security/api-tokens";

const DEVICE_ROLES = ROLES.filter((r) => r !== "all");
export const DEFAULT_MQTTS_PORT = 8883;
/** How long `pifog user token` makes a token last unless told, days. */
export const DEFAULT_TOKEN_DAYS = 365;

export const USAGE = `Usage: pifog <command>   (in a checkout: npm run pifog -- <command>)

  ca init [--force]            make the local CA (--force replaces it: every device must be enrolled again)
  device add <id> [--role <role>] [--hub <url>] [--days <n>] [--password] [--renew]
                               a key and certificate for a Pi (CN = <id>) and a bundle to copy to it;
                               --role defaults to the id when the id is a role:
                                 ${DEVICE_ROLES.join(", ")};
                               --hub defaults to mqtts://<this host>:<PIFOG_MQTTS_PORT or ${DEFAULT_MQTTS_PORT}>;
                               --password also lets it log in with a password (a Pi that cannot do TLS);
                               --renew re-issues an existing id (its previous certificate is revoked)
  device list [--json]         id, role, serial, expiry, revocation
  device revoke <id>           revoke its certificate (a running broker drops it at once)
  user add <name> --role ${USER_ROLES.join("|")}
  user list [--json]
  user remove <name>
  user passwd <name>           a new password for a user (or a password device)
  user token <name> [--days <n>]
                               prints a bearer token of a viewer for PiFog's HTTP API (default 365 days):
                               what Prometheus scrapes /metrics with; it holds until it expires or
                               <data dir>/api-token-secret is replaced (which ends every such token)
  broker mosquitto-conf [--out <dir>]
                               a Mosquitto configuration with the same policy (TLS with the CA and its
                               revocation list, users, the ACL from the same table, persistence);
                               default <data dir>/mosquitto
  help

Passwords come from PIFOG_NEW_PASSWORD or, on a terminal, a prompt; never from the command line.
The identities live in $PIFOG_DATA_DIR/identity (default ./data), the data dir the runtime uses.`;

export class UsageError extends Error {}

export interface CliIo {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  out: (line: string) => void;
  err: (line: string) => void;
  /** Asks for a secret without echoing it; absent when there is no terminal to ask on. */
  askSecret?: (question: string) => Promise<string>;
  /** The clock (tests pass their own). */
  now?: () => Date;
}

interface Parsed {
  words: string[];
  options: Map<string, string>;
  flags: Set<string>;
}

const VALUED = new Set(["role", "hub", "days", "out"]);
const FLAGS = new Set(["force", "password", "renew", "json", "help"]);

export function parseArgs(argv: string[]): Parsed {
  const words: string[] = [];
  const options = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "-h") {
      flags.add("help");
      continue;
    }
    if (!arg.startsWith("--")) {
      words.push(arg);
      continue;
    }
    const m = /^--([a-z]+)(?:=(.*))?$/s.exec(arg);
    if (!m) throw new UsageError(`unexpected argument "${arg}"`);
    const key = m[1]!;
    if (FLAGS.has(key)) {
      if (m[2] !== undefined) {
        throw new UsageError(key === "password" ? "--password takes no value: the password comes from PIFOG_NEW_PASSWORD or a prompt" : `--${key} takes no value`);
      }
      flags.add(key);
      continue;
    }
    if (!VALUED.has(key)) throw new UsageError(`unknown option --${key}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined || (m[2] === undefined && value.startsWith("--"))) throw new UsageError(`--${key} needs a value`);
    if (options.has(key)) throw new UsageError(`--${key} given more than once`);
    options.set(key, value);
  }
  return { words, options, flags };
}

function allowOnly(p: Parsed, command: string, keys: string[], flags: string[] = []): void {
  for (const k of p.options.keys()) if (!keys.includes(k)) throw new UsageError(`--${k} does not apply to ${command}`);
  for (const f of p.flags) if (!flags.includes(f)) throw new UsageError(`--${f} does not apply to ${command}`);
}

/** The single name after the command words (`device add <id>`). */
function oneName(p: Parsed, command: string, what: string): string {
  const rest = p.words.slice(2);
  if (rest.length === 0) throw new UsageError(`${command} needs <${what}>`);
  if (rest.length > 1) throw new UsageError(`${command} takes one <${what}>, not "${rest.join(" ")}"`);
  return rest[0]!;
}

function noNames(p: Parsed, command: string): void {
  const rest = p.words.slice(2);
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}" for ${command}`);
}

async function newPassword(io: CliIo, whose: string): Promise<string> {
  const fromEnv = io.env.PIFOG_NEW_PASSWORD;
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  if (!io.askSecret) throw new UsageError("no password: set PIFOG_NEW_PASSWORD, or run on a terminal to be asked");
  const first = await io.askSecret(`new password for ${whose} (at least ${MIN_PASSWORD_LENGTH} characters): `);
  const again = await io.askSecret("the same again: ");
  if (first !== again) throw new IdentityError("the two passwords differ; nothing changed");
  return first;
}

function defaultHubUrl(env: NodeJS.ProcessEnv): string {
  const raw = (env.PIFOG_MQTTS_PORT ?? "").trim();
  const port = raw === "" ? DEFAULT_MQTTS_PORT : Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(`PIFOG_MQTTS_PORT must be a port number 1..65535, not "${raw}"`);
  return `mqtts://${os.hostname()}:${port}`;
}

function day(iso: string | undefined): string {
  return iso ? iso.slice(0, 10) : "-";
}

/** Left-aligned columns, two spaces apart. */
export function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  "));
}

export function deviceTable(devices: DeviceRecord[]): string[] {
  return table([
    ["ID", "ROLE", "SERIAL", "EXPIRES", "REVOKED", "PASSWORD"],
    ...devices.map((d) => [d.id, d.role, d.serial, day(d.notAfter), day(d.revokedAt), d.password ? "yes" : "-"]),
  ]);
}

export function userTable(users: UserRecord[]): string[] {
  return table([["NAME", "ROLE", "CREATED"], ...users.map((u) => [u.name, u.role, day(u.createdAt)])]);
}

type Action = (dataDir: string, io: CliIo, now: Date) => Promise<void> | void;

/** Checks the command line and returns what to do, before the data dir is touched. */
function plan(p: Parsed, env: NodeJS.ProcessEnv): Action {
  const [group, verb] = p.words;
  const command = `${group ?? ""} ${verb ?? ""}`.trim();
  switch (command) {
    case "ca init": {
      allowOnly(p, command, [], ["force"]);
      noNames(p, command);
      return async (dataDir, io, now) => {
        await initCa(dataDir, { now, force: p.flags.has("force") });
        const paths = identityPaths(dataDir);
        io.out(`made the local CA: ${paths.caCert} (key ${paths.caKey}, mode 0600)`);
        if (p.flags.has("force")) io.out("the previous CA's devices were removed: enrol every Pi again (pifog device add <id>)");
      };
    }
    case "device add": {
      allowOnly(p, command, ["role", "hub", "days"], ["password", "renew"]);
      const id = oneName(p, command, "id");
      const roleArg = p.options.get("role") ?? (isDeviceRole(id) ? id : undefined);
      if (roleArg === undefined) throw new UsageError(`"${id}" is not a role, so give --role (${DEVICE_ROLES.join(", ")})`);
      if (!isDeviceRole(roleArg)) throw new UsageError(`--role must be one of ${DEVICE_ROLES.join(", ")}, not "${roleArg}"`);
      const role: DeviceRole = roleArg;
      const hubUrl = p.options.get("hub") ?? defaultHubUrl(env);
      const rawDays = p.options.get("days");
      const days = rawDays === undefined ? undefined : Number(rawDays);
      if (days !== undefined && (!Number.isInteger(days) || days < 1 || days > 3650)) throw new UsageError(`--days must be a whole number 1..3650, not "${rawDays}"`);
      return async (dataDir, io, now) => {
        const password = p.flags.has("password") ? await newPassword(io, `device ${id}`) : undefined;
        const bundle = await addDevice(dataDir, id, role, { hubUrl, password, days, now, renew: p.flags.has("renew") });
        const record = listDevices(dataDir).find((d) => d.id === id)!;
        io.out(`device ${id} (role ${role}) enrolled: certificate ${record.serial}, valid until ${day(record.notAfter)}${password ? ", password login on" : ""}`);
        io.out(`its bundle: ${bundle.dir}`);
        io.out(`  cert.pem, key.pem (secret, 0600), ca.pem, hub.json (${hubUrl})`);
        io.out("copy the bundle to the Pi and point PiFog there at it, e.g.:");
        io.out(`  scp -r ${bundle.dir} pi@<the Pi>:pifog-identity`);
        io.out(`  PIFOG_ROLE=${role}${id !== role ? ` PIFOG_DEVICE_ID=${id}` : ""} PIFOG_IDENTITY=~/pifog-identity npm start`);
      };
    }
    case "device list":
    case "user list": {
      allowOnly(p, command, [], ["json"]);
      noNames(p, command);
      return (dataDir, io) => {
        const list = group === "device" ? listDevices(dataDir) : listUsers(dataDir);
        if (p.flags.has("json")) io.out(JSON.stringify(list, null, 2));
        else if (list.length === 0) io.out(group === "device" ? "no devices yet (pifog device add <id>)" : "no users yet (pifog user add <name> --role viewer)");
        else for (const line of group === "device" ? deviceTable(list as DeviceRecord[]) : userTable(list as UserRecord[])) io.out(line);
      };
    }
    case "device revoke": {
      allowOnly(p, command, []);
      const id = oneName(p, command, "id");
      return async (dataDir, io, now) => {
        const d = await revokeDevice(dataDir, id, now);
        io.out(`device ${id} revoked (certificate ${d.serial}${d.password ? ", password login" : ""}); a running broker drops it at once`);
      };
    }
    case "user add": {
      allowOnly(p, command, ["role"]);
      const name = oneName(p, command, "name");
      const roleArg = p.options.get("role");
      if (roleArg === undefined) throw new UsageError(`user add needs --role (${USER_ROLES.join(", ")})`);
      if (!isUserRoleName(roleArg)) throw new UsageError(`--role must be one of ${USER_ROLES.join(", ")}, not "${roleArg}"`);
      const role: UserRole = roleArg;
      return async (dataDir, io, now) => {
        const password = await newPassword(io, `user ${name}`);
        await addUser(dataDir, name, role, password, { now });
        io.out(`user ${name} (${role}) added`);
      };
    }
    case "user remove": {
      allowOnly(p, command, []);
      const name = oneName(p, command, "name");
      return async (dataDir, io) => {
        await removeUser(dataDir, name);
        io.out(`user ${name} removed`);
      };
    }
    case "user passwd": {
      allowOnly(p, command, []);
      const name = oneName(p, command, "name");
      return async (dataDir, io) => {
        const password = await newPassword(io, name);
        await setPassword(dataDir, name, password);
        io.out(`password of ${name} changed`);
      };
    }
    case "user token": {
      allowOnly(p, command, ["days"]);
      const name = oneName(p, command, "name");
      const rawDays = p.options.get("days");
      const days = rawDays === undefined ? DEFAULT_TOKEN_DAYS : Number(rawDays);
      if (!Number.isInteger(days) || days < 1 || days > 3650) throw new UsageError(`--days must be a whole number 1..3650, not "${rawDays}"`);
      return (dataDir, io, now) => {
        const user = listUsers(dataDir).find((u) => u.name === name);
        if (!user) throw new IdentityError(`no user "${name}" (pifog user add ${name} --role viewer)`);
        // a long-lived token cannot be withdrawn on its own: only a viewer's (it reads; it changes nothing)
        if (user.role !== "viewer") throw new IdentityError(`${name} is an ${user.role}: a long-lived token is only made for a viewer (an ${user.role} signs in with POST /api/auth for an hour's token)`);
        const tokens = ApiTokens.forDataDir(dataDir, { now: () => now.getTime() });
        const { token, expiresAt } = tokens.issue({ name: user.name, role: user.role }, days * 86_400_000);
        io.out(token);
        io.err(`a bearer token of viewer ${name}, valid until ${expiresAt}: send it as "Authorization: Bearer <token>" (Prometheus: authorization.credentials_file)`);
      };
    }
    case "broker mosquitto-conf": {
      allowOnly(p, command, ["out"]);
      noNames(p, command);
      return async (dataDir, io) => {
        // the same ports and anonymous setting as the runtime's (PIFOG_MQTT_PORT, PIFOG_MQTTS_PORT, PIFOG_BROKER_ANONYMOUS)
        const config = readConfig(io.env, io.cwd);
        const outDir = path.resolve(io.cwd ?? process.cwd(), p.options.get("out") ?? path.join(dataDir, "mosquitto"));
        const files = await writeMosquittoConf(dataDir, outDir, {
          port: config.mqttPort || 1883,
          tlsPort: config.mqttsPort || 8883,
          anonymous: config.brokerAnonymous,
          maxPacketBytes: config.mqttMaxPacket,
          ...(config.haDiscovery ? { discoveryPrefix: config.haDiscovery } : {}),
        });
        io.out(`wrote ${files.conf}, ${files.acl} and ${files.passwd}`);
        if (files.passwordsToSet.length > 0) {
          io.out(`set the passwords of ${files.passwordsToSet.join(", ")} with: mosquitto_passwd ${files.passwd} <name>`);
        }
        io.out(`run: mosquitto -c ${files.conf}`);
      };
    }
    default:
      throw new UsageError(group === undefined ? "no command" : `unknown command "${command}"`);
  }
}

/** Runs one command; resolves to the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parseArgs(argv);
  } catch (err) {
    io.err(`pifog: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.words[0] === "help" || parsed.flags.has("help") || parsed.words.length === 0) {
    if (parsed.words.length === 0 && !parsed.flags.has("help")) {
      io.err(USAGE);
      return 2;
    }
    io.out(USAGE);
    return 0;
  }
  try {
    const action = plan(parsed, io.env);
    const { dataDir } = readConfig(io.env, io.cwd);
    await action(dataDir, io, io.now?.() ?? new Date());
    return 0;
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      io.err(`pifog: ${err.message}${err instanceof UsageError ? `\n\n${USAGE}` : ""}`);
      return 2;
    }
    io.err(`pifog: ${(err as Error).message}`);
    return 1;
  }
}

/** A prompt on the terminal that does not echo what is typed. */
function terminalSecret(question: string): Promise<string> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const echo = rl as unknown as { _writeToOutput: (text: string) => void };
  let muted = false;
  echo._writeToOutput = (text) => {
    if (!muted) process.stderr.write(text);
  };
  return new Promise<string>((resolve, reject) => {
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write("\n");
      resolve(answer);
    });
    muted = true;
    rl.once("SIGINT", () => {
      rl.close();
      reject(new IdentityError("cancelled"));
    });
  });
}

if (require.main === module) {
  void runCli(process.argv.slice(2), {
    env: process.env,
    out: (line) => console.log(line),
    err: (line) => console.error(line),
    askSecret: process.stdin.isTTY ? terminalSecret : undefined,
  }).then((code) => (process.exitCode = code));
}
