// A dashboard's socket as a test drives it: socket.io-client on `<http>/ui/socket.io`, starting with polling as the
// dashboard's own client does, with a signed-in browser's session cookie (test/support/people.ts presetSession). It keeps every update-value it is sent, and lets a test wait for the next
// `ui-controls` (which the server sends to everyone after a `ui-refresh`): everything the server emitted to this
// socket before that has arrived by then.
import { io, type Socket } from "socket.io-client";

export type Update = Record<string, unknown> & { id?: string; msg?: Record<string, unknown> };

export class DashboardSocket {
  readonly updates: Update[] = [];
  /** The notifications the hub showed this browser (show-toast messages: a refusal says why). */
  readonly toasts: string[] = [];
  private controls = 0;
  readonly disconnected: Promise<string>;

  private constructor(readonly socket: Socket) {
    socket.on("update-value", (u: Update) => this.updates.push(u));
    socket.on("show-toast", (t: { message?: unknown }) => this.toasts.push(String(t?.message)));
    socket.on("ui-controls", () => this.controls++);
    this.disconnected = new Promise((resolve) => socket.once("disconnect", (reason) => resolve(String(reason))));
  }

  /** Connected, with the dashboard's first `ui-controls` received. `cookie`: the Cookie header's value (a session);
   * without one the hub refuses the connection (connect_error: "sign in first"). */
  static async connect(http: string, cookie?: string, timeoutMs = 10_000): Promise<DashboardSocket> {
    const socket = io(http, {
      path: "/ui/socket.io",
      transports: ["polling", "websocket"],
      reconnection: false,
      forceNew: true,
      timeout: timeoutMs,
      ...(cookie ? { extraHeaders: { cookie } } : {}),
    });
    const client = new DashboardSocket(socket);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no dashboard socket within ${timeoutMs} ms`)), timeoutMs);
      socket.once("connect_error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.once("ui-controls", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return client;
  }

  get id(): string {
    return this.socket.id ?? "";
  }

  emit(event: string, ...args: unknown[]): void {
    this.socket.emit(event, ...args);
  }

  /** Resolves on the next `ui-controls` this socket receives. */
  nextControls(timeoutMs = 10_000): Promise<void> {
    const before = this.controls;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ui-controls within ${timeoutMs} ms`)), timeoutMs);
      const check = () => {
        if (this.controls > before) {
          clearTimeout(timer);
          this.socket.off("ui-controls", check);
          resolve();
        }
      };
      this.socket.on("ui-controls", check);
    });
  }

  /** Resolves with the first notification (already shown or still to come) that matches `pattern`. */
  async toast(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = this.toasts.find((t) => pattern.test(t));
      if (found) return found;
      if (Date.now() > end) throw new Error(`no notification matching ${pattern} within ${timeoutMs} ms; saw ${JSON.stringify(this.toasts)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The first update (already received or still to come) that passes `test`. */
  async update(test: (u: Update) => boolean, timeoutMs = 10_000): Promise<Update> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = this.updates.find(test);
      if (found) return found;
      if (Date.now() > end) throw new Error(`no matching update-value within ${timeoutMs} ms; saw ids ${this.updates.map((u) => u.id).join(", ")}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    this.socket.close();
  }
}
