// Who may connect to the embedded broker without credentials (PIFOG_BROKER_ANONYMOUS).
import assert from "node:assert/strict";
import { anonymousAllowed, parseAnonymous } from "../../nodes/lib/broker/anonymous";

describe("anonymous clients by address", () => {
  const cases: Array<[string | undefined, string, boolean]> = [
    [undefined, "127.0.0.1", true],
    ["loopback", "127.0.0.2", true],
    ["loopback", "::1", true],
    ["loopback", "::ffff:127.0.0.1", true],
    ["loopback", "10.0.0.5", false],
    ["loopback", "::ffff:10.0.0.5", false],
    ["off", "127.0.0.1", false],
    ["127.0.0.1/32", "127.0.0.2", false],
    ["127.0.0.1/32", "127.0.0.1", true],
    ["10.0.0.0/24, fd00::/8", "10.0.0.200", true],
    ["10.0.0.0/24, fd00::/8", "10.0.1.1", false],
    ["10.0.0.0/24, fd00::/8", "fd12::1", true],
    ["192.168.1.7", "192.168.1.7", true],
    ["192.168.1.7", "unknown", false],
  ];
  for (const [setting, address, allowed] of cases) {
    it(`${setting ?? "(unset)"}: ${address} ${allowed ? "may" : "may not"} connect anonymously`, () => {
      assert.equal(anonymousAllowed(parseAnonymous(setting))(address), allowed);
    });
  }

  it("refuses what is not a CIDR, naming it", () => {
    assert.throws(() => parseAnonymous("everyone"), /"everyone" is not an address or a CIDR/);
    assert.throws(() => parseAnonymous("10.0.0.0/40"), /prefix must be 0\.\.32/);
  });
});
