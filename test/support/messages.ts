// The test helper gives nodes a `RED._` that hands back the message key; `translated` gives them the real one,
// with every node's own catalog (locales/en-US/<type>.json) loaded through Node-RED's i18n as the runtime
// loads it, so a test asserts the text the user reads in the editor and the log, not a key.
import fs from "node:fs";
import path from "node:path";
import { i18n } from "@node-red/util";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Register = (RED: any) => unknown;
type Subs = Record<string, string | number>;

/** Where the built nodes are (this file is dist/test/support/messages.js). */
const NODES = path.resolve(__dirname, "../../nodes");

async function loadCatalogs(): Promise<string[]> {
  (i18n as unknown as { init(settings: { lang: string }): void }).init({ lang: "en-US" });
  const namespaces: string[] = [];
  for (const type of fs.readdirSync(NODES)) {
    const dir = path.join(NODES, type, "locales");
    if (!fs.existsSync(path.join(dir, "en-US", `${type}.json`))) continue;
    const namespace = `pifog/${type}`;
    await i18n.registerMessageCatalog(namespace, dir, `${type}.json`);
    namespaces.push(namespace);
  }
  return namespaces;
}

/** The same node modules, speaking through their message catalogs. */
export function translated(registers: Register[]): Register[] {
  return registers.map((register) => async (RED: { _: (key: string, subs?: Subs) => string }) => {
    const namespaces = await loadCatalogs();
    RED._ = (key: string, subs?: Subs) => {
      for (const namespace of namespaces) {
        const text = i18n._(`${namespace}:${key}`, subs);
        if (text !== key) return text;
      }
      return key;
    };
    return register(RED);
  });
}
