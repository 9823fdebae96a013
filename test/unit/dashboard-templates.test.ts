// The shipped dashboard templates show what they receive (MQTT payloads anyone on the network can publish) as text
// only: Angular's {{ }} escapes it, while ng-bind-html, innerHTML, a string-built HTML or a link built from a value
// would not (the dashboard allows any link, javascript: too). And none shares one browser's input with every
// other dashboard (storeOutMessages), which would make one visitor's message what everyone sees.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

const FLOWS = path.resolve(__dirname, "..", "..", "..", "flows");

interface Template {
  file: string;
  id: string;
  format: string;
  storeOutMessages?: unknown;
  templateScope?: unknown;
}

function templates(): Template[] {
  const out: Template[] = [];
  for (const file of fs.readdirSync(FLOWS).filter((f) => f.endsWith(".json"))) {
    const nodes = JSON.parse(fs.readFileSync(path.join(FLOWS, file), "utf8")) as Array<Record<string, unknown>>;
    for (const n of nodes) if (n.type === "ui_template") out.push({ file, id: String(n.id), format: String(n.format ?? ""), storeOutMessages: n.storeOutMessages, templateScope: n.templateScope });
  }
  return out;
}

/** Ways a received value can become markup or script instead of text. */
const UNSAFE: Array<[RegExp, string]> = [
  [/ng-bind-html/, "ng-bind-html"],
  [/\binnerHTML\b|\bouterHTML\b|insertAdjacentHTML|document\.write/, "HTML built in script"],
  [/\.html\(|\.append\(|\.prepend\(|\.before\(|\.after\(/, "jQuery HTML insertion"],
  [/\$sce|trustAs/, "trusted HTML"],
  [/\beval\(|new Function\(|\$compile|\$interpolate/, "code or templates built at run time"],
  [/ng-include|srcdoc/, "included markup"],
  [/(?<!ng-)(href|src|action|formaction)\s*=\s*"[^"]*\{\{/, "an attribute Angular does not sanitise built from a value"],
  [/ng-href\s*=/, "a link built from a value (the dashboard allows javascript: links)"],
];

describe("shipped dashboard templates", () => {
  const all = templates();

  it("are found", () => {
    assert.ok(all.length >= 8, `templates in flows/: ${all.map((t) => t.id).join(", ")}`);
  });

  it("show received values as escaped text only", () => {
    const problems = all.flatMap((t) => UNSAFE.filter(([re]) => re.test(t.format)).map(([, what]) => `${t.file} ${t.id}: ${what}`));
    assert.deepEqual(problems, []);
  });

  it("keep each browser's input to itself (no storeOutMessages)", () => {
    assert.deepEqual(
      all.filter((t) => t.storeOutMessages === true || t.storeOutMessages === "true").map((t) => `${t.file} ${t.id}`),
      [],
    );
  });
});
