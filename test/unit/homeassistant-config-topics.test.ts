import assert from "node:assert/strict";
import { haConfigTopics } from "../../nodes/lib/homeassistant/config-topics";
import { cameraStillEntity, discoveryMessage, doorOpenerEntity, type HaDeviceDescription } from "../../nodes/lib/homeassistant/discovery";

describe("the topics a Home Assistant discovery config names", () => {
  it("reads full keys, abbreviations, the availability list and the ~ base, wherever ~ stands", () => {
    const config = {
      "~": "pifog/doorpi",
      name: "Door",
      state_topic: "~/door/front",
      cmd_t: "~/command",
      json_attr_t: "attrs/~",
      value_template: "{{ value }}",
      avty: [{ t: "~/status", pl_avail: "online" }],
      availability: [{ topic: "pifog/doorpi/status" }],
      device: { identifiers: ["pifog_doorpi"], name: "doorpi" },
    };
    assert.deepEqual(haConfigTopics(JSON.stringify(config)).sort(), [
      "attrs/pifog/doorpi",
      "pifog/doorpi/command",
      "pifog/doorpi/door/front",
      "pifog/doorpi/status",
      "pifog/doorpi/status",
    ]);
  });

  it("names none for an empty payload (the entity removed); refuses what Home Assistant could not read", () => {
    assert.deepEqual(haConfigTopics(Buffer.alloc(0)), []);
    assert.throws(() => haConfigTopics("not json"), /must be JSON/);
    assert.throws(() => haConfigTopics("[1]"), /must be a JSON object/);
    assert.throws(() => haConfigTopics(JSON.stringify({ state_topic: 7 })), /"state_topic" .* must be a topic/);
    assert.throws(() => haConfigTopics(JSON.stringify({ availability: "pifog/x/status" })), /"availability" .* must be a list/);
  });

  it("finds every topic of PiFog's own configs (the button's command, the camera's image)", () => {
    const device: HaDeviceDescription = { id: "buttonpi", role: "buttonpi", version: "1", hardware: "sim", compat: "ButtonPi" };
    const button = discoveryMessage("homeassistant", device, doorOpenerEntity("ButtonPi")!);
    assert.deepEqual(haConfigTopics(JSON.stringify(button.payload)).sort(), ["/World/Fog/1/ButtonPi/Command", "pifog/buttonpi/status"]);
    const still = discoveryMessage("homeassistant", device, cameraStillEntity("buttonpi"));
    assert.ok(haConfigTopics(JSON.stringify(still.payload)).includes("pifog/buttonpi/camera/still"));
  });
});
