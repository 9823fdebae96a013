// What a node has shown as its status since the flow was loaded: node-red-node-test-helper spies on every node's
// `status` at once (Node.prototype.status), so the calls are filtered to this node's.
export function statusesOf(node: object): Array<{ fill: string; text: string }> {
  const spy = (node as { status: unknown }).status as { getCalls(): Array<{ thisValue: unknown; args: unknown[] }> };
  return spy
    .getCalls()
    .filter((c) => c.thisValue === node)
    .map((c) => c.args[0] as { fill: string; text: string });
}
