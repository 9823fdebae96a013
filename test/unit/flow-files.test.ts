import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

const FLOWS = path.resolve(__dirname, "..", "..", "..", "flows");

/** Property names that hold secrets, compared without case, `_` or `-`: these words anywhere, or a short one alone. */
const SECRET_KEY = /password|passwd|passphrase|secret|token|apikey|privatekey|accesskey|credential|^(pass|pwd|auth|key)$/;
/** A value that only names an environment variable, e.g. `${PIFOG_MQTT_PASSWORD}`, is not a secret. */
const ENV_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;
/** user:password@ in a URL. */
const URL_WITH_PASSWORD = /\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i;

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === false) return true;
  if (typeof value === "string") return value.trim() === "" || ENV_REFERENCE.test(value.trim());
  if (Array.isArray(value)) return value.every(isEmpty);
  if (typeof value === "object") return Object.values(value).every(isEmpty);
  return false;
}

/** Every place in a node that looks like it carries a secret, as `id.path`. */
function secretsIn(node: Record<string, unknown>): string[] {
  const found: string[] = [];
  const walk = (value: unknown, at: string, key: string) => {
    const plainKey = key.toLowerCase().replace(/[_-]/g, "");
    if (key && SECRET_KEY.test(plainKey) && !isEmpty(value)) {
      found.push(at);
      return;
    }
    if (typeof value === "string" && URL_WITH_PASSWORD.test(value)) found.push(at);
    else if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${at}[${i}]`, ""));
    else if (value !== null && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) walk(v, `${at}.${k}`, k);
    }
  };
  for (const [k, v] of Object.entries(node)) walk(v, `${String(node.id)}.${k}`, k);
  return found;
}

const files = fs.readdirSync(FLOWS).filter((f) => f.endsWith(".json")).sort();

describe("flow files", () => {
  it("are there: one per role", () => {
    for (const role of ["hub", "doorpi", "statuspi"]) assert.ok(files.includes(`${role}.json`), role);
  });

  it("the secret check finds what it should (so it can fail)", () => {
    assert.deepEqual(secretsIn({ id: "a", type: "mqtt-broker", password: "hunter2" }), ["a.password"]);
    assert.deepEqual(secretsIn({ id: "b", type: "x", credentials: { user: "u", password: "p" } }), ["b.credentials"]);
    assert.deepEqual(secretsIn({ id: "c", type: "x", apiKey: "k-123" }), ["c.apiKey"]);
    assert.deepEqual(secretsIn({ id: "d", type: "x", api_key: "k" }), ["d.api_key"]);
    assert.deepEqual(secretsIn({ id: "e", type: "x", settings: { authToken: "t" } }), ["e.settings.authToken"]);
    assert.deepEqual(secretsIn({ id: "f", type: "x", clientSecret: "s" }), ["f.clientSecret"]);
    assert.deepEqual(secretsIn({ id: "g", type: "x", broker: "mqtt://pifog:s3cret@hub:1883" }), ["g.broker"]);
    assert.deepEqual(secretsIn({ id: "h", type: "x", env: [{ name: "X", value: "1", token: "abc" }] }), ["h.env[0].token"]);
    assert.deepEqual(secretsIn({ id: "i", type: "x", passwordHash: "$2b$10$abc", pass: "p" }), ["i.passwordHash", "i.pass"]);
    // and leaves alone what is not a secret
    assert.deepEqual(
      secretsIn({
        id: "ok",
        type: "mqtt-broker",
        password: "",
        credentials: {},
        token: "${PIFOG_TOKEN}",
        keepalive: "60",
        userProps: "",
        broker: "mqtt://hub:1883",
        usetls: false,
      }),
      [],
    );
  });

  for (const file of files) {
    describe(file, () => {
      let nodes: unknown;
      before(() => {
        nodes = JSON.parse(fs.readFileSync(path.join(FLOWS, file), "utf8"));
      });

      it("parses and is an array of nodes with an id and a type", () => {
        assert.ok(Array.isArray(nodes), "an array");
        assert.ok(nodes.length > 0, "not empty");
        for (const n of nodes) {
          assert.ok(typeof n === "object" && n !== null && !Array.isArray(n), JSON.stringify(n));
          const node = n as Record<string, unknown>;
          assert.equal(typeof node.id, "string", JSON.stringify(node).slice(0, 80));
          assert.ok((node.id as string).length > 0);
          assert.equal(typeof node.type, "string", String(node.id));
        }
      });

      it("gives every node a unique id", () => {
        const ids = (nodes as Array<{ id: string }>).map((n) => n.id);
        const dupes = ids.filter((id, i) => ids.indexOf(id) !== i);
        assert.deepEqual(dupes, []);
      });

      it("has a tab, and every node on a tab is on one of its own", () => {
        const list = nodes as Array<{ id: string; type: string; z?: string }>;
        const tabs = new Set(list.filter((n) => n.type === "tab" || n.type === "subflow").map((n) => n.id));
        assert.ok(tabs.size > 0, "at least one tab");
        for (const n of list) if (n.z) assert.ok(tabs.has(n.z), `${n.id} is on ${n.z}, which is not in ${file}`);
      });

      it("carries no secret (password, token, apiKey, secret, credentials...)", () => {
        const found = (nodes as Array<Record<string, unknown>>).flatMap(secretsIn);
        assert.deepEqual(found, [], `secret-looking properties in ${file}`);
      });
    });
  }
});
