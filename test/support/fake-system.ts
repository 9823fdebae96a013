// A fake root and stand-ins for the commands that change a real system (apt-get, useradd, systemctl, curl...), for
// testing docker/pi/install.sh and uninstall.sh: each stand-in records its call line in a log and keeps what a
// later call asks about (the user, its groups) in a state folder, so a second run sees what the first did.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** The commands install.sh and uninstall.sh run through `sys`: every one is a stand-in here. */
export const STUBBED = ["apt-get", "useradd", "userdel", "usermod", "getent", "id", "chown", "systemctl", "curl", "sha256sum", "tar", "npm", "npx", "node"] as const;

const STUB = `#!/bin/sh
name=$(basename "$0")
{ printf '%s' "$name"; for a in "$@"; do printf ' %s' "$a"; done; echo; } >>"$STUB_LOG"
case "$name" in
  getent)
    case "$1" in
      passwd) [ -f "$STUB_STATE/user-$2" ] && echo "$2:x:999:999::/var/lib/pifog:/usr/sbin/nologin" ;;
      group) case " $STUB_GROUPS " in *" $2 "*) echo "$2:x:990:" ;; *) exit 2 ;; esac ;;
      *) exit 2 ;;
    esac ;;
  useradd) for a in "$@"; do last=$a; done; : >"$STUB_STATE/user-$last" ;;
  userdel) rm -f "$STUB_STATE/user-$1" "$STUB_STATE/groups-$1" ;;
  usermod) printf ',%s' "$3" >>"$STUB_STATE/groups-$4" ;;
  id) [ -f "$STUB_STATE/user-$2" ] || exit 1; printf '%s%s\\n' "$2" "$(tr ',' ' ' <"$STUB_STATE/groups-$2" 2>/dev/null)" ;;
  curl)
    while [ "$#" -gt 0 ]; do case "$1" in -o) out=$2; shift 2 ;; *) url=$1; shift ;; esac; done
    case "$url" in
      */SHASUMS256.txt) v=\${url%/SHASUMS256.txt}; v=\${v##*/}
        for a in arm64 armv7l armv6l x64; do echo "5ca1ab1e  node-$v-linux-$a.tar.xz"; done >"$out" ;;
      *) echo "a node tarball" >"$out" ;;
    esac ;;
  sha256sum) echo "\${STUB_SHA:-5ca1ab1e}  $1" ;;
  npm) [ "$1" = ci ] && mkdir -p node_modules; true ;;
  *) true ;;
esac
`;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class FakeSystem {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-fake-system-"));
  /** What the scripts take as `/` (PIFOG_ROOT). */
  readonly root = path.join(this.dir, "root");
  private readonly bin = path.join(this.dir, "bin");
  private readonly state = path.join(this.dir, "state");
  private readonly logFile = path.join(this.dir, "calls.log");

  constructor(private readonly options: { groups?: string[]; arch?: string; env?: NodeJS.ProcessEnv } = {}) {
    for (const d of [this.root, this.bin, this.state]) fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(this.bin, "stub"), STUB, { mode: 0o755 });
    for (const name of STUBBED) fs.symlinkSync("stub", path.join(this.bin, name));
    fs.writeFileSync(this.logFile, "");
  }

  /** Runs `script` (a path) with `args` under /bin/sh, the stand-ins first on PATH and PIFOG_ROOT set. */
  run(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
    return new Promise((resolve) => {
      execFile(
        "/bin/sh",
        [script, ...args],
        {
          env: {
            PATH: `${this.bin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
            HOME: this.dir,
            PIFOG_ROOT: this.root,
            PIFOG_ARCH: this.options.arch ?? "aarch64",
            STUB_LOG: this.logFile,
            STUB_STATE: this.state,
            STUB_GROUPS: (this.options.groups ?? ["gpio", "i2c", "video"]).join(" "),
            ...this.options.env,
            ...env,
          },
        },
        (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  }

  /** The stand-ins' calls so far, one line each ("systemctl enable pifog-doorpi.service"), and forgets them. */
  takeCalls(): string[] {
    const lines = fs.readFileSync(this.logFile, "utf8").split("\n").filter(Boolean);
    fs.writeFileSync(this.logFile, "");
    return lines;
  }

  /** A path inside the fake root. */
  at(p: string): string {
    return path.join(this.root, p);
  }

  /** Every file and link under the fake root: path → mode and content (a link: its target). */
  snapshot(): Map<string, string> {
    const out = new Map<string, string>();
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        const rel = path.relative(this.root, full);
        const st = fs.lstatSync(full);
        if (entry.isSymbolicLink()) out.set(rel, `link → ${fs.readlinkSync(full)}`);
        else if (entry.isDirectory()) {
          out.set(`${rel}/`, (st.mode & 0o7777).toString(8));
          walk(full);
        } else out.set(rel, `${(st.mode & 0o7777).toString(8)} ${fs.readFileSync(full).toString("base64")}`);
      }
    };
    walk(this.root);
    return out;
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A systemd unit file: its sections, each key's values in order (a key may repeat, as DeviceAllow=). */
export function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | null = null;
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header) {
      if (sections.has(header[1]!)) throw new Error(`line ${i + 1}: section [${header[1]}] twice`);
      current = new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!kv) throw new Error(`line ${i + 1}: not a key=value line: ${raw}`);
    if (!current) throw new Error(`line ${i + 1}: ${kv[1]} outside any section`);
    current.set(kv[1]!, [...(current.get(kv[1]!) ?? []), kv[2]!]);
  }
  return sections;
}

/** An environment file's variables (KEY=value lines; comments and blank lines skipped). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}
