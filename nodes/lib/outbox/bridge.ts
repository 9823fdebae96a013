// What the cloud bridges (s3-writer, slack-notify, thingspeak, forwarder, email, power-monitor) do the same way
// around their outbox: open it (a second node on the same queue gets a red status, not a crash), drain it while
// the node runs, report a failure that will not go away by itself once, and keep the status from flickering.
import type { Node } from "node-red";
import type { Clock } from "../clock";
import { showStatus } from "../node-red/status";
import { DeliveryError, OutboxBusyError, type Delivered, type Outbox, type OutboxItem } from "./outbox";

/** Opens a node's outbox (or what wraps one). On failure: a red status, one error, and null.
 * `busy` words the error of a queue that another node already has open. */
export function openOutbox<O>(node: Node, busy: string, open: () => O): O | null {
  try {
    return open();
  } catch (err) {
    const message = err instanceof OutboxBusyError ? busy : (err as Error).message;
    showStatus(node, "error", message);
    node.error(message);
    return null;
  }
}

/** Starts draining and ties the outbox to the node: the status follows the queue, and the node's close closes it
 * (after `detach`, so what comes in after the close is refused, not lost). */
export function runOutbox<T>(node: Node, outbox: Outbox<T>, detach: () => void, refreshStatus: () => void): void {
  outbox.on("change", refreshStatus);
  node.on("close", (done: () => void) => {
    detach();
    outbox.close().then(() => done(), () => done());
  });
  outbox.start();
  refreshStatus();
}

/** How a node sees one failed delivery. */
export interface Failure {
  /** It will fail again until someone fixes something (a bad key, a missing bucket): logged once, retried after
   * the long wait, nothing dropped. */
  permanent: boolean;
  /** Short, for the status. */
  status: string;
  /** The log line of a permanent failure. */
  log: string;
  /** Tells permanent failures apart: each distinct one is logged once until a delivery succeeds (default: status). */
  key?: string;
  /** The outbox's lastError (default: status). */
  message?: string;
  /** A transient failure's wait (a Retry-After); without it the outbox backs off. */
  retryAfterMs?: number;
}

export interface LastResult {
  kind: "ok" | "warn" | "error";
  text: string;
}

/** A bridge that delivers its items one by one: what happened last, for the status, and each permanent failure
 * logged once. */
export class DeliveryReport {
  /** The last delivery's outcome (or anything else the node wants the status to say). */
  last: LastResult | null = null;
  private readonly reported = new Set<string>();

  constructor(
    private readonly node: Node,
    /** Wait before retrying after a permanent failure, ms. */
    private readonly permanentRetryMs: number,
  ) {}

  /** Delivers the items in order with `one` (which resolves with the status text of a success); the first failure,
   * as `classify` sees it, keeps it and the rest queued. What was delivered before it is acked. */
  async each<T>(
    items: OutboxItem<T>[],
    signal: AbortSignal,
    one: (item: OutboxItem<T>) => Promise<string>,
    classify: (err: unknown) => Failure,
  ): Promise<Delivered> {
    let ok = 0;
    for (const item of items) {
      let text: string;
      try {
        text = await one(item);
      } catch (err) {
        if (signal.aborted) throw new DeliveryError("closed", { cause: err });
        const failure = this.failed(err, classify(err));
        if (ok > 0) return { count: ok };
        throw failure;
      }
      ok++;
      this.reported.clear();
      this.last = { kind: "ok", text };
    }
    return { count: ok };
  }

  /** Records a failure (logging a permanent one the first time) and says when the outbox should try again. */
  private failed(cause: unknown, f: Failure): DeliveryError {
    this.last = { kind: f.permanent ? "error" : "warn", text: f.status };
    const key = f.key ?? f.status;
    if (f.permanent && !this.reported.has(key)) {
      this.reported.add(key);
      this.node.error(f.log);
    }
    const retryAfterMs = f.permanent ? this.permanentRetryMs : f.retryAfterMs;
    return new DeliveryError(f.message ?? f.status, { cause, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
  }

  /** `queuedText` (the queue's size in words), then the last result: blue while a success leaves items queued. */
  show(queued: number, queuedText: string): void {
    const last = this.last;
    if (!last) {
      showStatus(this.node, queued > 0 ? "busy" : "ok", queuedText);
      return;
    }
    showStatus(this.node, last.kind === "ok" && queued > 0 ? "busy" : last.kind, `${queuedText} · ${last.text}`);
  }
}

/** Shows a status at most once per `everyMs`: a burst of queue changes becomes one update at the end of the wait. */
export class StatusThrottle {
  private timer: unknown = null;
  private shownAt = -Infinity;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly everyMs: number,
    private readonly show: () => void,
  ) {}

  /** Shows it now if the last one is old enough (or `now`), else once the wait is over. */
  refresh(now = false): void {
    if (this.stopped) return;
    const due = this.shownAt + this.everyMs;
    if (!now && this.clock.now() < due) {
      if (this.timer === null) {
        this.timer = this.clock.setTimeout(() => {
          this.timer = null;
          this.refresh(true);
        }, due - this.clock.now());
      }
      return;
    }
    this.shownAt = this.clock.now();
    this.show();
  }

  /** For the node's close: nothing is shown after it. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}
