// docker/pi/install.sh and uninstall.sh against a fake root (PIFOG_ROOT), with stand-ins for the commands that
// change a real system (test/support/fake-system.ts): what a Pi would end up with (the unit, the env file, I²C, the
// user and its groups, Node for its processor), that a second run changes nothing, and what uninstall leaves.
// Not run here: systemd itself (no `systemd-analyze verify`), apt, the Node download and npm on a real Pi.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { readConfig, ROLES } from "../../nodes/lib/runtime/config";
import { FakeSystem, parseEnvFile, parseUnit } from "../support/fake-system";
import { knownSettings } from "../support/pifog-settings";

const ROOT = path.resolve(__dirname, "..", "..", "..");
const INSTALL = path.join(ROOT, "docker", "pi", "install.sh");
const UNINSTALL = path.join(ROOT, "docker", "pi", "uninstall.sh");

/** A PiFog checkout as the installer needs it, built (dist/), small. */
function fakeCheckout(options: { built?: boolean } = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-checkout-"));
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  };
  write("package.json", '{"name":"pifog"}\n');
  write("package-lock.json", '{"lockfileVersion":3}\n');
  write("tsconfig.json", "{}\n");
  write("settings.ts", "export = {};\n");
  write("nodes/lib/runtime/cli.ts", "// the runtime\n");
  write("flows/doorpi.json", "[]\n");
  write("docker/tsconfig.image.json", "{}\n");
  if (options.built !== false) {
    write("dist/nodes/lib/runtime/cli.js", "// built\n");
    write("dist/settings.js", "// built\n");
  }
  return dir;
}

/** The Raspberry Pi OS config.txt as shipped: I²C commented out, and sections for some models at the end. */
const CONFIG_TXT = "# For more options and information see\n#dtparam=i2c_arm=on\n#dtparam=i2s=on\n#dtparam=spi=on\n\n[cm5]\ndtoverlay=dwc2,dr_mode=host\n\n[all]\n";

// What a unit of ours may say: a misspelt directive is ignored by systemd with a warning, so it is caught here.
const DIRECTIVES: Record<string, string[]> = {
  Unit: ["Description", "After", "Wants"],
  Service: [
    "Type", "User", "Group", "SupplementaryGroups", "EnvironmentFile", "WorkingDirectory", "ExecStart", "Restart", "RestartSec",
    "TimeoutStopSec", "StandardOutput", "StandardError", "SyslogIdentifier", "UMask", "NoNewPrivileges", "ProtectSystem",
    "ReadWritePaths", "ProtectHome", "PrivateTmp", "ProtectControlGroups", "ProtectKernelModules", "ProtectKernelLogs",
    "ProtectClock", "ProtectHostname", "RestrictSUIDSGID", "RestrictRealtime", "RestrictNamespaces", "LockPersonality",
    "RestrictAddressFamilies", "CapabilityBoundingSet", "AmbientCapabilities", "PrivateDevices", "ProtectKernelTunables",
    "DevicePolicy", "DeviceAllow",
  ],
  Install: ["WantedBy"],
};

function one(unit: Map<string, Map<string, string[]>>, section: string, key: string): string | undefined {
  const values = unit.get(section)?.get(key);
  if (values && values.length > 1) assert.fail(`${key}= is given ${values.length} times in [${section}]`);
  return values?.[0];
}

describe("the Raspberry Pi installer (docker/pi/install.sh) on a fake root", function () {
  this.timeout(60_000);
  const cleanup: Array<() => void> = [];
  afterEach(() => {
    while (cleanup.length) cleanup.pop()!();
  });
  function system(options: ConstructorParameters<typeof FakeSystem>[0] = {}): FakeSystem {
    const sys = new FakeSystem(options);
    cleanup.push(() => sys.remove());
    return sys;
  }
  function checkout(options: { built?: boolean } = {}): string {
    const dir = fakeCheckout(options);
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    return dir;
  }
  async function install(sys: FakeSystem, args: string[]): Promise<string[]> {
    const r = await sys.run(INSTALL, args);
    assert.equal(r.code, 0, `install.sh ${args.join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
    return sys.takeCalls();
  }

  it("installs a StatusPi: a hardened unit, its env file, its data dir, I²C on, the user pifog in gpio, i2c and video", async () => {
    const sys = system({ arch: "armv7l" });
    fs.mkdirSync(sys.at("boot/firmware"), { recursive: true });
    fs.writeFileSync(sys.at("boot/firmware/config.txt"), CONFIG_TXT);
    const calls = await install(sys, ["statuspi", "--hub-url", "http://hub.local:1880", "--source", checkout()]);

    const unit = parseUnit(fs.readFileSync(sys.at("etc/systemd/system/pifog-statuspi.service"), "utf8"));
    assert.deepEqual([...unit.keys()], ["Unit", "Service", "Install"]);
    for (const [section, keys] of unit) {
      for (const key of keys.keys()) assert.ok(DIRECTIVES[section]!.includes(key), `[${section}] ${key}= is not a directive we know`);
    }
    const s = (key: string) => one(unit, "Service", key);
    assert.equal(s("User"), "pifog");
    assert.equal(s("Restart"), "always");
    assert.equal(s("StandardOutput"), "journal");
    assert.equal(s("StandardError"), "journal");
    assert.equal(s("NoNewPrivileges"), "yes");
    assert.equal(s("ProtectSystem"), "strict");
    assert.equal(s("ProtectHome"), "yes");
    assert.equal(s("PrivateTmp"), "yes");
    assert.equal(s("CapabilityBoundingSet"), "");
    assert.equal(s("SupplementaryGroups"), "i2c video");
    assert.equal(s("DevicePolicy"), "closed");
    assert.deepEqual(unit.get("Service")!.get("DeviceAllow"), ["char-i2c rw", "char-fb rw"]);
    assert.equal(one(unit, "Install", "WantedBy"), "multi-user.target");
    assert.match(one(unit, "Unit", "After")!, /network-online\.target/);

    // ExecStart runs the installed runtime with the installed Node, from the installed app
    const [node, script, ...rest] = s("ExecStart")!.split(" ");
    assert.deepEqual(rest, []);
    assert.equal(node, "/opt/pifog/node/bin/node");
    assert.equal(script, "/opt/pifog/app/dist/nodes/lib/runtime/cli.js");
    assert.ok(fs.existsSync(sys.at(script!)), "the runtime the unit starts is installed");
    assert.equal(s("WorkingDirectory"), "/opt/pifog/app");
    assert.equal(fs.readlinkSync(sys.at("opt/pifog/node")), "node-v20.20.2-linux-armv7l");

    // the env file: what the runtime reads; the data dir writable (the only place), private, the user's
    const envFile = s("EnvironmentFile")!;
    assert.equal(envFile, "/etc/pifog/statuspi.env");
    assert.equal(fs.statSync(sys.at(envFile)).mode & 0o777, 0o600);
    const env = parseEnvFile(fs.readFileSync(sys.at(envFile), "utf8"));
    assert.deepEqual(env, { PIFOG_ROLE: "statuspi", PIFOG_DATA_DIR: "/var/lib/pifog/statuspi", PIFOG_HARDWARE: "auto", PIFOG_HUB_URL: "http://hub.local:1880" });
    const known = knownSettings(ROOT);
    for (const name of Object.keys(env)) assert.ok(known.has(name), `${name} is not a setting PiFog reads`);
    const config = readConfig(env, "/");
    assert.equal(config.role, "statuspi");
    assert.equal(config.hubUrl, "http://hub.local:1880");
    assert.equal(s("ReadWritePaths"), config.dataDir);
    assert.equal(fs.statSync(sys.at(config.dataDir)).mode & 0o777, 0o700);
    assert.ok(calls.includes(`chown pifog:pifog ${sys.at("var/lib/pifog")} ${sys.at(config.dataDir)}`), calls.join("\n"));

    // I²C: the shipped commented line turned on where it stands; i2c-dev loaded at boot
    const configTxt = fs.readFileSync(sys.at("boot/firmware/config.txt"), "utf8");
    assert.equal(configTxt, CONFIG_TXT.replace("#dtparam=i2c_arm=on", "dtparam=i2c_arm=on"));
    assert.match(fs.readFileSync(sys.at("etc/modules-load.d/pifog-i2c.conf"), "utf8"), /^i2c-dev$/m);

    // the system side, in order: packages, Node, the app's dependencies, the user and its groups, systemd
    assert.ok(calls.includes("useradd --system --user-group --home-dir /var/lib/pifog --no-create-home --shell /usr/sbin/nologin pifog"), calls.join("\n"));
    assert.ok(calls.includes("usermod -a -G gpio,i2c,video pifog"), calls.join("\n"));
    const systemctl = calls.filter((c) => c.startsWith("systemctl"));
    assert.deepEqual(systemctl, ["systemctl daemon-reload", "systemctl enable pifog-statuspi.service", "systemctl restart pifog-statuspi.service"]);
    assert.ok(calls.some((c) => /^curl .* https:\/\/nodejs\.org\/dist\/v20\.20\.2\/node-v20\.20\.2-linux-armv7l\.tar\.xz$/.test(c)), calls.join("\n"));
    assert.ok(calls.includes("npm ci --omit=dev --no-audit --no-fund"));
  });

  it("running it twice gives the same files, and adds the user, its groups and the I²C line once", async () => {
    const sys = system({ arch: "armv6l" });
    fs.mkdirSync(sys.at("boot"), { recursive: true });
    fs.writeFileSync(sys.at("boot/config.txt"), "# an older Pi OS: config.txt in /boot, no I2C line\ngpu_mem=64\n[pi4]\narm_boost=1\n");
    const source = checkout();
    const args = ["powerpi", "--mqtt-url", "mqtts://hub.local:8883", "--source", source];
    const first = await install(sys, args);
    const afterFirst = sys.snapshot();
    const second = await install(sys, args);
    assert.deepEqual(sys.snapshot(), afterFirst, "the second run changed files");

    const configTxt = fs.readFileSync(sys.at("boot/config.txt"), "utf8");
    assert.equal(configTxt.match(/^dtparam=i2c_arm=on$/gm)?.length, 1);
    assert.match(configTxt, /\[all\]\n# PiFog: I2C[^\n]*\ndtparam=i2c_arm=on\n$/, "appended under [all], not inside [pi4]");
    for (const [what, pattern] of [["useradd", /^useradd /], ["usermod", /^usermod /], ["the Node download", /^curl /], ["npm ci", /^npm ci/]] as const) {
      assert.equal(first.filter((c) => pattern.test(c)).length, what === "the Node download" ? 2 : 1, `${what} in the first run`);
      assert.equal(second.filter((c) => pattern.test(c)).length, 0, `${what} again in the second run:\n${second.join("\n")}`);
    }
    assert.ok(second.includes("systemctl restart pifog-powerpi.service"), "the second run restarts the service on the new files");
  });

  it("keeps the lines a person added below the env file's marker", async () => {
    const sys = system();
    const source = checkout();
    await install(sys, ["hub", "--http-port", "8080", "--source", source]);
    const file = sys.at("etc/pifog/hub.env");
    fs.appendFileSync(file, "PIFOG_ADMIN_PASSWORD=correct horse battery\nPIFOG_LOG_LEVEL=debug\n");
    await install(sys, ["hub", "--http-port", "8081", "--source", source]);
    const env = parseEnvFile(fs.readFileSync(file, "utf8"));
    assert.equal(env.PIFOG_HTTP_PORT, "8081", "the installer's own lines are rewritten");
    assert.equal(env.PIFOG_ADMIN_PASSWORD, "correct horse battery");
    assert.equal(env.PIFOG_LOG_LEVEL, "debug");
    assert.equal(fs.readFileSync(file, "utf8").match(/^PIFOG_ADMIN_PASSWORD=/gm)?.length, 1);
  });

  it("gets Node 20 for the processor: ARMv6 (Pi Zero W) from unofficial-builds, the others from nodejs.org", async () => {
    const expected: Record<string, string> = {
      armv6l: "https://unofficial-builds.nodejs.org/download/release/v20.20.2/node-v20.20.2-linux-armv6l.tar.xz",
      armv7l: "https://nodejs.org/dist/v20.20.2/node-v20.20.2-linux-armv7l.tar.xz",
      aarch64: "https://nodejs.org/dist/v20.20.2/node-v20.20.2-linux-arm64.tar.xz",
      x86_64: "https://nodejs.org/dist/v20.20.2/node-v20.20.2-linux-x64.tar.xz",
    };
    const source = checkout();
    for (const [arch, url] of Object.entries(expected)) {
      const sys = system({ arch });
      const calls = await install(sys, ["hub", "--source", source]);
      const downloads = calls.filter((c) => c.startsWith("curl ")).map((c) => c.split(" ").at(-1));
      assert.deepEqual(downloads, [url, url.replace(/[^/]+$/, "SHASUMS256.txt")], arch);
      assert.ok(calls.some((c) => c.startsWith(`tar -xJf `) && c.includes(`-C ${sys.at("opt/pifog")}`)), arch);
    }
    const wrong = system({ arch: "armv7l", env: { STUB_SHA: "badbadbad" } });
    const r = await wrong.run(INSTALL, ["hub", "--source", source]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /does not match .*SHASUMS256\.txt/);
    assert.ok(!wrong.takeCalls().some((c) => c.startsWith("tar ")), "a tarball that does not match is not unpacked");
    const mips = system({ arch: "mips" });
    const m = await mips.run(INSTALL, ["hub", "--source", source]);
    assert.equal(m.code, 1);
    assert.match(m.stderr, /no Node 20\.20\.2 build for processor mips/);
  });

  it("gives each role the devices and groups its hardware needs, and nothing to the roles without hardware", async () => {
    const source = checkout();
    const cases: Array<{ role: string; groups?: string; devicePolicy?: string; deviceAllow?: string[]; privateDevices?: string; tunables?: string }> = [
      { role: "doorpi", groups: "gpio", devicePolicy: "closed", deviceAllow: ["char-gpiochip rw", "/dev/gpiomem rw"] },
      { role: "buttonpi", groups: "gpio", devicePolicy: "closed", deviceAllow: ["char-gpiochip rw", "/dev/gpiomem rw"] },
      { role: "powerpi", groups: "i2c", devicePolicy: "closed", deviceAllow: ["char-i2c rw"], tunables: "yes" },
      { role: "camerapi", groups: "video", tunables: "yes" },
      { role: "hub", privateDevices: "yes", tunables: "yes" },
      { role: "sensorhub", privateDevices: "yes", tunables: "yes" },
    ];
    for (const c of cases) {
      const sys = system();
      await install(sys, [c.role, "--source", source]);
      const unit = parseUnit(fs.readFileSync(sys.at(`etc/systemd/system/pifog-${c.role}.service`), "utf8"));
      const s = (key: string) => one(unit, "Service", key);
      assert.equal(s("SupplementaryGroups"), c.groups, `${c.role}: groups`);
      assert.equal(s("DevicePolicy"), c.devicePolicy, `${c.role}: device policy`);
      assert.deepEqual(unit.get("Service")!.get("DeviceAllow"), c.deviceAllow, `${c.role}: devices`);
      assert.equal(s("PrivateDevices"), c.privateDevices, `${c.role}: private devices`);
      // GPIO is sysfs: /sys must stay writable for those roles
      assert.equal(s("ProtectKernelTunables"), c.tunables, `${c.role}: /sys`);
      // ProtectClock's RTC rule would close the device list of a role that has none (the camera)
      assert.equal(s("ProtectClock"), c.role === "camerapi" ? undefined : "yes", `${c.role}: clock`);
      assert.equal(s("ProtectSystem"), "strict");
      assert.equal(s("ReadWritePaths"), `/var/lib/pifog/${c.role}`);
      // I²C only where it is used: no modules-load file for the others
      assert.equal(fs.existsSync(sys.at("etc/modules-load.d/pifog-i2c.conf")), c.role === "powerpi", `${c.role}: i2c-dev`);
    }
  });

  it("puts the user only in the groups that exist on the machine, and the unit asks for no other", async () => {
    const sys = system({ groups: ["video"] });
    const calls = await install(sys, ["statuspi", "--source", checkout()]);
    assert.ok(calls.includes("usermod -a -G video pifog"), calls.join("\n"));
    const unit = parseUnit(fs.readFileSync(sys.at("etc/systemd/system/pifog-statuspi.service"), "utf8"));
    assert.equal(one(unit, "Service", "SupplementaryGroups"), "video");
  });

  it("builds the runtime from a checkout without dist/: npm ci, the image's tsc, the editor assets, then prune", async () => {
    const sys = system();
    const calls = await install(sys, ["hub", "--source", checkout({ built: false })]);
    const build = calls.filter((c) => /^(npm|npx|node) /.test(c));
    assert.deepEqual(build, [
      "npm ci --no-audit --no-fund",
      "npx tsc -p docker/tsconfig.image.json",
      "node dist/nodes/lib/build/copy-assets.js",
      "npm prune --omit=dev --no-audit --no-fund",
    ]);
  });

  it("installs from the checkout it is in by default (the files it copies exist in this repository)", async () => {
    const sys = system();
    await install(sys, ["doorpi"]);
    for (const rel of ["package.json", "package-lock.json", "settings.ts", "flows/doorpi.json", "nodes/camera/scenes", "docker/tsconfig.image.json"]) {
      assert.ok(fs.existsSync(sys.at(`opt/pifog/app/${rel}`)), `${rel} is installed`);
    }
  });

  it("refuses a wrong role or a value that would break the env file, before touching anything", async () => {
    const source = checkout();
    const refused: Array<[string[], RegExp]> = [
      [["doorbell", "--source", source], /"doorbell" is not a role/],
      [["doorpi", "--hub-url", "http://hub.local:1880\nPIFOG_ROLE=hub", "--source", source], /line break/],
      [["doorpi", "--hub-url", "http://hub.local:1880 ExecStartPre=/bin/true", "--source", source], /--hub-url must be/],
      [["doorpi", "--mqtt-url", "mqtt://user:secret@hub:1883", "--source", source], /--mqtt-url must be/],
      [["doorpi", "--device-id", "door pi", "--source", source], /--device-id must be/],
      [["hub", "--hub-url", "http://other:1880", "--source", source], /the hub itself/],
      [["doorpi", "--hardware", "real", "--source", source], /--hardware must be/],
      [["doorpi", "--http-port", "99999", "--source", source], /--http-port must be/],
      [["doorpi", "--source", os.tmpdir()], /is not a PiFog checkout/],
    ];
    for (const [args, message] of refused) {
      const sys = system();
      const r = await sys.run(INSTALL, args);
      assert.notEqual(r.code, 0, args.join(" "));
      assert.match(r.stderr, message, args.join(" "));
      assert.deepEqual(sys.takeCalls(), [], `${args.join(" ")}: nothing run`);
      assert.deepEqual([...sys.snapshot().keys()], [], `${args.join(" ")}: nothing written`);
    }
    // every role the runtime knows is one the installer takes
    for (const role of ROLES) {
      const sys = system();
      const r = await sys.run(INSTALL, [role, "--hardware", "sim", "--source", source]);
      assert.equal(r.code, 0, `${role}: ${r.stderr}`);
    }
  });

  describe("uninstall.sh", () => {
    it("stops and disables the service, removes the unit and env file, and keeps the data dir", async () => {
      const sys = system();
      const source = checkout();
      await install(sys, ["doorpi", "--source", source]);
      await install(sys, ["statuspi", "--source", source]);
      fs.writeFileSync(sys.at("var/lib/pifog/doorpi/flows-doorpi.json"), "[]");
      const r = await sys.run(UNINSTALL, ["doorpi"]);
      assert.equal(r.code, 0, r.stderr);
      const calls = sys.takeCalls();
      assert.deepEqual(calls.filter((c) => c.startsWith("systemctl")).slice(0, 2), ["systemctl disable --now pifog-doorpi.service", "systemctl daemon-reload"]);
      assert.ok(!fs.existsSync(sys.at("etc/systemd/system/pifog-doorpi.service")));
      assert.ok(!fs.existsSync(sys.at("etc/pifog/doorpi.env")));
      assert.ok(fs.existsSync(sys.at("var/lib/pifog/doorpi/flows-doorpi.json")), "the data is kept");
      // another role is still installed: its unit, its env file and the runtime stay
      assert.ok(fs.existsSync(sys.at("etc/systemd/system/pifog-statuspi.service")));
      assert.ok(fs.existsSync(sys.at("etc/pifog/statuspi.env")));
      assert.ok(fs.existsSync(sys.at("opt/pifog/app/dist/nodes/lib/runtime/cli.js")));
      assert.ok(!calls.some((c) => c.startsWith("userdel")));
      // and again: nothing left to do, no error
      const again = await sys.run(UNINSTALL, ["doorpi"]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /is not installed/);
    });

    it("--purge removes the data, and with the last role the runtime, Node and the user", async () => {
      const sys = system();
      const source = checkout();
      await install(sys, ["powerpi", "--source", source]);
      sys.takeCalls();
      const r = await sys.run(UNINSTALL, ["powerpi", "--purge"]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(sys.takeCalls().includes("userdel pifog"));
      for (const gone of ["var/lib/pifog", "opt/pifog", "etc/pifog", "etc/systemd/system/pifog-powerpi.service", "etc/modules-load.d/pifog-i2c.conf"]) {
        assert.ok(!fs.existsSync(sys.at(gone)), `${gone} is removed`);
      }
    });
  });
});
