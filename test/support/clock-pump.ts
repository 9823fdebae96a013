// Drives a FakeClock against real peers (an HTTP fake, a broker): time moves in small steps, real I/O runs
// between them, and time stands still while the node waits on a peer, so a timeout on the fake clock fires only
// where it would on a Pi, however loaded the machine running the tests is.
import type { FakeClock } from "./fake-clock";

export interface PumpOptions {
  /** How far time moves in one step, ms. */
  stepMs: number;
  /** True while the node waits for a peer's answer: time does not move then. */
  busy?: () => boolean;
  /** Real time allowed, ms. */
  timeoutMs?: number;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function whileBusy(busy: () => boolean, end: number, what: string): Promise<void> {
  while (busy()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (a delivery never ended)`);
    await new Promise<void>((resolve) => setTimeout(resolve, 1));
  }
}

/** Moves the clock forward by `ms` of fake time. */
export async function advance(clock: FakeClock, ms: number, o: PumpOptions): Promise<void> {
  const end = Date.now() + (o.timeoutMs ?? 20_000);
  const target = clock.now() + ms;
  while (clock.now() < target) {
    await whileBusy(o.busy ?? (() => false), end, `${ms} ms of fake time`);
    clock.tick(Math.min(o.stepMs, target - clock.now()));
    await turn();
  }
  await whileBusy(o.busy ?? (() => false), end, `${ms} ms of fake time`);
}

/** Moves the clock forward until `test` holds; fails naming `what` (and the fake time it took). */
export async function advanceUntil(clock: FakeClock, test: () => boolean, what: string, o: PumpOptions): Promise<void> {
  const end = Date.now() + (o.timeoutMs ?? 20_000);
  const start = clock.now();
  const busy = o.busy ?? (() => false);
  for (;;) {
    await whileBusy(busy, end, what);
    if (test()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (${clock.now() - start} ms of fake time)`);
    clock.tick(o.stepMs);
    await turn();
  }
}
