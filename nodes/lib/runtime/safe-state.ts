// The fail-safe: every node that drives an output registers how to put it in its safe state (a door's relay
// low), so that when an error escapes and the process must die, it dies with every output safe. The launcher
// makes one SafeState and hands it to the nodes in the runtime's services (`servicesOf(RED).safeState`); the CLI calls
// `failSafeExit` on an uncaught exception or an unhandled rejection.

/** Drives an output to its safe level, synchronously (a Pi's GPIO write goes to the kernel before it returns);
 * may return a promise for what is still in flight (an MQTT publish of the level, an event), which the process
 * waits for, briefly, before it exits. */
export type GoSafe = () => void | Promise<unknown>;

export class SafeState {
  private readonly entries = new Map<number, { name: string; goSafe: GoSafe }>();
  private next = 0;

  /** Registers an output's go-safe function; call the returned function to deregister (on close). */
  register(name: string, goSafe: GoSafe): () => void {
    const key = this.next++;
    this.entries.set(key, { name, goSafe });
    return () => {
      this.entries.delete(key);
    };
  }

  get size(): number {
    return this.entries.size;
  }

  /** Runs every go-safe function, each on its own: one that throws does not keep the others from running.
   * Returns what they left in flight, each settling (never rejecting). */
  goSafe(onError: (name: string, err: unknown) => void): Promise<void>[] {
    const pending: Promise<void>[] = [];
    for (const { name, goSafe } of [...this.entries.values()]) {
      try {
        const left = goSafe();
        if (left && typeof left.then === "function") {
          pending.push(left.then(() => undefined, (err: unknown) => onError(name, err)));
        }
      } catch (err) {
        onError(name, err);
      }
    }
    return pending;
  }
}

/** How long a dying process waits for the safe levels' publishes (and the audit) to leave it. */
export const FAIL_SAFE_GRACE_MS = 1000;

export interface FailSafeExit {
  log: (line: string) => void;
  exit: (code: number) => void;
  graceMs?: number;
  setTimeout?: (fn: () => void, ms: number) => unknown;
}

/** The handler for an error that escaped: logs the cause with its stack, drives every output safe, lets what
 * that published leave (at most `graceMs`), and exits 1. Called again meanwhile (a second error), it only logs. */
export function failSafeExit(safe: SafeState, o: FailSafeExit): (kind: string, err: unknown) => void {
  let dying = false;
  // by shape, not instanceof: an error thrown in a function node comes from another realm (the node's sandbox)
  const describe = (err: unknown) => {
    const e = err as { stack?: unknown; message?: unknown } | null;
    if (e && typeof e === "object" && typeof e.stack === "string") return e.stack;
    if (e && typeof e === "object" && typeof e.message === "string") return e.message;
    return String(err);
  };
  return (kind, err) => {
    if (dying) {
      o.log(`PiFog: ${kind} while going safe: ${describe(err)}`);
      return;
    }
    dying = true;
    o.log(`PiFog: ${kind}, every output goes to its safe level and the process exits: ${describe(err)}`);
    const pending = safe.goSafe((name, e) => o.log(`PiFog: could not make ${name} safe: ${describe(e)}`));
    const wait = o.setTimeout ?? ((fn: () => void, ms: number) => setTimeout(fn, ms));
    let exited = false;
    const exit = () => {
      if (exited) return;
      exited = true;
      o.exit(1);
    };
    // never hang: the exit comes after the grace even if a publish never completes
    wait(exit, o.graceMs ?? FAIL_SAFE_GRACE_MS);
    void Promise.all(pending).then(exit);
  };
}
