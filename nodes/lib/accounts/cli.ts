// `npm run accounts -- <command>`: make accounts and attach power Pis to them on the hub (until pairing does
// it), in the data dir the runtime uses (PIFOG_DATA_DIR). Exit codes: 0 done, 1 refused, 2 bad usage.
import { isTopicLevel } from "../contract";
import { ConfigError, readConfig } from "../runtime/config";
import { AccountError, AccountStore, type Account } from "./store";

export const USAGE = `Usage: npm run accounts -- <command> [options]

  create   --username <name> --password <password> [--email <address>]...
           (or the password in PIFOG_ACCOUNT_PASSWORD, kept out of the shell history)
  attach   --account <username> --device <device id> [--name <name>]
  emails   --account <username> (--email <address>... | --clear)
  password --account <username> --password <password>
  list     [--json]

The accounts live in $PIFOG_DATA_DIR/accounts.db (default ./data), the data dir the runtime uses.`;

export class UsageError extends Error {}

interface Parsed {
  command: string;
  options: Map<string, string[]>;
  flags: Set<string>;
}

const VALUED = new Set(["username", "password", "email", "account", "device", "name"]);
const FLAGS = new Set(["clear", "json", "help"]);

export function parseArgs(argv: string[]): Parsed {
  const [command = "help", ...rest] = argv;
  const options = new Map<string, string[]>();
  const flags = new Set<string>();
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const m = /^--([a-z]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new UsageError(`unexpected argument "${arg}"`);
    const key = m[1]!;
    if (FLAGS.has(key)) {
      flags.add(key);
      continue;
    }
    if (!VALUED.has(key)) throw new UsageError(`unknown option --${key}`);
    const value = m[2] ?? rest[++i];
    if (value === undefined || (m[2] === undefined && value.startsWith("--"))) throw new UsageError(`--${key} needs a value`);
    options.set(key, [...(options.get(key) ?? []), value]);
  }
  return { command, options, flags };
}

function one(p: Parsed, key: string, required = true): string | undefined {
  const values = p.options.get(key) ?? [];
  if (values.length > 1) throw new UsageError(`--${key} given more than once`);
  if (required && values.length === 0) throw new UsageError(`--${key} is required`);
  return values[0];
}

function allowOnly(p: Parsed, keys: string[], flags: string[] = []): void {
  for (const k of p.options.keys()) if (!keys.includes(k)) throw new UsageError(`--${k} does not apply to ${p.command}`);
  for (const f of p.flags) if (!flags.includes(f)) throw new UsageError(`--${f} does not apply to ${p.command}`);
}

function accountNamed(store: AccountStore, username: string): Account {
  const account = store.accountByUsername(username);
  if (!account) throw new AccountError(`no account with username "${username}"`);
  return account;
}

export interface CliIo {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  out: (line: string) => void;
  err: (line: string) => void;
}

/** Runs one command; resolves to the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parseArgs(argv);
  } catch (err) {
    io.err(`accounts: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.command === "help" || parsed.flags.has("help")) {
    io.out(USAGE);
    return 0;
  }
  if (!["create", "attach", "emails", "password", "list"].includes(parsed.command)) {
    io.err(`accounts: unknown command "${parsed.command}"\n\n${USAGE}`);
    return 2;
  }
  let store: AccountStore | null = null;
  try {
    const p = parsed;
    // check the command line before touching the data dir
    const run = plan(p, io.env);
    const { dataDir } = readConfig(io.env, io.cwd);
    store = new AccountStore(dataDir);
    await run(store, io);
    return 0;
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      io.err(`accounts: ${err.message}${err instanceof UsageError ? `\n\n${USAGE}` : ""}`);
      return 2;
    }
    io.err(`accounts: ${(err as Error).message}`);
    return 1;
  } finally {
    store?.close();
  }
}

function plan(p: Parsed, env: NodeJS.ProcessEnv): (store: AccountStore, io: CliIo) => void | Promise<void> {
  switch (p.command) {
    case "create": {
      allowOnly(p, ["username", "password", "email"]);
      const username = one(p, "username")!;
      const password = one(p, "password", false) ?? env.PIFOG_ACCOUNT_PASSWORD;
      if (!password) throw new UsageError("--password (or PIFOG_ACCOUNT_PASSWORD) is required");
      const emails = p.options.get("email") ?? [];
      return async (store, io) => {
        const a = await store.createAccount(username, password, emails);
        io.out(`created account ${a.username} (${a.id})${a.emails.length ? `, e-mails: ${a.emails.join(", ")}` : ""}`);
      };
    }
    case "attach": {
      allowOnly(p, ["account", "device", "name"]);
      const username = one(p, "account")!;
      const device = one(p, "device")!;
      const name = one(p, "name", false);
      if (!isTopicLevel(device)) throw new UsageError(`"${device}" is not a device id (letters, digits, _ . -)`);
      if (name !== undefined && (name.trim() === "" || name.length > 128)) throw new UsageError("--name must be 1..128 characters");
      return (store, io) => {
        const a = accountNamed(store, username);
        const d = store.attachDevice(a.id, device, name?.trim());
        io.out(`attached ${d.id} ("${d.name}") to ${a.username}`);
      };
    }
    case "emails": {
      allowOnly(p, ["account", "email"], ["clear"]);
      const username = one(p, "account")!;
      const emails = p.options.get("email") ?? [];
      if (emails.length === 0 && !p.flags.has("clear")) throw new UsageError("give --email (one or more), or --clear");
      if (emails.length > 0 && p.flags.has("clear")) throw new UsageError("--email and --clear together");
      return (store, io) => {
        const a = store.setEmails(accountNamed(store, username).id, emails);
        io.out(`${a.username}: ${a.emails.length ? a.emails.join(", ") : "no e-mails"}`);
      };
    }
    case "password": {
      allowOnly(p, ["account", "password"]);
      const username = one(p, "account")!;
      const password = one(p, "password", false) ?? env.PIFOG_ACCOUNT_PASSWORD;
      if (!password) throw new UsageError("--password (or PIFOG_ACCOUNT_PASSWORD) is required");
      return async (store, io) => {
        await store.setPassword(accountNamed(store, username).id, password);
        io.out(`password of ${username} changed`);
      };
    }
    default: {
      allowOnly(p, [], ["json"]);
      const json = p.flags.has("json");
      return (store, io) => {
        const list = store.accounts().map((a) => ({ ...a, devices: store.devicesOf(a.id) }));
        if (json) {
          io.out(JSON.stringify(list, null, 2));
          return;
        }
        if (list.length === 0) io.out("no accounts yet (npm run accounts -- create --username … --password …)");
        for (const a of list) {
          io.out(`${a.username} (${a.id})`);
          io.out(`  e-mails: ${a.emails.length ? a.emails.join(", ") : "none"}`);
          for (const d of a.devices) {
            io.out(`  device ${d.id} "${d.name}": power ${d.power ?? "unknown"}, ${d.connection ?? "never seen"}`);
          }
        }
      };
    }
  }
}

if (require.main === module) {
  void runCli(process.argv.slice(2), {
    env: process.env,
    out: (line) => console.log(line),
    err: (line) => console.error(line),
  }).then((code) => (process.exitCode = code));
}
