// The part of node-red-node-test-helper's API that the tests use (it ships no types).
declare module "node-red-node-test-helper" {
  import type { Node } from "node-red";
  interface TestFlowNode {
    id: string;
    type: string;
    [key: string]: unknown;
  }
  type NodeModule = ((RED: never) => void) | { default: (RED: never) => void };
  interface Helper {
    init(runtimePath: string, userSettings?: Record<string, unknown>): void;
    settings(userSettings: Record<string, unknown>): Record<string, unknown>;
    load(nodes: NodeModule | NodeModule[], flow: TestFlowNode[], credentials?: Record<string, unknown>): Promise<void>;
    unload(): Promise<void>;
    getNode(id: string): (Node & { [key: string]: unknown }) | null;
    startServer(done: (err?: Error) => void): void;
    stopServer(done: (err?: Error) => void): void;
    log(): { args: unknown[][] };
  }
  const helper: Helper;
  export = helper;
}
