// The simulated camera: stills of stock scenes (nodes/camera/scenes/*.png), scaled to the preset and encoded as
// JPEG. `visitor-*` scenes have a face at the door, `empty-*` none. The scene is chosen over MQTT
// (`pifog/<device>/sim/scene/set` ← a scene's name, or `visitor` / `empty` for any of that kind) and the current
// one is published retained on `pifog/<device>/sim/scene`.
import fs from "node:fs";
import path from "node:path";
import { topics } from "../../contract";
import { decodePng, encodeJpeg, resizeToFill, type Rgba } from "../../image/image";
import { CAMERA_PRESETS, type Camera, type CameraOptions, type CameraPreset, type Picture } from "../types";
import type { SimBus } from "./sim-bus";
import type { Random } from "./sim-env";

/** The simulated input's name: one topic level under `pifog/<device>/sim/`. */
export const SCENE_INPUT = "scene";
export const SCENE_KINDS = ["visitor", "empty"] as const;

/** The scenes folder: beside the sources (nodes/camera/scenes), found from src/ or from dist/. */
export function defaultScenesDir(from = __dirname): string {
  const candidates = [
    path.resolve(from, "..", "..", "..", "..", "..", "nodes", "camera", "scenes"), // dist/nodes/lib/drivers/sim
    path.resolve(from, "..", "..", "..", "camera", "scenes"), // nodes/lib/drivers/sim
  ];
  return candidates.find((dir) => fs.existsSync(dir)) ?? candidates[0]!;
}

export function sceneNames(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".png"))
    .map((f) => f.slice(0, -4))
    .sort();
}

export class SimCamera implements Camera {
  private readonly scenes: string[];
  private scene: string;
  private readonly decoded = new Map<string, Rgba>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly options: CameraOptions,
    private readonly bus: SimBus,
    private readonly random: Random = Math.random,
    private readonly dir: string = defaultScenesDir(),
  ) {
    this.scenes = sceneNames(dir);
    if (this.scenes.length === 0) throw new Error(`no scenes (*.png) in ${dir}`);
    this.scene = this.scenes.find((s) => s.startsWith("empty-")) ?? this.scenes[0]!;
    this.unsubscribe = bus.subscribe(topics.simSet(bus.device, SCENE_INPUT), (payload) => this.set(payload));
    this.publishScene();
  }

  /** The scene the next still shows. */
  get current(): string {
    return this.scene;
  }

  private set(payload: Buffer): void {
    const word = payload.toString("utf8").trim().toLowerCase();
    if (this.scenes.includes(word)) {
      this.scene = word;
    } else if ((SCENE_KINDS as readonly string[]).includes(word)) {
      const kind = this.scenes.filter((s) => s.startsWith(`${word}-`));
      if (kind.length === 0) {
        this.bus.warn(`simulated camera: no ${word} scene in ${this.dir}`);
        return;
      }
      this.scene = kind[Math.min(kind.length - 1, Math.floor(this.random() * kind.length))]!;
    } else {
      this.bus.warn(`simulated camera: "${word.slice(0, 40)}" is not one of ${[...SCENE_KINDS, ...this.scenes].join(", ")}`);
      return;
    }
    this.publishScene();
  }

  private publishScene(): void {
    this.bus.publish(topics.simState(this.bus.device, SCENE_INPUT), this.scene, true);
  }

  private image(scene: string): Rgba {
    let image = this.decoded.get(scene);
    if (!image) {
      image = decodePng(fs.readFileSync(path.join(this.dir, `${scene}.png`)));
      this.decoded.set(scene, image);
    }
    return image;
  }

  async capture(preset: CameraPreset): Promise<Picture> {
    if (!Object.hasOwn(CAMERA_PRESETS, preset)) throw new Error(`unknown camera preset "${String(preset)}"`);
    const { width, height } = CAMERA_PRESETS[preset];
    let frame = resizeToFill(this.image(this.scene), width, height);
    if (this.options.rotation === 180) frame = rotate180(frame);
    return { jpeg: encodeJpeg(frame), width, height, preset };
  }

  async close(): Promise<void> {
    this.unsubscribe();
  }
}

function rotate180(image: Rgba): Rgba {
  const out = Buffer.alloc(image.data.length);
  const pixels = image.width * image.height;
  for (let i = 0; i < pixels; i++) image.data.copy(out, (pixels - 1 - i) * 4, i * 4, i * 4 + 4);
  return { ...image, data: out };
}
