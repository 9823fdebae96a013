import assert from "node:assert/strict";
import {
  COMPAT_ROOT,
  NATIVE_ROOT,
  PI_NAMES,
  PayloadError,
  compatAddresses,
  compatDoorEvent,
  compatTopics,
  isTopicLevel,
  parseCommand,
  parseCompatConnection,
  parseCompatDoorEvent,
  parseDeviceStatus,
  parseDoorsState,
  parseJson,
  pythonTimestamp,
  topics,
} from "../../nodes/lib/contract";

/** Payloads no parser may accept: not JSON at all, or bytes that are not even text. */
const GARBAGE: Array<[string, Buffer | string]> = [
  ["an empty payload", ""],
  ["plain text", "open"],
  ["truncated JSON", '{"state":'],
  ["binary garbage", Buffer.from([0xff, 0xfe, 0x00, 0x9c, 0x80, 0x01, 0x7b])],
  ["a PNG header", Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])],
];

function assertPayloadError(fn: () => unknown, label: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof PayloadError, `${label}: expected a PayloadError, got ${String(err)}`);
    assert.equal(err.name, "PayloadError");
    return true;
  });
}

describe("contract: topics", () => {
  it("builds every native topic under pifog/<device>/", () => {
    assert.equal(NATIVE_ROOT, "pifog");
    assert.equal(topics.status("doorpi"), "pifog/doorpi/status");
    assert.equal(topics.anyStatus(), "pifog/+/status");
    assert.equal(topics.command("hub"), "pifog/hub/command");
    assert.equal(topics.event("hub"), "pifog/hub/event");
    assert.equal(topics.doors("doorpi"), "pifog/doorpi/doors");
    assert.equal(topics.door("doorpi", "door2"), "pifog/doorpi/door/door2");
    assert.equal(topics.occupancy("statuspi"), "pifog/statuspi/occupancy");
    assert.equal(topics.simSet("doorpi", "door1"), "pifog/doorpi/sim/door1/set");
    assert.equal(topics.simState("doorpi", "door1"), "pifog/doorpi/sim/door1");
    assert.equal(topics.simMatrix("statuspi"), "pifog/statuspi/sim/matrix");
  });

  it("builds PiFog's compat topics with the leading slash", () => {
    assert.equal(COMPAT_ROOT, "/World/Fog/1");
    assert.equal(compatTopics.event("DoorPi"), "/World/Fog/1/DoorPi/Event");
    assert.equal(compatTopics.connection("StatusPi"), "/World/Fog/1/StatusPi/Connection");
    assert.equal(compatTopics.command("CameraPi"), "/World/Fog/1/CameraPi/Command");
    assert.equal(compatTopics.notify("ButtonPi"), "/World/Fog/1/ButtonPi/Notify");
    for (const pi of PI_NAMES) {
      const topic = compatTopics.event(pi);
      assert.ok(topic.startsWith("/"), `${topic} keeps the leading slash`);
      assert.deepEqual(topic.split("/"), ["", "World", "Fog", "1", pi, "Event"]);
    }
  });
});

describe("contract: isTopicLevel", () => {
  it("accepts plain single levels", () => {
    for (const ok of ["doorpi", "door1", "DoorPi", "a.b-c_d", "x", "9", "a".repeat(64)]) {
      assert.equal(isTopicLevel(ok), true, ok);
    }
  });

  it("rejects wildcards, separators, empty and over-long levels", () => {
    for (const bad of ["", "/", "a/b", "/doorpi", "+", "door+", "#", "door#", "a b", " ", "a".repeat(65), "tür"]) {
      assert.equal(isTopicLevel(bad), false, JSON.stringify(bad));
    }
  });
});

describe("contract: pythonTimestamp", () => {
  const savedTz = process.env.TZ;
  afterEach(() => {
    if (savedTz === undefined) delete process.env.TZ;
    else process.env.TZ = savedTz;
  });

  it("formats like Python's str(datetime.now()), zero-padded with six fraction digits", () => {
    assert.equal(pythonTimestamp(new Date(2016, 2, 28, 12, 34, 56, 789)), "2016-03-28 12:34:56.789000");
    assert.equal(pythonTimestamp(new Date(2026, 0, 2, 3, 4, 5, 6)), "2026-01-02 03:04:05.006000");
    assert.equal(pythonTimestamp(new Date(2026, 11, 31, 23, 59, 59, 0)), "2026-12-31 23:59:59.000000");
    assert.match(pythonTimestamp(new Date()), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/);
  });

  it("uses local time, not UTC", () => {
    const instant = new Date(Date.UTC(2016, 2, 28, 12, 34, 56, 789));
    process.env.TZ = "Asia/Kolkata"; // UTC+05:30, no daylight saving
    assert.equal(pythonTimestamp(instant), "2016-03-28 18:04:56.789000");
    process.env.TZ = "America/Sao_Paulo"; // UTC-03:00 in March 2016
    assert.equal(pythonTimestamp(instant), "2016-03-28 09:34:56.789000");
    process.env.TZ = "UTC";
    assert.equal(pythonTimestamp(instant), "2016-03-28 12:34:56.789000");
  });
});

describe("contract: compat payloads", () => {
  it("joins addresses as PiFog did", () => {
    assert.equal(
      compatAddresses([
        { iface: "eth0", address: "10.0.0.5" },
        { iface: "wlan0", address: "10.0.0.6" },
      ]),
      "eth0: 10.0.0.5, wlan0: 10.0.0.6",
    );
    assert.equal(compatAddresses([{ iface: "eth0", address: "10.0.0.5" }]), "eth0: 10.0.0.5");
    assert.equal(compatAddresses([]), "");
  });

  it("builds the DoorPi event from door1 and door2, with a Python timestamp", () => {
    const at = new Date(2016, 2, 28, 12, 34, 56, 789);
    const doors = {
      door1: { label: "Left", state: "open" as const, changedAt: "x" },
      door2: { label: "Right", state: "closed" as const, changedAt: "y" },
    };
    assert.deepEqual(compatDoorEvent(doors, at), {
      state: { door1: "open", door2: "closed", timestamp: "2016-03-28 12:34:56.789000" },
    });
  });

  it("reports a missing door as closed", () => {
    const at = new Date(2026, 0, 1);
    const event = compatDoorEvent({ door1: { label: "Left", state: "open", changedAt: "x" } }, at);
    assert.equal(event.state.door1, "open");
    assert.equal(event.state.door2, "closed");
    assert.deepEqual(compatDoorEvent({}, at).state, { door1: "closed", door2: "closed", timestamp: "2026-01-01 00:00:00.000000" });
  });

  it("round-trips through parseCompatDoorEvent", () => {
    const event = compatDoorEvent(
      { door1: { label: "", state: "closed", changedAt: "" }, door2: { label: "", state: "open", changedAt: "" } },
      new Date(),
    );
    assert.deepEqual(parseCompatDoorEvent(JSON.stringify(event)), ["closed", "open"]);
  });
});

describe("contract: parseJson", () => {
  it("parses a string and a UTF-8 buffer", () => {
    assert.deepEqual(parseJson('{"a":1}'), { a: 1 });
    assert.deepEqual(parseJson(Buffer.from('["ü"]', "utf8")), ["ü"]);
  });

  it("throws PayloadError on anything that is not JSON, quoting the start of it", () => {
    for (const [label, payload] of GARBAGE) assertPayloadError(() => parseJson(payload), label);
    assert.throws(() => parseJson("x".repeat(500)), (err: Error) => err.message.length < 100 && err.message.includes("xxxx"));
  });
});

describe("contract: parseDeviceStatus", () => {
  it("accepts an online and an offline status", () => {
    const online = {
      state: "online",
      device: "doorpi",
      role: "doorpi",
      compat: "DoorPi",
      addresses: [{ iface: "eth0", address: "10.0.0.5" }],
      bootTime: "2026-01-01T00:00:00.000Z",
      startedAt: "2026-01-01T00:00:01.000Z",
      version: "0.1.0",
      hardware: "sim",
      timestamp: "2026-01-01T00:00:02.000Z",
    };
    assert.deepEqual(parseDeviceStatus(JSON.stringify(online)), online);
    assert.deepEqual(parseDeviceStatus(Buffer.from('{"state":"offline","device":"doorpi"}')), {
      state: "offline",
      device: "doorpi",
    });
  });

  it("rejects garbage and wrong shapes with PayloadError", () => {
    for (const [label, payload] of GARBAGE) assertPayloadError(() => parseDeviceStatus(payload), label);
    for (const wrong of [
      "null",
      "42",
      '"online"',
      '["online","doorpi"]',
      "{}",
      '{"state":"online"}',
      '{"state":"asleep","device":"doorpi"}',
      '{"state":"online","device":7}',
      '{"device":"doorpi"}',
    ]) {
      assertPayloadError(() => parseDeviceStatus(wrong), wrong);
    }
  });
});

describe("contract: parseDoorsState", () => {
  it("accepts a native doors payload", () => {
    const doors = {
      device: "doorpi",
      doors: {
        door1: { label: "Left", state: "open", changedAt: "2026-01-01T00:00:00.000Z" },
        door2: { label: "Right", state: "closed", changedAt: "2026-01-01T00:00:00.000Z" },
      },
      timestamp: "2026-01-01T00:00:00.000Z",
    };
    assert.deepEqual(parseDoorsState(Buffer.from(JSON.stringify(doors))), doors);
  });

  it("rejects garbage and wrong shapes with PayloadError", () => {
    for (const [label, payload] of GARBAGE) assertPayloadError(() => parseDoorsState(payload), label);
    for (const wrong of [
      "null",
      "[]",
      '"doors"',
      "{}",
      '{"doors":null}',
      '{"doors":[]}',
      '{"doors":"open"}',
      '{"doors":{"door1":"open"}}',
      '{"doors":{"door1":{"state":"ajar"}}}',
      '{"doors":{"door1":{"state":"open"},"door2":{}}}',
      '{"doors":{"door1":{"state":"OPEN"}}}',
    ]) {
      assertPayloadError(() => parseDoorsState(wrong), wrong);
    }
  });

  it("names the bad door in the error", () => {
    assert.throws(() => parseDoorsState('{"doors":{"door1":{"state":"open"},"back":{"state":1}}}'), /back/);
  });
});

describe("contract: parseCompatDoorEvent", () => {
  it("reads door1 and door2 in order", () => {
    assert.deepEqual(parseCompatDoorEvent('{"state":{"door1":"open","door2":"closed","timestamp":"x"}}'), ["open", "closed"]);
    assert.deepEqual(parseCompatDoorEvent(Buffer.from('{"state":{"door1":"closed","door2":"open"}}')), ["closed", "open"]);
  });

  it("treats any value other than \"open\" as closed, as PiFog did", () => {
    for (const other of ['"closed"', '"OPEN"', '"Open"', '"ajar"', '""', "1", "true", "null", "{}", "[]"]) {
      assert.deepEqual(
        parseCompatDoorEvent(`{"state":{"door1":${other},"door2":"open"}}`),
        ["closed", "open"],
        `door1 = ${other}`,
      );
    }
  });

  it("rejects garbage and events without both doors with PayloadError", () => {
    for (const [label, payload] of GARBAGE) assertPayloadError(() => parseCompatDoorEvent(payload), label);
    for (const wrong of [
      "null",
      "[]",
      "{}",
      '{"state":null}',
      '{"state":"open"}',
      '{"state":[]}',
      '{"state":{"door1":"open"}}',
      '{"state":{"door2":"open"}}',
      '{"door1":"open","door2":"open"}',
    ]) {
      assertPayloadError(() => parseCompatDoorEvent(wrong), wrong);
    }
  });
});

describe("contract: parseCompatConnection", () => {
  it("is true for connected and false for disconnected", () => {
    assert.equal(
      parseCompatConnection('{"connected":{"boot_time":"x","addresses":"eth0: 10.0.0.5","timestamp":"y"}}'),
      true,
    );
    assert.equal(parseCompatConnection(Buffer.from('{"disconnected":{"device":"DoorPi"}}')), false);
  });

  it("rejects garbage and anything else with PayloadError", () => {
    for (const [label, payload] of GARBAGE) assertPayloadError(() => parseCompatConnection(payload), label);
    for (const wrong of ["null", "true", '"connected"', '["connected"]', "{}", '{"connect":{}}', '{"state":{}}']) {
      assertPayloadError(() => parseCompatConnection(wrong), wrong);
    }
  });
});

describe("contract: parseCommand", () => {
  it("reads a command with or without an id", () => {
    assert.deepEqual(parseCommand('{"command":"ping"}'), { command: "ping", id: undefined });
    assert.deepEqual(parseCommand('{"command":"ping","id":"abc"}'), { command: "ping", id: "abc" });
    assert.deepEqual(parseCommand(Buffer.from('{"command":"ping","id":7}')), { command: "ping", id: 7 });
  });

  it("keeps only command and id", () => {
    assert.deepEqual(Object.keys(parseCommand('{"command":"ping","id":1,"extra":true}')).sort(), ["command", "id"]);
  });

  it("rejects garbage, a missing command name and a bad id with PayloadError", () => {
    for (const [label, payload] of GARBAGE) assertPayloadError(() => parseCommand(payload), label);
    for (const wrong of [
      "null",
      '"ping"',
      '["ping"]',
      "{}",
      '{"command":1}',
      '{"command":null}',
      '{"cmd":"ping"}',
      '{"command":"ping","id":{}}',
      '{"command":"ping","id":[1]}',
      '{"command":"ping","id":true}',
    ]) {
      assertPayloadError(() => parseCommand(wrong), wrong);
    }
  });
});
