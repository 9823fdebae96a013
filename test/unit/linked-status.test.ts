// A node's own status and its device's link, combined as a user reads them.
import assert from "node:assert/strict";
import type { Node } from "node-red";
import { LinkedStatus, type LinkView } from "../../nodes/lib/node-red/status";

function fakeNode() {
  const shown: Array<{ fill?: string; shape?: string; text?: string }> = [];
  return { shown, node: { status: (s: (typeof shown)[number]) => void shown.push(s) } as unknown as Node };
}

const link = (state: LinkView["state"]): LinkView => ({ state, text: state === "unreachable" ? "broker unreachable" : state });

describe("LinkedStatus", () => {
  it("shows the node's own status while the link is up, the link's while it is lost, and the node's again after", () => {
    const { shown, node } = fakeNode();
    const s = new LinkedStatus(node);
    s.linkChanged(link("connecting"));
    assert.deepEqual(shown, [], "the first connect at start is not news");
    s.show("warn", "F closed · M closed");
    s.linkChanged(link("connected"));
    s.linkChanged(link("reconnecting"));
    s.show("ok", "F open · M closed"); // said while the link is lost: kept for later
    s.linkChanged(link("unreachable"));
    s.linkChanged(link("unreachable"));
    s.linkChanged(link("connected"));
    assert.deepEqual(shown, [
      { fill: "yellow", shape: "ring", text: "F closed · M closed" },
      { fill: "yellow", shape: "ring", text: "reconnecting" },
      { fill: "red", shape: "ring", text: "broker unreachable" },
      { fill: "green", shape: "dot", text: "F open · M closed" },
    ]);
  });

  it("keeps a problem of the node's own (error, off) whatever the link does", () => {
    const { shown, node } = fakeNode();
    const s = new LinkedStatus(node);
    s.show("off", "GPIO not available");
    s.linkChanged(link("connected"));
    s.linkChanged(link("unreachable"));
    s.linkChanged(link("connected"));
    assert.deepEqual(shown, [{ fill: "grey", shape: "ring", text: "GPIO not available" }]);
  });

  it("a node that has said nothing shows the link once it has been lost, and 'connected' when it is back", () => {
    const { shown, node } = fakeNode();
    const s = new LinkedStatus(node);
    s.linkChanged(link("connecting"));
    s.linkChanged(link("connected"));
    s.linkChanged(link("unreachable"));
    s.linkChanged(link("connected"));
    assert.deepEqual(shown.map((x) => x.text), ["broker unreachable", "connected"]);
  });
});
