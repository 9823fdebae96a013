// The identity administration (admin.ts) as a starting runtime calls it, loaded on the first call: admin.ts makes
// certificates (ca.ts, @peculiar/x509, ~15 MiB), which only a runtime with its own broker (the fog's CA) needs. A Pi
// on the hub's broker never calls these, so it never loads the library.
import type * as Admin from "./admin";

function admin(): typeof Admin {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("./admin") as typeof Admin;
}

export const ensureCa = (...args: Parameters<typeof Admin.ensureCa>): ReturnType<typeof Admin.ensureCa> => admin().ensureCa(...args);
export const ensureDevice = (...args: Parameters<typeof Admin.ensureDevice>): ReturnType<typeof Admin.ensureDevice> => admin().ensureDevice(...args);
export const ensureServerTls = (...args: Parameters<typeof Admin.ensureServerTls>): ReturnType<typeof Admin.ensureServerTls> =>
  admin().ensureServerTls(...args);
