// The alert state machine, one track per (rule, topic): pending while the condition holds for less than
// "for", active once raised (repeated until acknowledged), cleared past the hysteresis, then a cooldown in
// which no new alert is raised. Pure: the caller says what time it is and schedules `tick` at `nextDue()`.
//
//   idle ──value past threshold──▶ pending ──held "for" (and cooldown over)──▶ active ──ack──▶ active (acked)
//     ▲                              │ value back                               │ value past hysteresis
//     └──────────────────────────────┘◀──────── cooldown ◀──────── cleared ◀────┘
//
// The last value counts until a new one arrives: a pending alert is raised when "for" runs out even if the
// sensor went quiet meanwhile.
import type { ActiveAlert, AlertCondition, AlertEvent, AlertEventKind } from "../contract";
import { topicMatches } from "../mqtt/topic-filter";
import { clears, raises, type AlertRule } from "./rules";

/** An alert that is raised: what the rule was when it was raised, and what happened since. */
export interface RaisedAlert {
  id: string;
  label: string;
  condition: AlertCondition;
  threshold: number;
  value: number;
  raisedAt: number;
  /** When it was last announced (raised or repeated): the repeat interval runs from here. */
  notifiedAt: number;
  repeats: number;
  acknowledgedAt: number | null;
  acknowledgedBy?: string;
}

/** One (rule, topic): all the state an alert needs, and what the checkpoint stores. */
export interface Track {
  rule: string;
  topic: string;
  value: number;
  valueAt: number;
  /** The condition has held since then (not yet raised). */
  pendingSince: number | null;
  /** After a clear, no raise before this. */
  cooldownUntil: number | null;
  alert: RaisedAlert | null;
}

export type AckOutcome =
  | { outcome: "acknowledged"; event: AlertEvent }
  | { outcome: "already"; alert: ActiveAlert }
  | { outcome: "unknown" };

export interface AlertEngineOptions {
  device: string;
  rules: AlertRule[];
  /** A new alert id for a raise (injected: ids are never random in node logic). */
  newId: (rule: string, topic: string, at: number) => string;
  /** At most this many tracks (topics in alert or pending) at once; more are ignored. */
  maxTracks?: number;
}

const keyOf = (rule: string, topic: string) => `${rule}\u0000${topic}`;
const iso = (t: number) => new Date(t).toISOString();

export class AlertEngine {
  readonly rules: ReadonlyMap<string, AlertRule>;
  private readonly tracks = new Map<string, Track>();
  private readonly changed = new Set<string>();
  private readonly removed = new Map<string, { rule: string; topic: string }>();
  private readonly maxTracks: number;
  /** Set when a track could not be kept for want of room. */
  full = false;

  constructor(private readonly options: AlertEngineOptions) {
    this.rules = new Map(options.rules.map((r) => [r.id, r]));
    this.maxTracks = options.maxTracks ?? 10_000;
  }

  /** The rules whose filter takes this topic. */
  rulesFor(topic: string): AlertRule[] {
    return this.options.rules.filter((r) => topicMatches(r.topic, topic));
  }

  reading(rule: AlertRule, topic: string, value: number, at: number): AlertEvent[] {
    const key = keyOf(rule.id, topic);
    let track = this.tracks.get(key);
    if (!track) {
      if (!raises(rule, value)) return []; // nothing to remember: no alert, nothing pending
      if (this.tracks.size >= this.maxTracks) {
        this.full = true;
        return [];
      }
      track = { rule: rule.id, topic, value, valueAt: at, pendingSince: null, cooldownUntil: null, alert: null };
      this.tracks.set(key, track);
      this.removed.delete(key);
    }
    track.value = value;
    track.valueAt = at;
    this.changed.add(key);
    const events: AlertEvent[] = [];
    if (track.alert) {
      if (clears(rule, value)) {
        events.push(this.event("cleared", track, track.alert, at, { clearedAt: iso(at), reason: "value" }));
        track.alert = null;
        track.pendingSince = null;
        track.cooldownUntil = rule.cooldownMs > 0 ? at + rule.cooldownMs : null;
      }
    } else if (raises(rule, value)) {
      track.pendingSince ??= at;
      if (at >= this.raiseDue(rule, track)) events.push(this.raise(rule, track, at));
    } else {
      track.pendingSince = null;
    }
    this.forgetIfIdle(key, track, at);
    return events;
  }

  /** Raises what has been pending long enough and repeats what is unacknowledged; call at `nextDue()`. */
  tick(now: number): AlertEvent[] {
    const events: AlertEvent[] = [];
    for (const [key, track] of this.tracks) {
      const rule = this.rules.get(track.rule);
      if (!rule) continue;
      const a = track.alert;
      if (!a && track.pendingSince !== null && now >= this.raiseDue(rule, track)) {
        events.push(this.raise(rule, track, now));
        this.changed.add(key);
      } else if (a && a.acknowledgedAt === null && rule.repeatMs > 0 && now >= a.notifiedAt + rule.repeatMs) {
        a.repeats++;
        a.notifiedAt = now;
        events.push(this.event("repeated", track, a, now));
        this.changed.add(key);
      }
      this.forgetIfIdle(key, track, now);
    }
    return events;
  }

  /** The earliest time `tick` has something to do, or null. */
  nextDue(): number | null {
    let due: number | null = null;
    const consider = (t: number) => {
      if (due === null || t < due) due = t;
    };
    for (const track of this.tracks.values()) {
      const rule = this.rules.get(track.rule);
      if (!rule) continue;
      const a = track.alert;
      if (!a && track.pendingSince !== null) consider(this.raiseDue(rule, track));
      else if (a && a.acknowledgedAt === null && rule.repeatMs > 0) consider(a.notifiedAt + rule.repeatMs);
      else if (!a && track.cooldownUntil !== null) consider(track.cooldownUntil); // to forget the track
    }
    return due;
  }

  acknowledge(id: string, at: number, by?: string): AckOutcome {
    for (const [key, track] of this.tracks) {
      const a = track.alert;
      if (!a || a.id !== id) continue;
      if (a.acknowledgedAt !== null) return { outcome: "already", alert: this.activeOf(track, a) };
      a.acknowledgedAt = at;
      if (by !== undefined) a.acknowledgedBy = by;
      this.changed.add(key);
      return { outcome: "acknowledged", event: this.event("acknowledged", track, a, at) };
    }
    return { outcome: "unknown" };
  }

  /**
   * Takes the checkpointed tracks back. An alert whose rule is gone (or no longer takes its topic) could
   * never clear: it is cleared now, with reason `rule-removed`.
   */
  restore(tracks: Track[], now: number): AlertEvent[] {
    const events: AlertEvent[] = [];
    for (const stored of tracks) {
      const key = keyOf(stored.rule, stored.topic);
      const rule = this.rules.get(stored.rule);
      if (!rule || !topicMatches(rule.topic, stored.topic)) {
        if (stored.alert) events.push(this.event("cleared", stored, stored.alert, now, { clearedAt: iso(now), reason: "rule-removed" }));
        this.removed.set(key, { rule: stored.rule, topic: stored.topic });
        continue;
      }
      const track: Track = { ...stored, alert: stored.alert ? { ...stored.alert } : null };
      // the threshold may have changed: what was pending under the old rule need not be now
      if (!track.alert && track.pendingSince !== null && !raises(rule, track.value)) track.pendingSince = null;
      this.tracks.set(key, track);
      this.changed.add(key);
      this.forgetIfIdle(key, track, now);
    }
    return events;
  }

  /** What changed since the last call: tracks to write and tracks to delete. */
  takeChanges(): { upsert: Track[]; remove: Array<{ rule: string; topic: string }> } {
    const upsert: Track[] = [];
    for (const key of this.changed) {
      const t = this.tracks.get(key);
      if (t) upsert.push(t);
    }
    const remove = [...this.removed.values()];
    this.changed.clear();
    this.removed.clear();
    return { upsert, remove };
  }

  get hasChanges(): boolean {
    return this.changed.size > 0 || this.removed.size > 0;
  }

  /** Every active alert, oldest first. */
  active(): ActiveAlert[] {
    const out: ActiveAlert[] = [];
    for (const track of this.tracks.values()) if (track.alert) out.push(this.activeOf(track, track.alert));
    return out.sort((a, b) => a.raisedAt.localeCompare(b.raisedAt) || a.id.localeCompare(b.id));
  }

  /** Tracks pending or in alert (for a status line). */
  get pending(): number {
    let n = 0;
    for (const t of this.tracks.values()) if (!t.alert && t.pendingSince !== null) n++;
    return n;
  }

  private raiseDue(rule: AlertRule, track: Track): number {
    const held = (track.pendingSince ?? track.valueAt) + rule.forMs;
    return track.cooldownUntil !== null ? Math.max(held, track.cooldownUntil) : held;
  }

  private raise(rule: AlertRule, track: Track, at: number): AlertEvent {
    const alert: RaisedAlert = {
      id: this.options.newId(rule.id, track.topic, at),
      label: rule.label,
      condition: rule.condition,
      threshold: rule.threshold,
      value: track.value,
      raisedAt: at,
      notifiedAt: at,
      repeats: 0,
      acknowledgedAt: null,
    };
    track.alert = alert;
    track.pendingSince = null;
    track.cooldownUntil = null;
    return this.event("raised", track, alert, at);
  }

  private forgetIfIdle(key: string, track: Track, now: number): void {
    const cooling = track.cooldownUntil !== null && track.cooldownUntil > now;
    if (track.alert || track.pendingSince !== null || cooling) return;
    this.tracks.delete(key);
    this.changed.delete(key);
    this.removed.set(key, { rule: track.rule, topic: track.topic });
  }

  private activeOf(track: Track, a: RaisedAlert): ActiveAlert {
    return {
      id: a.id,
      rule: track.rule,
      label: a.label,
      topic: track.topic,
      condition: a.condition,
      threshold: a.threshold,
      value: a.value,
      lastValue: track.value,
      raisedAt: iso(a.raisedAt),
      lastValueAt: iso(track.valueAt),
      acknowledged: a.acknowledgedAt !== null,
      ...(a.acknowledgedAt !== null ? { acknowledgedAt: iso(a.acknowledgedAt) } : {}),
      ...(a.acknowledgedBy !== undefined ? { acknowledgedBy: a.acknowledgedBy } : {}),
    };
  }

  private event(
    kind: AlertEventKind,
    track: Track,
    a: RaisedAlert,
    at: number,
    extra: Pick<AlertEvent, "clearedAt" | "reason"> = {},
  ): AlertEvent {
    return { kind, device: this.options.device, ...this.activeOf(track, a), repeats: a.repeats, timestamp: iso(at), ...extra };
  }
}
