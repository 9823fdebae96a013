// What a browser may send on the dashboard's socket (node-red-dashboard 3.6.6, `/ui/socket.io`), checked before the
// dashboard sees it. The dashboard trusts its socket: `null` in ui-collapse, ui-params or update-value throws in its
// handlers (uncaught: the whole process dies), and an update-value for a template is replayed as is to every open
// dashboard, where a `template` or any other field it carries changes what they render (stored script injection).
// So every event is held to the shape the dashboard's own client (dist/js/app.min.js) sends, and the ones that pass
// are rebuilt from their allowed fields only: nothing else a client wrote ever reaches the dashboard or a flow.
//
// update-value is taken only for a widget that takes input (its output is wired) and, for a ui_template, only one
// that keeps a browser's input to itself (storeOutMessages off: with it on, the dashboard shares every browser's
// input with every other browser) and draws in its own card (templateScope local). A template's input is rebuilt
// as {topic, payload, token}, the fields PiFog's templates send; its HTML and script only ever come from the flow.

import type { UserRole } from "../identity/types";

/** What the guard needs to know about a dashboard widget, from the deployed flow. */
export interface WidgetInfo {
  type: string;
  /** Its output goes somewhere: it is a widget that takes input. */
  wired: boolean;
  /** ui_template's storeOutMessages: the dashboard rebroadcasts a browser's input to every dashboard. */
  sharesInput: boolean;
  /** ui_template's templateScope (local, global, head). */
  scope?: string;
  /** The least role that may send it input (flow-widgets.ts reads it from the widget's className: `pifog-admin`,
   * `pifog-view`, else operator). */
  needs: UserRole;
}

/** A widget's className that makes it admin-only (the Users and Devices tabs): survives the editor (the "Class"
 * field of every dashboard widget). */
export const ADMIN_MARKER = "pifog-admin";
/** A widget's className saying its input changes only what that browser sees, so a viewer may use it. */
export const VIEW_MARKER = "pifog-view";

/** The least role that may send input to a widget of this className. */
export function roleForClassName(className: unknown): UserRole {
  const classes = typeof className === "string" ? className.split(/\s+/) : [];
  if (classes.includes(ADMIN_MARKER)) return "admin";
  if (classes.includes(VIEW_MARKER)) return "viewer";
  return "operator";
}

/** Finds a deployed, running widget by its node id. */
export type WidgetLookup = (id: string) => WidgetInfo | undefined;

export type EventCheck = { ok: true; packet: unknown[] } | { ok: false; event: string; reason: string };

/** The events the dashboard's client sends, and nothing else. */
export const DASHBOARD_EVENTS = ["ui-replay-state", "ui-change", "ui-collapse", "ui-refresh", "ui-audio", "ui-params", "update-value"] as const;

/** ui-audio: what the client reports about a sound it was told to play. */
const AUDIO_STATES = ["reset", "complete", "playing", "error"];

/** The widgets whose input is one `value` (the dashboard's client sends `{id, value}`). */
const VALUE_WIDGETS: ReadonlySet<string> = new Set(["ui_button", "ui_switch", "ui_slider", "ui_numeric", "ui_text_input", "ui_dropdown", "ui_date_picker", "ui_colour_picker", "ui_form"]);

export const LIMITS = {
  /** A node id (Node-RED's are 16 hex digits; PiFog's shipped flows use readable ones). */
  id: 64,
  /** A socket.io socket id. */
  socketId: 64,
  topic: 256,
  token: 256,
  /** A template's payload, as JSON. */
  payloadBytes: 16 * 1024,
  payloadDepth: 6,
  /** A value widget's value, as JSON (a form's fields at most one level deep). */
  valueBytes: 4 * 1024,
  valueDepth: 2,
  group: 256,
  params: 32,
  paramKey: 64,
  paramValue: 512,
  paramList: 16,
  /** A tab index. */
  tab: 1000,
} as const;

const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

/** What in a template's msg changes what it draws (the dashboard's client renders msg.template, in the page's head
 * when msg.templateScope says so). */
const TEMPLATE_MARKUP = ["template", "templateScope"];

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v) || Buffer.isBuffer(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

const boundedString = (v: unknown, max: number): v is string => typeof v === "string" && v.length <= max;

/** Why `value` is not plain JSON within `depth` levels and `budget` bytes, or null when it is. */
export function jsonProblem(value: unknown, maxDepth: number, maxBytes: number): string | null {
  let bytes = 0;
  const walk = (v: unknown, depth: number): string | null => {
    if (v === null || typeof v === "boolean") {
      bytes += 5;
    } else if (typeof v === "number") {
      if (!Number.isFinite(v)) return "a number that is not finite";
      bytes += 24;
    } else if (typeof v === "string") {
      bytes += Buffer.byteLength(v) + 2;
    } else if (Array.isArray(v)) {
      if (depth >= maxDepth) return `nested deeper than ${maxDepth} levels`;
      bytes += 2;
      for (const item of v) {
        const p = walk(item, depth + 1);
        if (p) return p;
        if (bytes > maxBytes) break;
      }
    } else if (isPlainObject(v)) {
      if (depth >= maxDepth) return `nested deeper than ${maxDepth} levels`;
      bytes += 2;
      for (const [k, item] of Object.entries(v)) {
        if (FORBIDDEN_KEYS.has(k)) return `a field named ${k}`;
        bytes += Buffer.byteLength(k) + 3;
        const p = walk(item, depth + 1);
        if (p) return p;
        if (bytes > maxBytes) break;
      }
    } else {
      return `a ${Buffer.isBuffer(v) ? "binary attachment" : typeof v}, not JSON`;
    }
    return bytes > maxBytes ? `larger than ${maxBytes} bytes` : null;
  };
  return walk(value, 0);
}

const refuse = (event: string, reason: string): EventCheck => ({ ok: false, event, reason });

/** Keys of `o` other than the allowed ones. */
const extraKeys = (o: Record<string, unknown>, allowed: readonly string[]) => Object.keys(o).filter((k) => !allowed.includes(k));

/**
 * Checks one incoming socket.io packet (`[event, ...args]`, as a socket middleware sees it) and returns the packet
 * to hand to the dashboard, rebuilt from the allowed fields, or why it is dropped. Never throws.
 * `socketId` is the sender's real socket id: the one replies go to, whatever the client wrote.
 */
export function checkDashboardEvent(packet: unknown, socketId: string, widget: WidgetLookup): EventCheck {
  if (!Array.isArray(packet) || packet.length === 0) return refuse("?", "not an event");
  const [name, ...args] = packet as unknown[];
  if (typeof name !== "string") return refuse("?", "an event without a name");
  const event = name.slice(0, 64);
  if (!(DASHBOARD_EVENTS as readonly string[]).includes(name)) return refuse(event, "not an event the dashboard's client sends");
  if (args.some((a) => typeof a === "function")) return refuse(event, "asks for an acknowledgement, which the dashboard's client never does");
  try {
    switch (name) {
      case "ui-replay-state":
        return args.length === 0 ? { ok: true, packet: [name] } : refuse(event, "carries data; the client sends none");
      case "ui-refresh":
        if (args.length === 0) return { ok: true, packet: [name] };
        if (args.length === 1 && isPlainObject(args[0]) && extraKeys(args[0], ["socketid"]).length === 0) return { ok: true, packet: [name] };
        return refuse(event, "carries data; the client sends none");
      case "ui-change":
        return checkTabChange(args);
      case "ui-collapse":
        return checkCollapse(args);
      case "ui-audio":
        return args.length === 1 && typeof args[0] === "string" && AUDIO_STATES.includes(args[0])
          ? { ok: true, packet: [name, args[0]] }
          : refuse(event, `not one of ${AUDIO_STATES.join(", ")}`);
      case "ui-params":
        return checkParams(args);
      case "update-value":
        return checkUpdate(args, socketId, widget);
    }
  } catch (err) {
    // a getter or proxy a crafted packet cannot carry (socket.io gives plain JSON), but never let one through
    return refuse(event, `could not be read (${(err as Error).message})`);
  }
  return refuse(event, "not an event the dashboard's client sends");
}

function checkTabChange(args: unknown[]): EventCheck {
  const name = "ui-change";
  if (args.length !== 1) return refuse(name, "not one tab index");
  const index = args[0];
  // the client sends the tab's index: a number, a string of digits (from a for-in), or null (a NaN sent as JSON)
  if (index === null) return { ok: true, packet: [name, null] };
  if (typeof index === "number" && Number.isInteger(index) && index >= 0 && index < LIMITS.tab) return { ok: true, packet: [name, index] };
  if (typeof index === "string" && /^\d{1,3}$/.test(index)) return { ok: true, packet: [name, index] };
  return refuse(name, "not a tab index");
}

function checkCollapse(args: unknown[]): EventCheck {
  const name = "ui-collapse";
  const d = args[0];
  if (args.length !== 1 || !isPlainObject(d)) return refuse(name, "not a {group, state} object");
  const extra = extraKeys(d, ["group", "state", "socketid"]);
  if (extra.length) return refuse(name, `unexpected field ${extra[0]!.slice(0, 64)}`);
  if (!boundedString(d.group, LIMITS.group)) return refuse(name, `group is not a name of at most ${LIMITS.group} characters`);
  if (typeof d.state !== "boolean") return refuse(name, "state is not true or false");
  return { ok: true, packet: [name, { group: d.group, state: d.state }] };
}

function checkParams(args: unknown[]): EventCheck {
  const name = "ui-params";
  const p = args[0];
  // the page's URL query ($location.search()): names to a string, true (a bare name) or a list of strings
  if (args.length !== 1 || !isPlainObject(p)) return refuse(name, "not the page's query parameters");
  const out: Record<string, unknown> = {};
  const keys = Object.keys(p).filter((k) => k !== "socketid");
  if (keys.length > LIMITS.params) return refuse(name, `more than ${LIMITS.params} parameters`);
  for (const k of keys) {
    if (k.length > LIMITS.paramKey || FORBIDDEN_KEYS.has(k)) return refuse(name, `a parameter named ${k.slice(0, 64)}`);
    const v = p[k];
    if (v === true || boundedString(v, LIMITS.paramValue)) out[k] = v;
    else if (Array.isArray(v) && v.length <= LIMITS.paramList && v.every((x) => boundedString(x, LIMITS.paramValue))) out[k] = [...(v as string[])];
    else return refuse(name, `parameter ${k} is not a short string or list of them`);
  }
  return { ok: true, packet: [name, out] };
}

function checkUpdate(args: unknown[], socketId: string, widget: WidgetLookup): EventCheck {
  const name = "update-value";
  const u = args[0];
  if (args.length !== 1 || !isPlainObject(u)) return refuse(name, "not a widget's {id, …} object");
  if (!boundedString(u.id, LIMITS.id) || u.id === "") return refuse(name, "no widget id");
  const id = u.id;
  const w = widget(id);
  if (!w) return refuse(name, `no running widget ${id}`);
  if (u.socketid !== undefined && !boundedString(u.socketid, LIMITS.socketId)) return refuse(name, "socketid is not a socket id");

  if (w.type === "ui_template") {
    if (!w.wired) return refuse(name, `template ${id} takes no input (its output is not wired)`);
    if (w.sharesInput) return refuse(name, `template ${id} would replay a browser's input to every dashboard (storeOutMessages)`);
    if ((w.scope ?? "local") !== "local") return refuse(name, `template ${id} is not a widget (templateScope ${w.scope})`);
    const extra = extraKeys(u, ["id", "msg", "socketid"]);
    if (extra.length) return refuse(name, `unexpected field ${extra[0]!.slice(0, 64)} for template ${id}`);
    const m = u.msg;
    if (!isPlainObject(m)) return refuse(name, `no msg object for template ${id}`);
    // a template's markup never comes from a browser: an event that tries is refused (and recorded) outright;
    // other fields a page's send() adds (retain, qos, …) are simply left behind when the msg is rebuilt below
    const markup = TEMPLATE_MARKUP.find((k) => Object.hasOwn(m, k));
    if (markup) return refuse(name, `msg.${markup} is not something a browser may send to template ${id}: its HTML comes from the flow only`);
    const msg: Record<string, unknown> = {};
    if (m.topic !== undefined) {
      if (!boundedString(m.topic, LIMITS.topic)) return refuse(name, `msg.topic is not a string of at most ${LIMITS.topic} characters`);
      msg.topic = m.topic;
    }
    if (m.token !== undefined) {
      if (!boundedString(m.token, LIMITS.token)) return refuse(name, `msg.token is not a string of at most ${LIMITS.token} characters`);
      msg.token = m.token;
    }
    if (m.payload !== undefined) {
      const problem = jsonProblem(m.payload, LIMITS.payloadDepth, LIMITS.payloadBytes);
      if (problem) return refuse(name, `msg.payload is ${problem}`);
      msg.payload = structuredClone(m.payload);
    }
    return { ok: true, packet: [name, { id, msg, socketid: socketId }] };
  }

  if (VALUE_WIDGETS.has(w.type)) {
    if (!w.wired) return refuse(name, `${w.type} ${id} takes no input (its output is not wired)`);
    // a button's click position is all the dashboard's client adds; nothing downstream of PiFog needs it
    const extra = extraKeys(u, ["id", "value", "socketid", ...(w.type === "ui_button" ? ["event"] : [])]);
    if (extra.length) return refuse(name, `unexpected field ${extra[0]!.slice(0, 64)} for ${w.type} ${id}`);
    const problem = u.value === undefined ? null : jsonProblem(u.value, LIMITS.valueDepth, LIMITS.valueBytes);
    if (problem) return refuse(name, `value is ${problem}`);
    return { ok: true, packet: [name, { id, value: u.value === undefined ? undefined : structuredClone(u.value), socketid: socketId }] };
  }

  return refuse(name, `${w.type} ${id} takes no input from a browser`);
}
