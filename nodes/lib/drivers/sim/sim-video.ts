// The simulated camera's MJPEG stream: the scenes of a motion script (./motion-scenes.ts) rendered at the stream's
// size and rate on the runtime's clock, encoded with jpeg-js (one encoder per stream, its tables built once).
// The script is chosen over MQTT
// (`pifog/<device>/sim/motion/set` ← a script's name); the one playing is published retained on
// `pifog/<device>/sim/motion`. A new script starts from its beginning.
import type { Clock } from "../../clock";
import { topics } from "../../contract";
import type { StreamFormat } from "../../camera/types";
import { JpegEncoder } from "../../image/jpeg-encoder";
import type { MjpegCamera, MjpegSink } from "../types";
import { SIM_MOTION_SCRIPTS, SceneRenderer, type MotionScript } from "./motion-scenes";
import type { SimBus } from "./sim-bus";
import type { Random } from "./sim-env";

/** The simulated input's name: one topic level under `pifog/<device>/sim/`. */
export const MOTION_INPUT = "motion";
export const SIM_JPEG_QUALITY = 75;

export class SimMjpegCamera implements MjpegCamera {
  private script: MotionScript;
  private scriptStart: number;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly bus: SimBus,
    private readonly clock: Clock,
    private readonly random: Random,
    initialScript = "static",
  ) {
    this.script = SIM_MOTION_SCRIPTS[initialScript] ?? SIM_MOTION_SCRIPTS.static!;
    this.scriptStart = clock.now();
    this.unsubscribe = bus.subscribe(topics.simSet(bus.device, MOTION_INPUT), (payload) => this.choose(payload.toString("utf8")));
    this.publishScript();
  }

  /** The script playing, and its time now (ms since it started, looped). */
  get playing(): { script: MotionScript; t: number } {
    const elapsed = this.clock.now() - this.scriptStart;
    return { script: this.script, t: this.script.loopMs ? elapsed % this.script.loopMs : elapsed };
  }

  /** Plays the named script from its start; false (and a warning) for a name that is none. */
  choose(name: string): boolean {
    const word = name.trim().toLowerCase();
    const script = Object.hasOwn(SIM_MOTION_SCRIPTS, word) ? SIM_MOTION_SCRIPTS[word]! : null;
    if (!script) {
      this.bus.warn(`simulated camera: "${word.slice(0, 40)}" is not one of ${Object.keys(SIM_MOTION_SCRIPTS).join(", ")}`);
      return false;
    }
    this.script = script;
    this.scriptStart = this.clock.now();
    this.publishScript();
    return true;
  }

  private publishScript(): void {
    void this.bus.publish(topics.simState(this.bus.device, MOTION_INPUT), this.script.name, true);
  }

  /** One frame as the stream would send it now. `last`: the previous frame of the same renderer, reused (not
   * encoded again) when the scene has not changed. */
  frame(
    format: StreamFormat,
    renderer = new SceneRenderer(format.width, format.height, this.random),
    last?: { key: string | null; jpeg: Buffer },
    encoder = new JpegEncoder(SIM_JPEG_QUALITY),
  ): Buffer {
    const { script, t } = this.playing;
    const key = `${script.name}|${renderer.key(script, t)}`;
    if (last && last.key === key && !key.endsWith("|null")) return last.jpeg;
    let rgba = renderer.render(script, t);
    if (format.rotation === 180) rgba = rotate180(rgba);
    const encoded = encoder.encode({ data: rgba, width: format.width, height: format.height });
    if (last) {
      last.key = key;
      last.jpeg = encoded;
    }
    return encoded;
  }

  start(format: StreamFormat, sink: MjpegSink): { close(): Promise<void> } {
    const renderer = new SceneRenderer(format.width, format.height, this.random);
    const encoder = new JpegEncoder(SIM_JPEG_QUALITY);
    let first = true;
    // most frames of a quiet room are the one before: encoded once
    const last = { key: null as string | null, jpeg: Buffer.alloc(0) };
    const timer = this.clock.setInterval(() => {
      if (first) sink.state({ state: "running", program: "simulated camera" });
      first = false;
      sink.frame(this.frame(format, renderer, last, encoder));
    }, Math.round(1000 / format.fps));
    return {
      close: async () => {
        this.clock.clearInterval(timer);
      },
    };
  }

  close(): void {
    this.unsubscribe();
  }
}

function rotate180(rgba: Buffer): Buffer {
  const out = Buffer.alloc(rgba.length);
  const pixels = rgba.length / 4;
  for (let i = 0; i < pixels; i++) out.writeUInt32LE(rgba.readUInt32LE(i * 4), (pixels - 1 - i) * 4);
  return out;
}
