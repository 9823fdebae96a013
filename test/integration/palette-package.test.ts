// The palette package: what `npm pack` makes, installed into a clean Node-RED user dir and run by a stock `node-red`
// (no PiFog settings, no launcher), as a palette user gets it. The tarball's own files are unpacked where npm puts
// them (<userDir>/node_modules/pifog); its declared dependencies (and only those) are linked from this checkout's
// node_modules instead of downloaded and compiled again (better-sqlite3 alone builds for a minute), so a file the
// tarball lacks or a package it uses without declaring it still fails here.
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import { builtinModules } from "node:module";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { CLIPS_API } from "../../nodes/lib/camera/clip-api";
import { topics } from "../../nodes/lib/contract";
import { espeasyReadings } from "../../nodes/lib/views/espeasy";
import { startMosquitto, type Mosquitto } from "../support/mosquitto";
import { TestClient } from "../support/mqtt";
import { freePort } from "../support/ports";
import { ROOT } from "../support/runtime";
import { until } from "../support/until";

const run = promisify(execFile);

interface PackageJson {
  name: string;
  scripts: Record<string, string>;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  "node-red": { version: string; nodes: Record<string, string> };
}

interface NodeSet {
  id: string;
  name: string;
  module: string;
  types: string[];
  enabled: boolean;
  err?: string;
}

type FlowNode = { id: string; type: string; z?: string; env?: Array<{ name: string; value: string }> } & Record<string, unknown>;

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as PackageJson;
const nodeSets = Object.entries(pkg["node-red"].nodes);
// the flows the package turns into examples (nodes/lib/build/examples.ts): every role's file
const shippedFlows = fs.readdirSync(path.join(ROOT, "flows")).filter((f) => f.endsWith(".json"));
// node types that are the editor's own (tabs, groups, subflow definitions), not registered by any module
const EDITOR_TYPES = new Set(["tab", "group", "subflow", "junction"]);

/** `<userDir>/node_modules/<name>` → this checkout's copy, for each package the tarball declares. */
function linkDeclaredDependencies(installed: PackageJson, nodeModules: string): string[] {
  const from = fs.realpathSync(path.join(ROOT, "node_modules"));
  const missing: string[] = [];
  for (const name of Object.keys({ ...installed.dependencies, ...installed.optionalDependencies })) {
    const src = path.join(from, name);
    if (!fs.existsSync(src)) {
      // npm leaves out an optional dependency that does not install here; a required one is a failure
      if (!installed.optionalDependencies?.[name]) missing.push(name);
      continue;
    }
    const dest = path.join(nodeModules, name);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.symlinkSync(src, dest, "dir");
  }
  return missing;
}

/** The bare package names the package's JavaScript requires or imports. */
function requiredPackages(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".js")) {
        const text = fs.readFileSync(p, "utf8");
        // tsc emits CommonJS: require("x"), and import("x") where a module is ESM-only
        for (const m of text.matchAll(/\b(?:require|import)\(\s*"([^"]+)"\s*\)/g)) {
          const spec = m[1]!;
          if (!/^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*(\/[\w./-]*)?$/i.test(spec)) continue;
          const parts = spec.split("/");
          const name = spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
          if (!builtinModules.includes(name) && !found.has(name)) found.set(name, path.relative(dir, p));
        }
      }
    }
  };
  walk(dir);
  return found;
}

describe("the palette package (npm pack) in a stock Node-RED", function () {
  this.timeout(120_000);

  let tmp: string;
  let userDir: string;
  let packed: string[];
  let installed: PackageJson;
  let broker: Mosquitto;
  let red: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let output = "";
  let http: string;

  const admin = async (route: string, init: RequestInit = {}) => {
    const res = await fetch(`${http}${route}`, init);
    assert.ok(res.ok, `${init.method ?? "GET"} ${route}: ${res.status} ${await res.clone().text()}`);
    return res;
  };

  before(async function () {
    this.timeout(90_000);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-palette-"));
    // what prepack does after the build (the build is this test run's own dist/): the examples from flows/
    await run("npm", ["run", "--silent", "examples"], { cwd: ROOT });
    const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", tmp], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    const report = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    packed = report[0]!.files.map((f) => f.path);
    const tarball = path.join(tmp, report[0]!.filename);

    // a clean user dir with the package where `npm install <tarball>` puts it
    userDir = path.join(tmp, "user");
    const pkgDir = path.join(userDir, "node_modules", pkg.name);
    fs.mkdirSync(pkgDir, { recursive: true });
    await run("tar", ["-xzf", tarball, "-C", pkgDir, "--strip-components=1"]);
    installed = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8")) as PackageJson;
    assert.deepEqual(linkDeclaredDependencies(installed, path.join(userDir, "node_modules")), [], "every dependency is in this checkout's node_modules");
    fs.writeFileSync(path.join(userDir, "package.json"), JSON.stringify({ name: "node-red-project", private: true, dependencies: { [pkg.name]: `file:${tarball}` } }, null, 2));

    broker = await startMosquitto();
    const port = await freePort();
    http = `http://127.0.0.1:${port}`;
    // nothing of PiFog's own environment: a palette user has none (but the broker, which the examples' devices use)
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PIFOG_")));
    env.PIFOG_MQTT_URL = broker.url;
    const bin = path.join(ROOT, "node_modules", "node-red", "red.js");
    const child = spawn(process.execPath, [bin, "-u", userDir, "-p", String(port), "-D", "uiHost=127.0.0.1"], { cwd: tmp, env, stdio: ["ignore", "pipe", "pipe"] });
    red = child;
    child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    await until(() => /Started flows/.test(output) || child.exitCode !== null, "node-red to start", 45_000, () => output);
    assert.equal(child.exitCode, null, output);
  });

  after(async () => {
    if (red && red.exitCode === null) red.kill("SIGTERM");
    await exited;
    await broker?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("packs the built nodes with their editor files and locales, the examples, and no tests, benches, sources or maps", () => {
    const files = new Set(packed);
    for (const [name, file] of nodeSets) {
      const base = file.replace(/\.js$/, "");
      assert.ok(files.has(file), `${name}: ${file}`);
      assert.ok(files.has(`${base}.html`), `${name}: ${base}.html`);
      assert.ok(files.has(path.join(path.dirname(file), "locales", "en-US", `${path.basename(base)}.json`)), `${name}: its en-US messages`);
    }
    assert.equal(packed.filter((f) => f.startsWith("examples/") && f.endsWith(".json")).length, shippedFlows.length, "one example per shipped flow");
    assert.deepEqual(
      packed.filter((f) => /^dist\/(test|bench)\//.test(f) || f.endsWith(".map") || (f.endsWith(".ts") && !f.endsWith(".d.ts")) || f.startsWith("test/")),
      [],
    );
    assert.ok(files.has("README.md"));
  });

  it("declares every package its code requires", () => {
    const declared = new Set(Object.keys({ ...installed.dependencies, ...installed.optionalDependencies, ...installed.peerDependencies }));
    const undeclared = [...requiredPackages(path.join(userDir, "node_modules", pkg.name))].filter(([name]) => !declared.has(name)).map(([name, file]) => `${name} (${file})`);
    assert.deepEqual(undeclared, []);
  });

  it("packs a fresh build and its examples: prepack empties dist/, builds, then writes the examples", () => {
    assert.match(pkg.scripts.prepack ?? "", /^npm run clean\b.*&&\s*npm run build\b.*&&\s*npm run examples\b/);
    assert.match(pkg.scripts.clean ?? "", /rmSync\('dist'/);
  });

  it("registers every node type, enabled, with its editor form, help and messages, without PiFog's settings", async () => {
    const sets = (await (await admin("/nodes", { headers: { accept: "application/json" } })).json()) as NodeSet[];
    const ours = new Map(sets.filter((s) => s.module === pkg.name).map((s) => [s.name, s]));
    assert.deepEqual([...ours.keys()].sort(), nodeSets.map(([name]) => name).sort());
    for (const [name] of nodeSets) {
      const set = ours.get(name)!;
      assert.equal(set.enabled, true, name);
      assert.equal(set.err, undefined, `${name}: ${set.err}`);
      assert.deepEqual(set.types, [name]);
      const html = await (await admin(`/nodes/${pkg.name}/${name}`, { headers: { accept: "text/html" } })).text();
      assert.match(html, new RegExp(`data-template-name="${name}"`), `${name}: its editor form`);
      assert.match(html, new RegExp(`data-help-name="${name}"[^>]*>\\s*\\S`), `${name}: its help`);
      const messages = (await (await admin(`/locales/${pkg.name}/${name}?lng=en-US`)).json()) as Record<string, unknown>;
      assert.ok(messages[name] && Object.keys(messages[name] as object).length > 0, `${name}: its en-US messages`);
    }
    assert.doesNotMatch(output, /MissingServicesError|Failed to register|\[error\]/, output);
    assert.match(output, /PiFog: started without PiFog's settings/);
  });

  it("lists every shipped flow under Import → Examples, and each deploys with no unknown type or failing node", async () => {
    const listed = (await (await admin(`/library/examples/flows/${pkg.name}`)).json()) as Array<{ fn: string }>;
    assert.equal(listed.length, shippedFlows.length, JSON.stringify(listed));
    const sets = (await (await admin("/nodes", { headers: { accept: "application/json" } })).json()) as NodeSet[];
    const registered = new Set(sets.filter((s) => s.enabled).flatMap((s) => s.types));
    const client = await TestClient.connect(broker.url);
    try {
      await client.subscribe(topics.anyStatus());
      const devices = new Set<string>();
      for (const { fn } of listed) {
        const flow = (await (await admin(`/library/examples/flows/${pkg.name}/${encodeURIComponent(fn)}`)).json()) as FlowNode[];
        const unknown = [...new Set(flow.map((n) => n.type))].filter((t) => !EDITOR_TYPES.has(t) && !t.startsWith("subflow:") && !registered.has(t));
        assert.deepEqual(unknown, [], `${fn}: types no module registers`);
        const device = flow.find((n) => n.type === "tab")?.env?.find((e) => e.name === "PIFOG_DEVICE_ID")?.value;
        assert.ok(device, `${fn}: its tab names its device`);
        assert.ok(!devices.has(device), `${fn}: a device of its own (${device})`);
        devices.add(device);

        const mark = output.length;
        const starts = (output.match(/Started flows/g) ?? []).length;
        await admin("/flows", { method: "POST", headers: { "content-type": "application/json", "node-red-deployment-type": "full" }, body: JSON.stringify(flow) });
        await until(() => (output.match(/Started flows/g) ?? []).length > starts, `${fn} to start`, 20_000, () => output.slice(mark));
        // the example's device is up on the broker: its nodes run in this plain runtime
        await client.waitFor(topics.status(device), (m) => (JSON.parse(m.payload.toString()) as { state: string }).state === "online", 20_000);
        const deployed = (await (await admin("/flows", { headers: { "node-red-api-version": "v2" } })).json()) as { flows: FlowNode[] };
        assert.deepEqual(deployed.flows.map((n) => n.id).sort(), flow.map((n) => n.id).sort(), `${fn}: deployed as imported`);
        const log = output.slice(mark);
        assert.doesNotMatch(log, /Waiting for missing types|\[error\]|MissingServicesError/, `${fn}:\n${log}`);
      }
    } finally {
      await client.end();
    }
  });

  it("runs every example at once, their function nodes with the package's global.get(\"pifog\")", async () => {
    const listed = (await (await admin(`/library/examples/flows/${pkg.name}`)).json()) as Array<{ fn: string }>;
    const all: FlowNode[] = [];
    for (const { fn } of listed) all.push(...((await (await admin(`/library/examples/flows/${pkg.name}/${encodeURIComponent(fn)}`)).json()) as FlowNode[]));
    assert.equal(new Set(all.map((n) => n.id)).size, all.length, "no two examples share a node id");
    const client = await TestClient.connect(broker.url);
    try {
      // the simulated ESPEasy sensors: inject → function (pifog.views.espeasy) → mqtt out, a second after the start
      const readings = espeasyReadings(new Date()).map((r) => r.topic);
      await client.subscribe(...readings, topics.anyStatus());
      const since = client.received.length;
      const mark = output.length;
      const starts = (output.match(/Started flows/g) ?? []).length;
      await admin("/flows", { method: "POST", headers: { "content-type": "application/json", "node-red-deployment-type": "full" }, body: JSON.stringify(all) });
      await until(() => (output.match(/Started flows/g) ?? []).length > starts, "every example to start", 20_000, () => output.slice(mark));
      const after = () => client.received.slice(since);
      const devices = all.filter((n) => n.type === "tab").map((n) => n.env!.find((e) => e.name === "PIFOG_DEVICE_ID")!.value);
      const online = (d: string) => after().some((m) => m.topic === topics.status(d) && client.json<{ state: string }>(m).state === "online");
      await until(() => readings.every((t) => after().some((m) => m.topic === t)) && devices.every(online), "every device online and the ESPEasy readings", 20_000, () => after().map((m) => m.topic));
      assert.doesNotMatch(output.slice(mark), /\[error\]|Waiting for missing types|TypeError/, output.slice(mark));
      // PiFog's sign-in is its own runtime's: here its APIs let nobody in without the token only the flows get
      for (const route of ["/api/history/topics", CLIPS_API, "/api/cameras/camerapi/live"]) {
        const res = await fetch(`${http}${route}`);
        assert.equal(res.status, 401, `${route} without a token`);
        await res.body?.cancel();
      }
    } finally {
      await client.end();
    }
  });
});
