import assert from "node:assert/strict";
import { topicMatches } from "../../nodes/lib/mqtt/topic-filter";

function check(filter: string, yes: string[], no: string[]): void {
  for (const t of yes) assert.equal(topicMatches(filter, t), true, `${filter} should match ${t}`);
  for (const t of no) assert.equal(topicMatches(filter, t), false, `${filter} should not match ${t}`);
}

describe("topicMatches", () => {
  it("matches an exact topic only", () => {
    check("pifog/doorpi/doors", ["pifog/doorpi/doors"], ["pifog/doorpi", "pifog/doorpi/doors/x", "pifog/doorpi/door", "Pifog/doorpi/doors", "pifog/doorpi/doors/"]);
    check("/World/Fog/1/DoorPi/Event", ["/World/Fog/1/DoorPi/Event"], ["World/Fog/1/DoorPi/Event"]);
  });

  it("+ matches exactly one level", () => {
    check(
      "pifog/+/status",
      ["pifog/doorpi/status", "pifog/hub/status", "pifog//status"],
      ["pifog/status", "pifog/a/b/status", "pifog/doorpi/status/x", "other/doorpi/status"],
    );
    check("+", ["doorpi", ""], ["a/b", "/a"]);
    check("+/+", ["a/b", "/a", "a/"], ["a", "a/b/c"]);
    check("/World/Fog/1/+/Event", ["/World/Fog/1/DoorPi/Event", "/World/Fog/1/StatusPi/Event"], ["/World/Fog/1/DoorPi/Command"]);
  });

  it("# matches the rest, at any depth", () => {
    check("pifog/#", ["pifog/doorpi", "pifog/doorpi/status", "pifog/doorpi/sim/door1/set"], ["other/doorpi", "pifogx/a"]);
    check("#", ["a", "a/b/c", "/World/Fog/1/DoorPi/Event"], []);
    check("pifog/+/sim/#", ["pifog/dp/sim/door1", "pifog/dp/sim/door1/set", "pifog/dp/sim"], ["pifog/dp/door/door1", "pifog/sim/door1"]);
  });

  it("a/# matches a itself (the parent level)", () => {
    check("a/#", ["a", "a/b", "a/b/c"], ["b", "ab", "b/a"]);
    check("pifog/doorpi/#", ["pifog/doorpi", "pifog/doorpi/doors"], ["pifog", "pifog/statuspi"]);
  });

  it("does not match when the filter is longer than the topic", () => {
    check("a/b/#", ["a/b", "a/b/c"], ["a"]);
    check("a/+", ["a/b"], ["a"]);
    check("a/+/c", ["a/b/c"], ["a/b", "a"]);
  });
});
