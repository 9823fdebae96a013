// The editor login guard: which requests it takes (every spelling of the token path Node-RED's router answers, so
// none slips past it into Node-RED's own lock).
import assert from "node:assert/strict";
import { isTokenPath } from "../../nodes/lib/security/editor-login";

describe("editor login guard", () => {
  it("recognises the token path in every spelling Node-RED's router accepts", () => {
    for (const p of ["/auth/token", "/auth/token/", "//auth/token", "/Auth/Token", "/./auth/token", "/auth//token", "/x/../auth/token"]) assert.ok(isTokenPath(p), p);
    for (const p of ["/auth/revoke", "/auth/tokens", "/", "/auth/token/x", "/flows"]) assert.equal(isTokenPath(p), false, p);
  });
});
