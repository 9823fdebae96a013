// node-red-contrib-typescript-node imports `Red` and `NodeProperties` from "node-red", names that
// current @types/node-red no longer exports. Declaring them here restores full typing of the base class
// (without this, `super(RED)` and `createNode(config)` silently become `any`).
import type { NodeAPI, NodeDef } from "node-red";

declare module "node-red" {
  interface Red extends NodeAPI {}
  interface NodeProperties extends NodeDef {}
}
