// aedes-persistence's own conformance suite (abstract.js, for node's test runner) against the broker's SQLite
// persistence, each test on a fresh database file in a temp dir, with the synchronous mode PIFOG_TEST_SYNC names
// (normal: commits on the event loop's thread; full: on the writer thread). Run by `node --test` from
// test/unit/sqlite-persistence.test.ts (mocha), once for each mode, which fails unless every test here passes.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { SqlitePersistence } from "../../nodes/lib/broker/sqlite-persistence";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const abstractPersistence = require("aedes-persistence/abstract.js") as (options: {
  test: typeof test;
  persistence: () => SqlitePersistence;
  testAsync: boolean;
}) => void;

const root = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-persistence-abstract-"));
let n = 0;
const synchronous = process.env.PIFOG_TEST_SYNC === "full" ? "full" : "normal";
after(() => fs.rmSync(root, { recursive: true, force: true }));

abstractPersistence({
  test,
  persistence: () => new SqlitePersistence({ file: path.join(root, `test-${++n}`, "broker.db"), synchronous }),
  testAsync: true,
});
