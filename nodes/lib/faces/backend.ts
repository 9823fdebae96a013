// Loads @vladmandic/face-api once per process on TensorFlow.js's WASM backend, entirely from files on disk:
// the wasm binaries from @tensorflow/tfjs-backend-wasm, the weights from face-api's model/ folder. Nothing is
// fetched at run time. If the WASM backend cannot start, the pure-JS CPU backend takes over (slower).
import Module from "node:module";
import path from "node:path";

/** The small part of face-api's API PiFog uses. */
export interface FaceApi {
  tf: TfCore;
  nets: {
    tinyFaceDetector: { loadFromDisk(dir: string): Promise<void>; isLoaded: boolean };
    ssdMobilenetv1: { loadFromDisk(dir: string): Promise<void>; isLoaded: boolean };
  };
  TinyFaceDetectorOptions: new (o: { inputSize: number; scoreThreshold: number }) => object;
  SsdMobilenetv1Options: new (o: { minConfidence: number; maxResults?: number }) => object;
  detectAllFaces(input: unknown, options: object): Promise<FaceApiDetection[]>;
}

export interface FaceApiDetection {
  score: number;
  box: { x: number; y: number; width: number; height: number };
}

export interface TfTensor {
  dispose(): void;
}

export interface TfCore {
  tensor3d(values: Int32Array, shape: [number, number, number], dtype: "int32"): TfTensor;
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  getBackend(): string;
  Tensor: { prototype: Record<string, unknown> };
  [op: string]: unknown;
}

export interface LoadedFaceApi {
  api: FaceApi;
  /** "wasm", or "cpu" when the WASM backend could not start. */
  backend: string;
}

let loading: Promise<LoadedFaceApi> | null = null;

/** face-api on its backend with both detector models loaded; the first call loads, later calls share it. */
export function loadFaceApi(): Promise<LoadedFaceApi> {
  if (!loading) {
    loading = load();
    loading.catch(() => {
      loading = null; // let a later frame try again
    });
  }
  return loading;
}

async function load(): Promise<LoadedFaceApi> {
  const api = requireFaceApi();
  const tf = api.tf;
  let backend = "wasm";
  try {
    const wasm = require("@tensorflow/tfjs-backend-wasm") as { setWasmPaths(p: string): void };
    wasm.setWasmPaths(path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm")) + path.sep);
    if (!(await tf.setBackend("wasm"))) throw new Error("the WASM backend did not start");
    await tf.ready();
  } catch {
    require("@tensorflow/tfjs-backend-cpu");
    backend = "cpu";
    await tf.setBackend("cpu");
    await tf.ready();
  }
  const modelDir = path.join(path.dirname(require.resolve("@vladmandic/face-api/package.json")), "model");
  await api.nets.tinyFaceDetector.loadFromDisk(modelDir);
  await api.nets.ssdMobilenetv1.loadFromDisk(modelDir);
  return { api, backend: tf.getBackend() || backend };
}

/** face-api's node-wasm build requires the full `@tensorflow/tfjs`; when only tfjs-core is installed it is
 * given tfjs-core instead, with the chained tensor methods (`t.as3D()`…) that the full package would add. */
function requireFaceApi(): FaceApi {
  const entry = "@vladmandic/face-api/dist/face-api.node-wasm.js";
  if (hasModule("@tensorflow/tfjs")) return require(entry) as FaceApi;
  const core = require("@tensorflow/tfjs-core") as TfCore;
  addChainedOps(core);
  const internal = Module as unknown as { _resolveFilename(request: string, ...rest: unknown[]): string };
  const resolve = internal._resolveFilename;
  internal._resolveFilename = function (request: string, ...rest: unknown[]) {
    return resolve.call(this, request === "@tensorflow/tfjs" ? "@tensorflow/tfjs-core" : request, ...rest);
  };
  try {
    return require(entry) as FaceApi;
  } finally {
    internal._resolveFilename = resolve;
  }
}

function hasModule(name: string): boolean {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}

/** What tfjs-core's register_all_chained_ops does (its ESM files cannot be required from CommonJS):
 * `tensor.op(...args)` is `tf.op(tensor, ...args)`. */
function addChainedOps(tf: TfCore): void {
  const proto = tf.Tensor.prototype;
  if ("as3D" in proto) return;
  const call = (name: string) => tf[name] as (...args: unknown[]) => unknown;
  for (const [name, fn] of Object.entries(tf)) {
    if (typeof fn !== "function" || !/^[a-z]/.test(name) || name in proto) continue;
    proto[name] = function (this: unknown, ...args: unknown[]) {
      return (fn as (...a: unknown[]) => unknown)(this, ...args);
    };
  }
  for (const rank of [1, 2, 3, 4, 5]) {
    proto[`as${rank}D`] = function (this: unknown, ...shape: number[]) {
      return call("reshape")(this, shape);
    };
  }
  proto.asScalar = function (this: unknown) {
    return call("reshape")(this, []);
  };
  proto.asType = function (this: unknown, dtype: string) {
    return call("cast")(this, dtype);
  };
  for (const [name, dtype] of [["toFloat", "float32"], ["toInt", "int32"], ["toBool", "bool"]] as const) {
    proto[name] = function (this: unknown) {
      return call("cast")(this, dtype);
    };
  }
}
