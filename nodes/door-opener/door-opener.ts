// ButtonPi: opens the front door with a pulse on a GPIO output (a relay or the strike's driver), as PiFog's
// ButtonPi did with PiFace output 0: HIGH, hold 5 s, LOW, then `command-executed` on /World/Fog/1/ButtonPi/Event.
// One pulse at a time (a second attempt meanwhile is refused "busy"), a cooldown after each, a maximum length,
// and every attempt — opened or refused — audited (who, when, through what) in `<data dir>/door-audit.jsonl`.
// It fails safe: a pulse cut short (the node stops, or an error escapes and the process goes down) ends with the
// output LOW at once and is audited as aborted; at start the output is LOW before any command is taken.
// A native `open-door` (pifog/<device>/command) must be signed by an identity whose role may open the door (the hub:
// nodes/lib/identity/trust.ts); an unsigned, tampered, replayed, stale or revoked one is refused, audited (the door's
// record and the runtime's), shown and raised to Catch nodes, and the output never moves. PiFog's compat command,
// whose clients cannot sign, is taken as before: the broker lets only identities that may command the door publish it.
import type { NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import type { Clock } from "../lib/clock";
import {
  compatCommandExecuted,
  compatTopics,
  mqttSender,
  isCleared,
  parseDoorOpenRequest,
  topics,
  trustTopics,
  type Command,
  type DoorOpenEvent,
  type DoorOpenResult,
  type DoorOpenVia,
  type DoorRefusal,
  type Topic,
} from "../lib/contract";
import { DoorAudit } from "../lib/door-audit";
import { mayCommandDoor, type Trust } from "../lib/identity/trust";
import type { Verifier } from "../lib/identity/signing";
import type { GpioOutput } from "../lib/drivers/types";
import { useDevice, type DeviceUser, type PifogDevice } from "../lib/node-red/device";
import { doorOpenerEntity } from "../lib/homeassistant/discovery";
import { failMessage } from "../lib/node-red/fail";
import { servicesOf } from "../lib/services";
import { showStatus, type StatusKind } from "../lib/node-red/status";

export interface DoorOpenerDef extends NodeDef {
  device: string;
  pin: string | number;
  activeLow: boolean;
  /** Seconds. */
  pulse: string | number;
  cooldown: string | number;
  maxPulse: string | number;
}

export interface DoorOpenerSettings {
  pin: number;
  activeLow: boolean;
  pulseMs: number;
  cooldownMs: number;
  maxPulseMs: number;
}

/** The command PiFog's ButtonPi took, on its own topic and on the native one. */
export const OPEN_DOOR = "open-door";
/** The simulated output's name: its level is published retained on `pifog/<device>/sim/door`. */
export const DOOR_OUTPUT = "door";
/** PiFog drove PiFace output 0 (over SPI); on the Pi's own header we take BCM 26, relay channel 1 of the common
 * 3-channel relay HATs (e.g. Waveshare's RPi Relay Board), free of the DoorPi's pins 17/18/22/27. */
export const DEFAULT_PIN = 26;
export const DEFAULT_PULSE_S = 5;
export const DEFAULT_COOLDOWN_S = 2;
export const DEFAULT_MAX_PULSE_S = 30;

const blank = (v: unknown) => v === undefined || v === null || String(v).trim() === "";

function seconds(value: unknown, fallback: number, min: number, max: number, what: string): number {
  const n = blank(value) ? fallback : Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${what} ${String(value)} s is not ${min}..${max}`);
  return Math.round(n * 1000);
}

/** Normalises the editor's config once; throws with a message a user can act on. */
export function normaliseDoorOpener(config: Partial<DoorOpenerDef>): DoorOpenerSettings {
  const pin = blank(config.pin) ? DEFAULT_PIN : Number(config.pin);
  if (!Number.isInteger(pin) || pin < 0 || pin > 53) throw new Error(`door GPIO ${String(config.pin)} is not 0..53`);
  const maxPulseMs = seconds(config.maxPulse, DEFAULT_MAX_PULSE_S, 0.1, 600, "maximum pulse");
  const pulseMs = seconds(config.pulse, DEFAULT_PULSE_S, 0.1, 600, "pulse");
  if (pulseMs > maxPulseMs) throw new Error(`pulse ${pulseMs / 1000} s is longer than the maximum ${maxPulseMs / 1000} s`);
  const cooldownMs = seconds(config.cooldown, DEFAULT_COOLDOWN_S, 0, 3600, "cooldown");
  return { pin, activeLow: config.activeLow === true, pulseMs, cooldownMs, maxPulseMs };
}

/** One attempt as it arrived, before the node decides. */
interface Attempt {
  id: string | number | null;
  by: string | null;
  claimedBy?: string;
  via: DoorOpenVia;
  source: "flow" | "native" | "compat";
  pulseMs: number;
  requestedAt: number;
  /** A native command's signature: refused (before anything else is considered), or whose it is. */
  signature?: { refused: DoorRefusal; detail: string } | { signedBy: string };
}

function defineDoorOpener(RED: NodeAPI) {
  return class DoorOpener extends Node {
    private user: DeviceUser | null = null;

    private readonly clock: Clock;
    private output: GpioOutput | null = null;
    private audit: DoorAudit | null = null;
    /** The running pulse: its timer, and what was audited when it began. */
    private pulse: { timer: unknown; opened: DoorOpenResult } | null = null;
    private cooldownUntil = 0;
    private closed = false;
    private opened = 0;

    constructor(config: DoorOpenerDef) {
      super(RED);
      this.createNode(config);
      this.clock = servicesOf(RED).clock;
      const user = useDevice(RED, this, config.device, "door-opener");
      if (!user) return;
      this.user = user;
      const device = user.device;
      if (!device) return;
      const s = user.settings(() => normaliseDoorOpener(config));
      if (!s) return;
      this.audit = new DoorAudit(servicesOf(RED).dataDir);
      try {
        this.output = user.drivers.gpioOutput({ name: DOOR_OUTPUT, pin: s.pin, activeLow: s.activeLow, initial: 0 });
        this.show("ok", RED._("door-opener.status.ready"));
        const deregister = servicesOf(RED).safeState.register(`door-opener ${this.id}`, () => this.goSafe(device, "failure"));
        this.on("close", () => deregister());
      } catch (err) {
        // still listening: every attempt is answered (refused, "unavailable") and audited
        if (!user.refusedPin(err)) {
          this.show("off", RED._("door-opener.status.unavailable"));
          this.warn(RED._("door-opener.errors.unavailable", { error: (err as Error).message }));
        }
      }

      // Home Assistant's button sends PiFog's command (it cannot sign a native one): a device with no PiFog name has none
      const button = doorOpenerEntity(device.compat);
      user.announce(button ? [button] : []);

      const trust = servicesOf(RED).trust;
      const verifier = trust.verifier(mayCommandDoor, this.id);
      if (!verifier) {
        this.warn(RED._("door-opener.errors.no-ca", { detail: trust.missing ?? "" }));
        if (this.output) this.show("warn", RED._("door-opener.status.no-ca"));
      }
      this.followRevocations(device, trust);

      const onCommand = (command: Command, source: "native" | "compat", raw?: Buffer) => {
        if (command.command !== OPEN_DOOR || this.closed) return;
        try {
          const signature = source === "native" ? this.checkSignature(device, verifier, trust, raw) : undefined;
          this.attempt(device, s, {
            id: command.id ?? null,
            // who asked is the path it came on, never the payload: the sender's MQTT client id (`mqtt` when unknown)
            by: command.from ?? mqttSender(null),
            claimedBy: command.by,
            via: source,
            source,
            pulseMs: s.pulseMs,
            requestedAt: this.clock.now(),
            ...(signature ? { signature } : {}),
          });
        } catch (err) {
          const topic = source === "compat" && device.compat ? compatTopics.command(device.compat) : topics.command(device.deviceId);
          failMessage(RED, this, err as Error, { topic, payload: command } as NodeMessage);
        }
      };
      device.link.on("command", onCommand);

      this.on("input", (msg: NodeMessageInFlow, send, done) => {
        try {
          const request = parseDoorOpenRequest(msg.payload);
          const pulseMs = request.seconds === undefined ? s.pulseMs : Math.min(Math.round(request.seconds * 1000), s.maxPulseMs);
          this.attempt(
            device,
            s,
            {
              id: request.id ?? (typeof msg._msgid === "string" ? msg._msgid : null),
              by: request.by ?? null,
              via: request.via ?? "flow",
              source: "flow",
              pulseMs,
              requestedAt: this.clock.now(),
            },
            (result) => {
              send({ ...msg, payload: result } as NodeMessage);
              done();
            },
          );
        } catch (err) {
          failMessage(RED, this, err as Error, msg, done);
        }
      });

      this.on("close", (done: () => void) => {
        this.closed = true;
        device.link.off("command", onCommand);
        try {
          // never leave the door held open
          void this.goSafe(device, "stop");
        } catch {
          // the driver is closing anyway
        }
        const closing = this.output?.close() ?? Promise.resolve();
        closing.then(() => done(), () => done());
      });
    }

    /** Decides an attempt: refused at once (busy, cooldown, no GPIO) or a pulse; audited either way. */
    private attempt(device: PifogDevice, s: DoorOpenerSettings, a: Attempt, reply?: (result: DoorOpenResult) => void): void {
      const now = this.clock.now();
      const base: DoorOpenResult = {
        device: device.deviceId,
        command: OPEN_DOOR,
        id: a.id,
        by: a.by,
        ...(a.claimedBy !== undefined ? { claimedBy: a.claimedBy } : {}),
        via: a.via,
        result: "refused",
        pulseMs: a.pulseMs,
        requestedAt: new Date(a.requestedAt).toISOString(),
        ...(a.signature && "signedBy" in a.signature ? { signedBy: a.signature.signedBy } : {}),
      };
      if (a.signature && "refused" in a.signature) {
        const refused: DoorOpenResult = { ...base, reason: a.signature.refused, detail: a.signature.detail };
        this.finish(device, a, refused, reply);
        this.refuseSignature(device, a, refused);
        return;
      }
      const refusal: DoorRefusal | null = !this.output ? "unavailable" : this.pulse ? "busy" : now < this.cooldownUntil ? "cooldown" : null;
      if (refusal) {
        this.finish(device, a, { ...base, reason: refusal }, reply);
        return;
      }
      const output = this.output!;
      const opened: DoorOpenResult = { ...base, result: "opened", openedAt: new Date(now).toISOString() };
      try {
        // on the disk before the door moves: an opening nobody can account for never happens
        this.record(opened);
      } catch (err) {
        this.warn(RED._("door-opener.errors.audit", { error: (err as Error).message }));
        this.finish(device, a, { ...base, reason: "audit-failed" }, reply, false);
        return;
      }
      output.write(1);
      this.show("busy", RED._("door-opener.status.open", { seconds: a.pulseMs / 1000, by: a.by ?? a.via }));
      const end = () => {
        if (this.pulse?.opened !== opened) return;
        this.pulse = null;
        output.write(0);
        const closedAt = this.clock.now();
        this.cooldownUntil = closedAt + s.cooldownMs;
        this.opened++;
        const result: DoorOpenResult = { ...opened, closedAt: new Date(closedAt).toISOString() };
        if (a.source === "compat" && device.compat) {
          const executed = compatCommandExecuted(OPEN_DOOR, a.id, new Date(closedAt));
          this.publish(device, compatTopics.event(device.compat), executed);
        }
        this.finish(device, a, result, reply, false);
        this.show("ok", RED._("door-opener.status.opened", { count: this.opened, time: new Date(closedAt).toISOString().slice(11, 19) }));
      };
      this.pulse = { timer: this.clock.setTimeout(end, a.pulseMs), opened };
    }

    /** A native command's signature, checked against the CA and the revocations (services.trust). */
    private checkSignature(device: PifogDevice, verifier: Verifier | null, trust: Trust, raw: Buffer | undefined): Attempt["signature"] {
      if (!verifier) return { refused: "no-ca", detail: trust.missing ?? "no CA" };
      let payload: unknown = null;
      try {
        payload = raw ? JSON.parse(raw.toString("utf8")) : null;
      } catch {
        payload = null;
      }
      const r = verifier.verify(payload, { topic: topics.command(device.deviceId) });
      if (r.ok) return { signedBy: r.signer.cn };
      const who = r.signer ? ` (signed by "${r.signer.cn}")` : "";
      return { refused: r.reason, detail: `${r.detail}${who}` };
    }

    /** A refused signature is more than a busy door: the runtime's audit has it, and Catch nodes see it. */
    private refuseSignature(device: PifogDevice, a: Attempt, result: DoorOpenResult): void {
      const reason = RED._("door-opener.errors.signature", { reason: result.reason ?? "", detail: result.detail ?? "" });
      servicesOf(RED).audit.record({
        event: "door.command.refused",
        via: a.via === "native" ? "mqtt" : String(a.via),
        who: a.by ?? "mqtt",
        reason,
        refusal: result.reason,
        device: device.deviceId,
        id: a.id,
        ...(a.claimedBy !== undefined ? { claimedBy: a.claimedBy } : {}),
      });
      this.show("error", RED._("door-opener.status.refused", { reason: result.reason ?? "", by: a.by ?? a.via }));
      const err = new Error(reason);
      err.name = "DoorCommandRefused";
      this.error(err, { topic: topics.command(device.deviceId), payload: result } as NodeMessage);
    }

    /** On a Pi, the hub's revocation list (retained): each one checked against the CA before it counts. */
    private followRevocations(device: PifogDevice, trust: Trust): void {
      if (!trust.caCert) return;
      const off = device.link.subscribe(trustTopics.crl(), (_topic, payload) => {
        if (isCleared(payload)) return;
        trust.acceptCrl(payload.toString("utf8")).then(
          (r) => {
            if (r.taken) this.log(RED._("door-opener.log.crl", { count: r.serials, at: r.thisUpdate }));
            else if (r.why === "invalid" || r.why === "older") {
              this.warn(RED._("door-opener.errors.crl", { detail: r.detail }));
              servicesOf(RED).audit.record({ event: "trust.crl.refused", via: "mqtt", reason: r.detail, device: device.deviceId });
            }
          },
          (err: Error) => this.warn(RED._("door-opener.errors.crl", { detail: err.message })),
        );
      });
      this.on("close", () => off());
    }

    /** The output LOW now, before anything else; a running pulse ends there, audited and announced as aborted.
     * Returns what is still on its way out (the level's and the event's publishes). */
    private goSafe(device: PifogDevice, by: "failure" | "stop"): Promise<unknown> | undefined {
      const pulse = this.pulse;
      this.pulse = null;
      if (pulse) this.clock.clearTimeout(pulse.timer);
      this.output?.write(0);
      const settled = this.output?.settled?.();
      if (!pulse) return settled;
      const closedAt = this.clock.now();
      this.cooldownUntil = closedAt;
      const result: DoorOpenResult = { ...pulse.opened, reason: "aborted", abortedBy: by, closedAt: new Date(closedAt).toISOString() };
      try {
        this.record(result);
      } catch (err) {
        this.warn(RED._("door-opener.errors.audit", { error: (err as Error).message }));
      }
      const event: DoorOpenEvent = { "open-door": result };
      const published = this.publish(device, topics.event(device.deviceId), event);
      this.show("warn", RED._("door-opener.status.aborted"));
      return Promise.all([settled, published]);
    }

    /** Audits (unless already), publishes the native event and answers the flow. */
    private finish(device: PifogDevice, a: Attempt, result: DoorOpenResult, reply?: (r: DoorOpenResult) => void, audit = true): void {
      if (audit) {
        try {
          this.record(result);
        } catch (err) {
          this.warn(RED._("door-opener.errors.audit", { error: (err as Error).message }));
        }
      }
      const event: DoorOpenEvent = { "open-door": result };
      this.publish(device, topics.event(device.deviceId), event);
      if (result.result === "refused" && this.output) {
        this.show("warn", RED._("door-opener.status.refused", { reason: result.reason ?? "", by: a.by ?? a.via }));
      }
      if (reply) reply(result);
      else if (!this.closed) this.send({ topic: topics.event(device.deviceId), payload: result } as NodeMessage);
    }

    private record(result: DoorOpenResult): void {
      this.audit!.append({ at: new Date(this.clock.now()).toISOString(), node: this.id, ...result });
    }

    private publish<P>(device: PifogDevice, topic: Topic<P>, payload: P): Promise<void> {
      return device.link.publish(topic, payload, { qos: 1, retain: false }).catch((err: Error) => {
        if (!this.closed) this.warn(RED._("door-opener.errors.publish", { topic, error: err.message }));
      });
    }

    /** The node's own status, combined with its device's link once it has one. */
    private show(kind: StatusKind, text: string): void {
      if (this.user) this.user.show(kind, text);
      else showStatus(this, kind, text);
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineDoorOpener(RED).registerType(RED, "door-opener");
}
