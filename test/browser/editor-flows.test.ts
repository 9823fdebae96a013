// The Node-RED editor as a user opens it, in Chromium: logged in, with every shipped flow deployed (role all), no
// node is marked invalid (the red triangle a wrong or missing setting shows), and every PiFog node in the palette
// has its editor form, help text and translated labels.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fogWithBrowser, onePageStory, UI_TIMEOUT } from "../support/browser";
import { ROOT } from "../support/runtime";

interface EditorNode {
  id: string;
  type: string;
  name?: string;
  valid?: boolean;
  validationErrors?: string[];
}

describe("the editor in Chromium (role all): shipped flows are valid, PiFog nodes have help", function () {
  this.timeout(90_000);
  const fog = fogWithBrowser();
  const ui = onePageStory("editor", { width: 1400, height: 900 }, fog);

  before(async function () {
    this.timeout(60_000);
    const page = ui.page;
    await page.goto(`${fog.runtime.info.http}/admin/`);
    await page.fill("#node-dialog-login-username", "admin");
    await page.fill("#node-dialog-login-password", "test-admin-password");
    await page.click("#node-dialog-login-submit");
    // the workspace is drawn once the flows are loaded
    await page.waitForFunction(() => {
      const red = (window as unknown as { RED?: { nodes?: { eachNode?: unknown; workspace?: unknown } } }).RED;
      return typeof red?.nodes?.eachNode === "function" && document.querySelectorAll("#red-ui-workspace-chart .red-ui-flow-node").length > 0;
    }, undefined, { timeout: 30_000 });
  });

  it("shows no invalid node in any shipped flow", async () => {
    const nodes = await ui.page.evaluate(() => {
      const RED = (window as unknown as { RED: { nodes: { eachNode(f: (n: EditorNode) => void): void; eachConfig(f: (n: EditorNode) => void): void; eachGroup(f: (n: EditorNode) => void): void } } }).RED;
      const out: EditorNode[] = [];
      const take = (n: EditorNode) => out.push({ id: n.id, type: n.type, name: n.name, valid: n.valid, validationErrors: n.validationErrors });
      RED.nodes.eachNode(take);
      RED.nodes.eachConfig(take);
      // the groups the flows lay their pipelines out in
      RED.nodes.eachGroup(take);
      return out;
    });
    const shipped = fs
      .readdirSync(path.join(ROOT, "flows"))
      .flatMap((f) => (JSON.parse(fs.readFileSync(path.join(ROOT, "flows", f), "utf8")) as EditorNode[]).filter((n) => n.type !== "tab"));
    const ids = new Set(nodes.map((n) => n.id));
    assert.deepEqual(shipped.filter((n) => !ids.has(n.id)).map((n) => n.id), [], "every shipped node is in the editor");
    const invalid = nodes.filter((n) => n.valid === false).map((n) => `${n.type} ${n.id} ${JSON.stringify(n.validationErrors ?? [])}`);
    assert.deepEqual(invalid, []);
  });

  it("marks a cloud bridge that is enabled before it is set up", async () => {
    const validity = await ui.page.evaluate((ids) => {
      const RED = (window as unknown as { RED: { nodes: { node(id: string): EditorNode & { d?: boolean } }; editor: { validateNode(n: unknown): void } } }).RED;
      return ids.map((id) => {
        const n = RED.nodes.node(id);
        n.d = false;
        RED.editor.validateNode(n);
        const valid = n.valid;
        n.d = true;
        RED.editor.validateNode(n);
        return [id, valid, n.valid];
      });
    }, ["sensorhub-thingspeak", "powerhub-email"]);
    assert.deepEqual(validity, [
      ["sensorhub-thingspeak", false, true],
      ["powerhub-email", false, true],
    ]);
  });

  it("gives every PiFog node a form, help text and translated labels", async () => {
    const types = Object.keys((JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { "node-red": { nodes: Record<string, string> } })["node-red"].nodes);
    const report = await ui.page.evaluate((names) => {
      const RED = (window as unknown as { RED: { nodes: { getType(t: string): unknown }; _(k: string): string } }).RED;
      return names.map((type) => {
        const help = document.querySelector(`script[data-help-name="${type}"]`)?.textContent ?? "";
        const form = document.querySelector(`script[data-template-name="${type}"]`)?.textContent ?? "";
        const label = /data-i18n="([^"]+)"/.exec(form)?.[1];
        return { type, registered: !!RED.nodes.getType(type), help: help.replace(/<[^>]+>/g, " ").trim().length, form: form.length, label, translated: label ? RED._(`pifog/${type}:${label}`) : null };
      });
    }, types);
    for (const r of report) {
      assert.ok(r.registered, `${r.type} is in the palette`);
      assert.ok(r.help > 200, `${r.type} has help text (${r.help} characters)`);
      assert.ok(r.form > 0, `${r.type} has an editor form`);
      if (r.label) assert.ok(r.translated && !r.translated.includes(r.label), `${r.type}: "${r.label}" is translated (got ${r.translated})`);
    }
    await ui.page.waitForSelector("#red-ui-palette", { timeout: UI_TIMEOUT });
  });
});
