// The broker's policy, as a table: who may publish, subscribe and read what.
import assert from "node:assert/strict";
import { canPublish, canRead, canSubscribe, within } from "../../nodes/lib/broker/acl";
import type { Identity } from "../../nodes/lib/identity/types";

const device = (id: string, role: Extract<Identity, { kind: "device" }>["role"]): Identity => ({ kind: "device", id, role, via: "certificate" });
const doorpi = device("doorpi", "doorpi");
const statuspi = device("statuspi", "statuspi");
const buttonpi = device("buttonpi", "buttonpi");
const camerapi = device("camerapi", "camerapi");
const hub = device("hub", "hub");
const sensorhub = device("sensorhub", "sensorhub");
const powerhub = device("powerhub", "powerhub");
const powerpi = device("powerpi", "powerpi");
const facewriter = device("facewriter", "facewriter");
const sensors = device("sensors", "sensors");
const viewer: Identity = { kind: "user", name: "vera", role: "viewer" };
const operator: Identity = { kind: "user", name: "olga", role: "operator" };
const admin: Identity = { kind: "user", name: "ada", role: "admin" };
const anonymous: Identity = { kind: "anonymous", address: "127.0.0.1" };

describe("ACL (acl.ts)", () => {
  describe("within (a filter inside a pattern)", () => {
    const cases: Array<[string, string, boolean]> = [
      ["pifog/doorpi/status", "pifog/+/status", true],
      ["pifog/+/status", "pifog/+/status", true],
      ["pifog/+/status", "pifog/doorpi/status", false],
      ["#", "pifog/doorpi/#", false],
      ["pifog/#", "pifog/doorpi/#", false],
      ["pifog/doorpi/#", "pifog/doorpi/#", true],
      ["pifog/doorpi", "pifog/doorpi/#", true],
      ["pifog/doorpi/a/b/c", "pifog/doorpi/#", true],
      ["$SYS/broker/uptime", "#", false],
      ["$SYS/#", "#", false],
      ["$SYS/broker/uptime", "+/broker/uptime", false],
      ["$SYS/broker/uptime", "$SYS/#", true],
      ["+/broker", "+/broker", true],
      ["a/b", "a/b/c", false],
      ["a/b/c", "a/b", false],
    ];
    for (const [filter, pattern, expected] of cases) {
      it(`${filter} ${expected ? "is" : "is not"} within ${pattern}`, () => assert.equal(within(filter, pattern), expected));
    }
  });

  describe("publish", () => {
    const cases: Array<[string, Identity, string, boolean, boolean?]> = [
      ["a device under its own tree", doorpi, "pifog/doorpi/doors", true, true],
      ["a device its own status (retained)", doorpi, "pifog/doorpi/status", true, true],
      ["a device its own compat event", doorpi, "/World/Fog/1/DoorPi/Event", true, true],
      ["a device its own compat connection", buttonpi, "/World/Fog/1/ButtonPi/Connection", true, true],
      ["a device under another device's tree", doorpi, "pifog/buttonpi/status", false],
      ["a device a spoofed power event", doorpi, "pifog/powerpi/power/events", false],
      ["a device another Pi's compat event", doorpi, "/World/Fog/1/StatusPi/Event", false],
      ["a device another Pi's compat connection", statuspi, "/World/Fog/1/DoorPi/Connection", false],
      ["a device a command to another", doorpi, "pifog/buttonpi/command", false],
      ["a device a compat command", statuspi, "/World/Fog/1/ButtonPi/Command", false],
      ["the powerpi its power events", powerpi, "pifog/powerpi/power/events", true],
      ["the powerhub a device's connection (retained)", powerhub, "pifog/powerpi/connection", true, true],
      ["the powerhub a power request", powerhub, "pifog/powerpi/power/request", true],
      ["the powerhub a spoofed power event", powerhub, "pifog/powerpi/power/events", false],
      ["the camerapi forwarded faces", camerapi, "pifog/forwarded/camerapi/faces", true],
      ["the camerapi another's forwarded faces", camerapi, "pifog/forwarded/other/faces", false],
      ["the sensors IoTitan readings", sensors, "iotitan/home/up_bed1/dht11/temperature", true],
      ["the sensorhub averages", sensorhub, "iotitan/home/up_bed1/dht11/temperature/average", true],
      ["the sensorhub an environment average", sensorhub, "pifog/statuspi/environment/temperature/average", true],
      ["the hub a command", hub, "pifog/buttonpi/command", true],
      ["the hub a compat command", hub, "/World/Fog/1/ButtonPi/Command", true],
      ["the hub a retained command", hub, "pifog/buttonpi/command", false, true],
      ["the hub a spoofed status", hub, "pifog/doorpi/status", false],
      ["a viewer anything", viewer, "pifog/doorpi/sim/door1/set", false],
      ["an operator a command", operator, "pifog/buttonpi/command", true],
      ["an operator a compat command", operator, "/World/Fog/1/ButtonPi/Command", true],
      ["an operator a simulator input", operator, "pifog/doorpi/sim/door1/set", true],
      ["an operator an alert ack", operator, "pifog/sensorhub/alerts/ack", true],
      ["an operator a device's status", operator, "pifog/doorpi/status", false],
      ["an admin anything, retained", admin, "pifog/doorpi/status", true, true],
      ["anonymous a simulator input", anonymous, "pifog/doorpi/sim/door1/set", true],
      ["anonymous a retained simulator input", anonymous, "pifog/doorpi/sim/door1/set", false, true],
      ["anonymous open-door (native)", anonymous, "pifog/buttonpi/command", false],
      ["anonymous open-door (compat)", anonymous, "/World/Fog/1/ButtonPi/Command", false],
      ["anonymous a retained clear of a device's state", anonymous, "pifog/doorpi/doors", false, true],
      ["anonymous a spoofed power event", anonymous, "pifog/powerpi/power/events", false],
      ["anyone a wildcard topic", admin, "pifog/+/status", false],
    ];
    for (const [what, who, topic, allowed, retain] of cases) {
      it(`${allowed ? "allows" : "refuses"} ${what}`, () => {
        const d = canPublish(who, topic, retain ?? false);
        assert.equal(d.allowed, allowed, JSON.stringify(d));
        if (!d.allowed) assert.match(d.reason, /may not|not retained|filter/);
      });
    }
  });

  describe("subscribe", () => {
    const cases: Array<[string, Identity, string, boolean]> = [
      ["a device its own command", buttonpi, "pifog/buttonpi/command", true],
      ["a device its own simulator inputs", doorpi, "pifog/doorpi/sim/door1/set", true],
      ["a device its compat command", buttonpi, "/World/Fog/1/ButtonPi/Command", true],
      ["a device its compat notify", statuspi, "/World/Fog/1/StatusPi/Notify", true],
      ["a device #", doorpi, "#", false],
      ["a device another device's command", doorpi, "pifog/buttonpi/command", false],
      ["a device every status", doorpi, "pifog/+/status", false],
      ["a device $SYS", doorpi, "$SYS/#", false],
      ["the statuspi the doorpi's doors", statuspi, "pifog/doorpi/doors", true],
      ["the statuspi the doorpi's status", statuspi, "pifog/doorpi/status", true],
      ["the statuspi the compat door event", statuspi, "/World/Fog/1/DoorPi/Event", true],
      ["the statuspi the compat door connection", statuspi, "/World/Fog/1/DoorPi/Connection", true],
      ["the statuspi the camera's faces", statuspi, "pifog/camerapi/faces", false],
      ["the hub #", hub, "#", true],
      ["the hub $SYS", hub, "$SYS/#", false],
      ["the sensorhub #", sensorhub, "#", true],
      ["the powerhub every power event", powerhub, "pifog/+/power/events", true],
      ["the powerhub every status", powerhub, "pifog/+/status", true],
      ["the powerhub every connection", powerhub, "pifog/+/connection", true],
      ["the camerapi every face", camerapi, "pifog/+/faces", true],
      ["the facewriter forwarded faces", facewriter, "pifog/forwarded/+/faces", true],
      ["the facewriter the camera's frames", facewriter, "pifog/+/camera/frame", false],
      ["a viewer #", viewer, "#", true],
      ["a viewer $SYS", viewer, "$SYS/#", false],
      ["an operator $SYS", operator, "$SYS/broker/uptime", false],
      ["an admin $SYS", admin, "$SYS/#", true],
      ["anonymous the doors", anonymous, "pifog/+/doors", true],
      ["anonymous one door", anonymous, "pifog/doorpi/door/door1", true],
      ["anonymous the occupancy", anonymous, "pifog/+/occupancy", true],
      ["anonymous the environment", anonymous, "pifog/statuspi/environment", true],
      ["anonymous one environment value", anonymous, "pifog/statuspi/environment/temperature", true],
      ["anonymous device status", anonymous, "pifog/+/status", true],
      ["anonymous the simulators", anonymous, "pifog/+/sim/#", true],
      ["anonymous the compat door event", anonymous, "/World/Fog/1/DoorPi/Event", true],
      ["anonymous the compat connections", anonymous, "/World/Fog/1/+/Connection", true],
      ["anonymous #", anonymous, "#", false],
      ["anonymous camera frames", anonymous, "pifog/camerapi/camera/frame", false],
      ["anonymous camera pictures", anonymous, "pifog/+/camera/picture", false],
      ["anonymous faces", anonymous, "pifog/+/faces", false],
      ["anonymous the compat camera event", anonymous, "/World/Fog/1/CameraPi/Event", false],
      ["anonymous commands", anonymous, "pifog/+/command", false],
      ["anonymous $SYS", anonymous, "$SYS/#", false],
    ];
    for (const [what, who, filter, granted] of cases) {
      it(`${granted ? "grants" : "refuses"} ${what}`, () => {
        const d = canSubscribe(who, filter, 1);
        assert.equal(d.granted !== null, granted, JSON.stringify(d));
        if (d.granted === null) assert.match(d.reason, /may not subscribe/);
        else assert.equal(d.granted, 1);
      });
    }
  });

  it("delivers $SYS to admins only, and a topic to whoever may read it", () => {
    assert.equal(canRead(admin, "$SYS/broker/uptime"), true);
    assert.equal(canRead(hub, "$SYS/pifog/heartbeat"), false);
    assert.equal(canRead(viewer, "$SYS/pifog/heartbeat"), false);
    assert.equal(canRead(anonymous, "pifog/doorpi/doors"), true);
    assert.equal(canRead(anonymous, "pifog/camerapi/faces"), false);
  });
});
