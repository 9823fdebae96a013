// Our own Mosquitto on a free loopback port (the machine's 127.0.0.1:1883 one is shared and keeps retained
// messages from other runs). CI installs the `mosquitto` package; a missing binary is a failure, not a skip.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { freePort } from "./ports";

export interface Mosquitto {
  url: string;
  port: number;
  stop(): Promise<void>;
  /** Stops it (as an outage would) without removing its config or persistence directory. */
  pause(): Promise<void>;
  /** Starts it again on the same port with the same config. */
  resume(): Promise<void>;
}

export const MOSQUITTO_BIN = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"].find((p) => fs.existsSync(p));

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `extraConfig` lines are added to a minimal config (anonymous, no persistence), or replace it with replaceDefaults. */
export async function startMosquitto(extraConfig: string[] = [], options: { replaceDefaults?: boolean } = {}): Promise<Mosquitto> {
  if (!MOSQUITTO_BIN) throw new Error("mosquitto is not installed (apt-get install mosquitto); .ci/run installs it");
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-mosquitto-"));
  const conf = path.join(dir, "mosquitto.conf");
  const defaults = options.replaceDefaults ? [] : ["allow_anonymous true", "persistence false"];
  fs.writeFileSync(conf, [`listener ${port} 127.0.0.1`, ...defaults, ...extraConfig].join("\n") + "\n");
  const bin = MOSQUITTO_BIN;
  const launch = async () => {
    const child = spawn(bin, ["-c", conf], { stdio: "ignore" });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    await waitForPort(port, child, 5000);
    return { child, exited };
  };
  let running: { child: ChildProcess; exited: Promise<void> } | null = await launch();
  const halt = async () => {
    if (!running) return;
    if (running.child.exitCode === null) running.child.kill("SIGTERM");
    await running.exited;
    running = null;
  };
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    pause: halt,
    resume: async () => {
      if (!running) running = await launch();
    },
    stop: async () => {
      await halt();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Mosquitto on a configuration file of the test's own making (its listeners' ports chosen by the test): started,
 * awaited on `port`, stopped by the returned function. */
export async function runMosquitto(confFile: string, port: number): Promise<{ stop(): Promise<void>; output(): string }> {
  if (!MOSQUITTO_BIN) throw new Error("mosquitto is not installed (apt-get install mosquitto); .ci/run installs it");
  const child = spawn(MOSQUITTO_BIN, ["-c", confFile], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    await waitForPort(port, child, 5000);
  } catch (err) {
    throw new Error(`${(err as Error).message}:\n${output}`);
  }
  return {
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
