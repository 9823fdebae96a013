// @peculiar/x509 resolves its algorithms through tsyringe, which refuses to load without the Reflect metadata API
// (`reflect-metadata`, not among our dependencies). tsyringe reads and writes only its own metadata, so this is the
// small part of that API it uses: per-target maps, with the prototype chain walked by getMetadata. Imported once,
// before @peculiar/x509; left alone when a full polyfill is already present.
type MetadataMap = Map<unknown, unknown>;

interface ReflectMetadata {
  getMetadata(key: unknown, target: object): unknown;
  getOwnMetadata(key: unknown, target: object): unknown;
  defineMetadata(key: unknown, value: unknown, target: object): void;
  hasMetadata(key: unknown, target: object): boolean;
  hasOwnMetadata(key: unknown, target: object): boolean;
  metadata(key: unknown, value: unknown): (target: object) => void;
}

const reflect = Reflect as typeof Reflect & Partial<ReflectMetadata>;

if (typeof reflect.getMetadata !== "function") {
  const store = new WeakMap<object, MetadataMap>();
  const own = (target: object): MetadataMap | undefined => store.get(target);
  const api: ReflectMetadata = {
    getOwnMetadata: (key, target) => own(target)?.get(key),
    hasOwnMetadata: (key, target) => own(target)?.has(key) ?? false,
    hasMetadata(key, target) {
      for (let t: object | null = target; t; t = Object.getPrototypeOf(t) as object | null) if (own(t)?.has(key)) return true;
      return false;
    },
    getMetadata(key, target) {
      for (let t: object | null = target; t; t = Object.getPrototypeOf(t) as object | null) {
        const map = own(t);
        if (map?.has(key)) return map.get(key);
      }
      return undefined;
    },
    defineMetadata(key, value, target) {
      let map = store.get(target);
      if (!map) store.set(target, (map = new Map()));
      map.set(key, value);
    },
    metadata: (key, value) => (target) => api.defineMetadata(key, value, target),
  };
  Object.assign(Reflect, api);
}

export {};
