// docker/Dockerfile's steps replayed in a clean directory, without a Docker engine (none runs on these machines):
// the build context is this repository's files less docker/Dockerfile.dockerignore; each COPY copies from it (or,
// in the final stage, from the build stage's directory) and each RUN command runs there, in order. Then the final
// stage's CMD is started from the final directory with the image's ENV, and its HEALTHCHECK command is run.
// Not run, and why:
//   - `apt-get` lines (build tools, ffmpeg): system packages; this machine has its own (.ci/run installs them);
//   - `npm ci`: it takes minutes and downloads nothing new here; this repository's node_modules (installed by
//     `npm ci` from the same package-lock.json) is linked in instead;
//   - `npm prune --omit=dev`: it would prune that shared node_modules; instead every production dependency is
//     checked to resolve from the build directory;
//   - the final stage's `mkdir /data /identity && chown`: paths of the image's root; a temp data dir stands in;
//   - USER, VOLUME, EXPOSE: what the engine does with them is checked by test/unit/docker.test.ts.
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { dockerfilePath, dockerignore, envOf, ignored, readStages, type Step } from "../support/dockerfile";
import { until } from "../support/until";

const ROOT = path.resolve(__dirname, "..", "..", "..");

function sh(command: string, cwd: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile("/bin/sh", ["-c", command], { cwd, maxBuffer: 64 * 1024 * 1024, timeout: 900_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

/** The files Docker would send as the build context: the repository's (tracked, and new ones git does not ignore)
 * less what the .dockerignore leaves out. */
async function contextFiles(): Promise<string[]> {
  const r = await new Promise<string>((resolve, reject) =>
    execFile("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z"], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 }, (err, out) => (err ? reject(err) : resolve(out))),
  );
  const patterns = dockerignore(ROOT);
  return r
    .split("\0")
    .filter(Boolean)
    .filter((f) => fs.existsSync(path.join(ROOT, f)) && !ignored(f, patterns));
}

/** COPY <src>... <dest> relative to `from` into `workdir`, with Docker's rules for a folder and a trailing slash. */
function copyStep(step: Step, from: string, workdir: string): void {
  const sources = step.args.slice(0, -1);
  const destArg = step.args.at(-1)!;
  const dest = path.resolve(workdir, destArg.startsWith("/app") ? path.relative("/app", destArg) || "." : destArg);
  const intoDir = destArg.endsWith("/") || sources.length > 1;
  for (const src of sources) {
    const abs = path.join(from, src.startsWith("/app/") ? src.slice("/app/".length) : src);
    assert.ok(fs.existsSync(abs), `line ${step.line}: COPY ${src}: there is none`);
    if (fs.lstatSync(abs).isSymbolicLink()) {
      // the linked node_modules (see above) stands in for the folder npm ci made
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.symlinkSync(fs.readlinkSync(abs), dest);
      continue;
    }
    const target = fs.statSync(abs).isDirectory() ? dest : intoDir ? path.join(dest, path.basename(abs)) : dest;
    fs.mkdirSync(fs.statSync(abs).isDirectory() ? target : path.dirname(target), { recursive: true });
    fs.cpSync(abs, target, { recursive: true, verbatimSymlinks: true });
  }
}

describe("docker/Dockerfile's steps, replayed in a clean directory", function () {
  this.timeout(900_000);
  const stages = readStages(dockerfilePath(ROOT));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-image-"));
  const context = path.join(dir, "context");
  const build = path.join(dir, "build");
  const final = path.join(dir, "final");
  const notRun: string[] = [];
  let child: ChildProcess | null = null;
  let httpPort = 0;

  after(async () => {
    if (child && child.exitCode === null) {
      child.kill("SIGTERM");
      await once(child, "exit");
    }
    fs.rmSync(dir, { recursive: true, force: true });
    if (notRun.length) console.log(`      not run (see the test's header): ${notRun.join("; ")}`);
  });

  it("the build stage: copies from the context and compiles the runtime", async () => {
    for (const f of await contextFiles()) {
      fs.mkdirSync(path.dirname(path.join(context, f)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, f), path.join(context, f));
    }
    assert.ok(!fs.existsSync(path.join(context, "node_modules")) && !fs.existsSync(path.join(context, "dist")), "a clean context");
    fs.mkdirSync(build);
    for (const step of stages[0]!.steps) {
      if (step.keyword === "WORKDIR") assert.equal(step.args[0], "/app");
      else if (step.keyword === "COPY") copyStep(step, context, build);
      else if (step.keyword === "RUN") {
        for (const command of step.text.split(/\s*&&\s*/)) {
          if (/^apt-get\b|^rm -rf \/var\/lib\/apt/.test(command)) {
            if (!notRun.includes("apt-get")) notRun.push("apt-get");
          } else if (/^npm ci\b/.test(command)) {
            assert.ok(fs.existsSync(path.join(build, "package-lock.json")), "npm ci runs on the copied lock file");
            fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(build, "node_modules"));
            notRun.push("npm ci (this repository's node_modules linked)");
          } else if (/^npm prune --omit=dev\b/.test(command)) {
            const pkg = JSON.parse(fs.readFileSync(path.join(build, "package.json"), "utf8")) as { dependencies: Record<string, string> };
            for (const dep of Object.keys(pkg.dependencies)) {
              assert.ok(fs.existsSync(path.join(build, "node_modules", dep, "package.json")), `${dep} is in the build directory's node_modules`);
            }
            notRun.push("npm prune (production dependencies checked to resolve)");
          } else {
            const r = await sh(command, build);
            assert.equal(r.code, 0, `line ${step.line}: ${command}\n${r.out.slice(-4000)}`);
          }
        }
      } else assert.fail(`line ${step.line}: ${step.keyword} in the build stage is not replayed here`);
    }
    assert.ok(fs.existsSync(path.join(build, "dist", "nodes", "lib", "runtime", "cli.js")));
    assert.ok(fs.existsSync(path.join(build, "dist", "settings.js")));
    assert.ok(!fs.existsSync(path.join(build, "dist", "test")), "the image's build leaves the tests out");
    // every node's editor file sits beside its compiled code (what Node-RED's palette needs)
    const pkg = JSON.parse(fs.readFileSync(path.join(build, "package.json"), "utf8")) as { "node-red": { nodes: Record<string, string> } };
    for (const js of Object.values(pkg["node-red"].nodes)) {
      assert.ok(fs.existsSync(path.join(build, js)), js);
      assert.ok(fs.existsSync(path.join(build, js.replace(/\.js$/, ".html"))), js.replace(/\.js$/, ".html"));
    }
  });

  it("the final stage: takes what it needs from the build stage, and its CMD starts PiFog with the image's ENV", async () => {
    assert.ok(fs.existsSync(path.join(build, "dist")), "the build stage ran");
    fs.mkdirSync(final);
    for (const step of stages[1]!.steps) {
      if (step.keyword === "COPY") copyStep(step, step.flags.from === "build" ? build : context, final);
      else if (step.keyword === "RUN") {
        if (!notRun.includes("the final stage's RUN lines (apt-get, /data)")) notRun.push("the final stage's RUN lines (apt-get, /data)");
      } else if (step.keyword === "WORKDIR") assert.equal(step.args[0], "/app");
    }
    const cmd = stages[1]!.steps.find((s) => s.keyword === "CMD")!.json!;
    assert.equal(cmd[0], "node");
    assert.ok(fs.existsSync(path.join(final, cmd[1]!)), `${cmd[1]} is in the final image`);
    const data = path.join(dir, "data");
    const env = {
      ...envOf(stages[1]!, dockerfilePath(ROOT)),
      // the image's ports are taken on this machine (a Mosquitto on 1883): any free ones; the hub (compose's own)
      PIFOG_HTTP_PORT: "0",
      PIFOG_MQTT_PORT: "0",
      PIFOG_MQTTS_PORT: "0",
      PIFOG_DEVICE_HTTPS_PORT: "0",
      PIFOG_DATA_DIR: data,
      PIFOG_ROLE: "hub",
      PIFOG_HOST: "127.0.0.1",
    };
    child = spawn(process.execPath, cmd.slice(1), { cwd: final, env: { PATH: process.env.PATH, HOME: dir, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const ready = new Promise<void>((resolve, reject) => {
      child!.stdout!.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes("PiFog ready")) resolve();
      });
      child!.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
      child!.once("exit", (code) => reject(new Error(`PiFog exited (${code}) before it was ready:\n${output.slice(-4000)}`)));
    });
    await ready;
    const where = JSON.parse(fs.readFileSync(path.join(data, "runtime.json"), "utf8")) as { http: string; role: string };
    assert.equal(where.role, "hub");
    httpPort = Number(new URL(where.http).port);
    assert.ok(fs.existsSync(path.join(data, "flows-hub.json")), "its flow seeded from the image's flows/");
  });

  it("the HEALTHCHECK command passes against the running runtime", async () => {
    assert.ok(httpPort > 0, "the runtime started");
    // Docker counts no failure within the HEALTHCHECK's --start-period (the flows may still be starting): up within it
    let status = 0;
    await until(
      async () => (status = (await fetch(`http://127.0.0.1:${httpPort}/health`)).status) === 200,
      "GET /health to answer 200 within the HEALTHCHECK's start period",
      60_000,
      () => status,
    );
    const res = { status };
    const health = stages[1]!.steps.find((s) => s.keyword === "HEALTHCHECK")!.json!;
    const r = await new Promise<number>((resolve) =>
      execFile(health[0]!, health.slice(1), { env: { ...process.env, PIFOG_HTTP_PORT: String(httpPort) }, timeout: 10_000 }, (err) =>
        resolve(err ? Number((err as { code?: number }).code ?? 1) : 0),
      ),
    );
    assert.equal(r, 0, `GET /health answered ${res.status}`);
  });
});
